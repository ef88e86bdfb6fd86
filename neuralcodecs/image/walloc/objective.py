"""How ``ncodec train --codec walloc`` trains: image crops, pixel MSE, one random quality per step.

WaLLoC has no rate term (the rate is set by the latent channel count ``C``); the loss is the
MSE of the unclamped reconstruction from noisy latents, in [0, 255] units; the logged ``bpp`` is
the estimate under the running per-channel histograms.  ``--model-args '{"config": "cpu"}'``
picks a named configuration (:mod:`neuralcodecs.image.walloc.configs`).
"""

from __future__ import annotations

from ...codec import Objective
from ..variable_rate import random_quality_mse_loss, validate_quality_ladder
from .configs import model_args
from .model import WaLLoCModel


def build_model(config: str = "cpu", **overrides) -> WaLLoCModel:
    """A fresh :class:`WaLLoCModel` of a named configuration."""
    return WaLLoCModel(**model_args(config, **overrides))


quality_loss = random_quality_mse_loss  # one random quality per step, MSE (no rate term)
validate_qualities = validate_quality_ladder


def _export(*args, **kwargs) -> dict:
    from .weights import export_from_checkpoint

    return export_from_checkpoint(*args, **kwargs)


def training_objective() -> Objective:
    return Objective(build=build_model, data="image_crops", loss=quality_loss, export=_export, validate=validate_qualities)
