"""Named configurations of :class:`~neuralcodecs.image.walloc.model.WaLLoCModel`.

A configuration fixes the wavelet packet (``levels`` J, ``wavelet``), the decoder (``width``
channels, ``blocks`` residual blocks after the middle block, ``attention``) and a ladder of
latent channel counts, one per quality: ``C`` latents of 8 bits per ``2**J x 2**J`` block of
``3 * 4**J`` wavelet coefficients (a dimension reduction of ``3 * 4**J / C``).

* ``paper``: the authors' RGB codecs (Jacobellis & Yadwadkar, DCC 2025; released
  ``RGB_Li_{12,48}c_J3_nf8``): J = 3, bior4.4, a linear encoder, the KL-VAE decoder at width 768
  (mid block with one attention head, then three residual blocks; ~57 M parameters per rate),
  ``C`` in 12 ("16x") and 48 ("4x").  For users with a GPU.
* ``cpu``: the reduced configuration trained on two CPU cores: the same transform, encoder and
  companding, the same decoder layout at width 96 (1.0 M parameters per rate), ``C`` in 3, 6,
  12, 24, 48 (5.3 M parameters in all), the encoder's output scaled by 100 so that the 8-bit
  latents are used from the first step (``encoder_gain``, see the model).
"""

from __future__ import annotations

from ...codec import named_configuration

CONFIGS: dict[str, dict] = {
    "paper": dict(latent_channels=(12, 48), levels=3, wavelet="bior4.4", width=768, blocks=3, attention=True),
    "cpu": dict(latent_channels=(3, 6, 12, 24, 48), levels=3, wavelet="bior4.4", width=96, blocks=3, attention=True,
                encoder_gain=100.0),
}


def model_args(config: str = "cpu", **overrides) -> dict:
    """Keyword arguments of ``WaLLoCModel`` for a named configuration, with overrides."""
    return named_configuration(CONFIGS, "walloc", config, overrides)
