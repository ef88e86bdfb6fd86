"""How ``ncodec train --codec vqgan`` trains.

Stage ``autoencoder`` (``--model-args '{"config": "cpu"}'``): L1 + (1 - MS-SSIM) + the VQ loss
with the base codebook.  Stage ``codebooks`` (``--model-args '{"config": "cpu", "stage":
"codebooks"}' --init-from AUTOENCODER_CHECKPOINT``): the first step builds the k-means ladder
from the loaded base codebook, then each step fine-tunes one random ``K`` of the ladder with the
same loss, encoder and decoder frozen.  Stage ``restoration`` (``"stage": "restoration"``,
``--init-from`` the codebook stage, crops of ``window * f`` pixels or more): each step masks a
random fraction of the index maps of one random ``K`` and trains its restorer to predict them
(:mod:`neuralcodecs.image.vqgan.restore`).  No adversarial term: the issue allows a small patch
discriminator "if it helps", and on this CPU budget it is left out (stated in the results).
"""

from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim, ssim

from ...codec import Objective
from ..variable_rate import validate_points
from .configs import model_args
from .model import VQGANModel



def build_model(config: str = "cpu", **overrides) -> VQGANModel:
    """A fresh :class:`VQGANModel` of a named configuration."""
    return VQGANModel(**model_args(config, **overrides))


def ms_ssim_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``1 - MS-SSIM`` (five scales, 11-pixel window) for crops over 160 pixels; ``1 - SSIM`` below.

    Computed in float32 with autocast off: under bf16 autocast the Gaussian-window convolutions
    lose the variances' precision and MS-SSIM overflows to ``inf`` on real images."""
    x_hat, x = x_hat.float().clamp(0, 1), x.float()
    with torch.autocast(x.device.type, enabled=False):
        if min(x.shape[-2:]) > 160:
            return 1 - ms_ssim(x_hat, x, data_range=1.0)
        return 1 - ssim(x_hat, x, data_range=1.0)


def restoration_loss(model: VQGANModel, x: torch.Tensor) -> dict:
    """Masked-index cross-entropy of one random ``K``'s restorer on ``window x window`` index windows of ``x``."""
    K = model.ladder[int(torch.randint(0, model.num_levels, ()))]
    restorer = model.restorers[str(K)]
    W = restorer.window
    indices = model.encode_indices(x, K)
    h, w = indices.shape[-2:]
    if h < W or w < W:
        raise ValueError(f"restoration training needs crops of at least {W * model.stride} pixels")
    y0, x0 = int(torch.randint(0, h - W + 1, ())), int(torch.randint(0, w - W + 1, ()))
    loss = restorer.masked_loss(indices[:, y0 : y0 + W, x0 : x0 + W])
    zero = torch.zeros((), device=x.device)
    return {"loss": loss, "mse": zero, "bpp": zero}


def reconstruction_loss(model: VQGANModel, x: torch.Tensor) -> dict:
    """One step's loss: the base codebook (autoencoder stage), a random ladder entry (codebook stage),
    or the restorers' masked-index loss (restoration stage)."""
    if model.stage == "restoration":
        return restoration_loss(model, x)
    if model.stage == "codebooks":
        if not bool(model.ladder_ready):
            model.init_ladder()
        K = model.ladder[int(torch.randint(0, model.num_levels, ()))]
    else:
        K = model.base
    out = model(x, K)
    x_hat = out["x_hat"].float()
    mse = torch.mean((x_hat - x) ** 2)
    loss = (x_hat - x).abs().mean() + ms_ssim_loss(x_hat, x) + out["vq_loss"]
    return {"loss": loss, "mse": mse.detach(), "bpp": out["bpp"]}


def validate_ladder(model: VQGANModel, x: torch.Tensor) -> dict:
    """Every ladder entry (the base only before the ladder exists): loss, bpp estimate, PSNR (dB)."""

    def run(K):
        out = model(x, K)
        x_hat = out["x_hat"].clamp(0, 1)
        return (x_hat - x).abs().mean() + ms_ssim_loss(x_hat, x), out["bpp"], x_hat

    return validate_points(model, x, model.ladder if bool(model.ladder_ready) else [model.base], run)


def _export(*args, **kwargs) -> dict:
    from .weights import export_from_checkpoint

    return export_from_checkpoint(*args, **kwargs)


def training_objective() -> Objective:
    return Objective(build=build_model, data="image_crops", loss=reconstruction_loss, export=_export, validate=validate_ladder)
