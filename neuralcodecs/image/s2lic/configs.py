"""Named configurations of :class:`~neuralcodecs.image.s2lic.model.LadderModel`.

* ``paper``: S2LIC as published (N=192, M=320, 10 slices of 32, SwinV2 depths 1-2-3 with
  4-8-16 heads, window 8, enhancement blocks 64/32, parameter networks 320-256-128) -- for
  users with a GPU (``ncodec train --codec s2lic --model-args '{"config": "paper"}'``).
* ``cpu``: the reduced configuration trained on two CPU cores and shipped: one SwinV2 block
  per stage, no enhancement blocks and no latent residual prediction (LRP: 2.7 M of the 8.3 M
  parameters, and Minnen et al.'s addition rather than S2LIC's).  Measured on this CPU (bf16, batch 8 of 128x128 crops,
  transforms forward+backward): the ablation's ``_CPU`` transforms (depths 1-1-2, enhancement
  16/16) cost 0.68 s/step, of which the two full-resolution enhancement blocks are 0.31 s;
  depths 1-1-1 without them cost 0.35 s (the conv transforms 0.09 s).  The enhancement blocks
  stay in ``paper``.
* ``rung0-hyperprior`` .. ``rung4-s2lic``: the ablation ladder at the ``cpu`` scale, each rung
  adding one thing: channel slices, the checkerboard, the ACGC contexts, the SwinV2 transforms.
"""

from __future__ import annotations

from ...codec import named_configuration

_CPU = dict(N=96, M=192, depths=(1, 1, 2), heads=(3, 3, 3), window=8, enhancement=(16, 16))
_CPU_CONTEXT = dict(slices=6, checkerboard=True, context="acgc", param_hidden=(192, 128), context_width=64, attention_width=32)

CONFIGS: dict[str, dict] = {
    "paper": dict(
        N=192, M=320, transform="swinv2", depths=(1, 2, 3), heads=(4, 8, 16), window=8, enhancement=(64, 32),
        context=dict(slices=10, checkerboard=True, context="acgc", param_hidden=(320, 256, 128), context_width=64,
                     attention_width=32),
    ),
    "cpu": dict(transform="swinv2", context={**_CPU_CONTEXT, "lrp": False}, **{**_CPU, "depths": (1, 1, 1), "enhancement": None}),
    "rung0-hyperprior": dict(transform="conv", context=dict(slices=1, checkerboard=False, lrp=False, param_hidden=(192, 128)),
                             **_CPU),
    "rung1-slices": dict(transform="conv", context=dict(slices=6, checkerboard=False, context="conv", param_hidden=(192, 128)),
                         **_CPU),
    "rung2-checkerboard": dict(transform="conv", context=dict(slices=6, checkerboard=True, context="conv",
                                                               param_hidden=(192, 128)), **_CPU),
    "rung3-acgc": dict(transform="conv", context=_CPU_CONTEXT, **_CPU),
    "rung4-s2lic": dict(transform="swinv2", context=_CPU_CONTEXT, **_CPU),
}


def model_args(config: str = "cpu", **overrides) -> dict:
    """Keyword arguments of ``LadderModel`` for a named configuration, with overrides."""
    return named_configuration(CONFIGS, "s2lic", config, overrides)
