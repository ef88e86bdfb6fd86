"""Named configurations of :class:`~neuralcodecs.image.mcquic.model.McQuicModel`.

A configuration fixes the channels ``C`` of the latent and a *ladder*: one entry per quality,
``(m, (k_0, k_1, ...))`` -- ``m`` codebook groups of ``C / m`` channels, ``k_l`` codewords per
group at level ``l`` (level ``l`` codes sit at stride ``16 * 2**l``).  Without entropy coding a
quality costs ``m * sum_l log2(k_l) / (16 * 2**l)**2`` bits per pixel; the static priors save a
little on top (McQuic's usage is close to uniform).

* ``paper``: the published ladder (Zhu et al. 2022, the released code's configurations):
  ``C = 192``, ``k = (8192, 2048, 512)``, ``m`` in 2, 4, 6, 8, 12, 16 (0.13 -- 1.0 bpp before
  entropy coding).  The paper trains one model per ``m``; here one network serves the ladder,
  each quality with its own codebooks and priors.
* ``cpu``: the reduced configuration trained on two CPU cores: ``C = 64`` (5.8 M parameters;
  at ``C = 128`` the cascade alone has 16.6 M, over the 15 MB budget in fp16),
  ``k = (1024, 256, 64)``, ``m`` in 1, 2, 4, 8, 16 (0.05 -- 0.77 bpp before entropy coding),
  the Gumbel noise annealed to zero over the first 2000 steps (``noise_anneal_steps``; the
  paper's sampling never anneals -- see :class:`~neuralcodecs.image.mcquic.model.McQuicModel`).
* ``groups-m1`` / ``groups-m2`` / ``groups-m4``: one quality each at equal bits per position
  (12 bits per level position: ``k = 2**(12 / m)``), the paper's "more codebooks do better at
  equal rate" study.
"""

from __future__ import annotations

from ...codec import named_configuration

CONFIGS: dict[str, dict] = {
    "paper": dict(channels=192, ladder=[(m, (8192, 2048, 512)) for m in (2, 4, 6, 8, 12, 16)]),
    "cpu": dict(channels=64, ladder=[(m, (1024, 256, 64)) for m in (1, 2, 4, 8, 16)], noise_anneal_steps=2000),
    "groups-m1": dict(channels=64, ladder=[(1, (4096, 4096, 4096))], noise_anneal_steps=2000),
    "groups-m2": dict(channels=64, ladder=[(2, (64, 64, 64))], noise_anneal_steps=2000),
    "groups-m4": dict(channels=64, ladder=[(4, (8, 8, 8))], noise_anneal_steps=2000),
}


def model_args(config: str = "cpu", **overrides) -> dict:
    """Keyword arguments of ``McQuicModel`` for a named configuration, with overrides."""
    return named_configuration(CONFIGS, "mcquic", config, overrides)


def nominal_bpp(groups: int, codewords: tuple[int, ...]) -> float:
    """Bits per pixel of one quality without entropy coding (fixed-length indices)."""
    import math

    return sum(groups * math.log2(k) / (16 * 2**level) ** 2 for level, k in enumerate(codewords))
