"""Named configurations of :class:`~neuralcodecs.image.vqgan.model.VQGANModel`.

* ``paper``: taming-transformers' ImageNet VQGAN f16 (``ch=128``, ``ch_mult=(1, 1, 2, 2, 4)``,
  two residual blocks per level, attention at the lowest resolution, 256-d codes, 16384
  codewords) with Mao et al.'s ladder ``K`` in 8 .. 2048 (0.012 -- 0.043 bpp at
  ``log2(K) / 256``) and restorers of width 256, 8 layers -- for users with a GPU.
* ``cpu``: the reduced configuration trained on two CPU cores: the same f16 layout at
  ``ch=32``, one residual block per level, 64-d codes, a 1024-entry base codebook and the
  ladder 1024, 256, 64, 16, 8, restorers of width 96, 3 layers, 16x16 windows (6.1 M parameters).
"""

from __future__ import annotations

from ...codec import named_configuration

CONFIGS: dict[str, dict] = {
    "paper": dict(ch=128, ch_mult=(1, 1, 2, 2, 4), res_blocks=2, code_dim=256, ladder=(8, 16, 32, 64, 128, 256, 512, 1024, 2048, 16384), restorer=(256, 8, 8, 16)),
    "cpu": dict(ch=32, ch_mult=(1, 2, 2, 4, 4), res_blocks=1, code_dim=64, ladder=(8, 16, 64, 256, 1024)),
}


def model_args(config: str = "cpu", **overrides) -> dict:
    """Keyword arguments of ``VQGANModel`` for a named configuration, with overrides."""
    return named_configuration(CONFIGS, "vqgan", config, overrides)
