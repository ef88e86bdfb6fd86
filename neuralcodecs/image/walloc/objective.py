"""How ``ncodec train --codec walloc`` trains: image crops, pixel MSE, one random quality per step.

WaLLoC has no rate term (the rate is set by the latent channel count ``C``); the loss is the
MSE of the unclamped reconstruction from noisy latents, in [0, 255] units; the logged ``bpp`` is
the estimate under the running per-channel histograms.  ``--model-args '{"config": "cpu"}'``
picks a named configuration (:mod:`neuralcodecs.image.walloc.configs`).
"""

from __future__ import annotations

import torch

from ...codec import Objective
from ..variable_rate import validate_points
from .configs import model_args
from .model import WaLLoCModel


def build_model(config: str = "cpu", **overrides) -> WaLLoCModel:
    """A fresh :class:`WaLLoCModel` of a named configuration."""
    return WaLLoCModel(**model_args(config, **overrides))


def quality_loss(model: WaLLoCModel, x: torch.Tensor) -> dict:
    """One uniformly drawn quality for the batch ``x`` ``(B, 3, H, W)``."""
    quality = int(torch.randint(0, model.num_levels, ()))
    out = model(x, quality)
    mse = torch.mean((out["x_hat"].float() - x) ** 2)
    return {"loss": mse * 255**2, "mse": mse, "bpp": out["bpp"], "x_hat": out["x_hat"]}


def validate_qualities(model: WaLLoCModel, x: torch.Tensor) -> dict:
    """Rounded latents at every quality: mean loss, per-quality bpp (histogram estimate) and PSNR (dB)."""

    def run(quality):
        out = model(x, quality)
        return torch.mean((out["x_hat"].clamp(0, 1) - x) ** 2) * 255**2, out["bpp"], out["x_hat"]

    return validate_points(model, x, range(model.num_levels), run)


def _export(*args, **kwargs) -> dict:
    from .weights import export_from_checkpoint

    return export_from_checkpoint(*args, **kwargs)


def training_objective() -> Objective:
    return Objective(build=build_model, data="image_crops", loss=quality_loss, export=_export, validate=validate_qualities)
