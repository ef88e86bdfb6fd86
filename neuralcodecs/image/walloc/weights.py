"""WaLLoC weights files and export.

Layout: ``model.*``: the float network in fp16 (the wavelet filters are not stored: they come
from PyWavelets by name); ``prior.{quality}``: int32 ``(C, 255)`` integer weights of the static
per-channel categorical priors of the latents -- symbol counts over calibration crops of the
training data, plus one; ``residual_prior.{quality}`` (optional; files exported before it
existed lack it): the same for the residuals of the spatial prediction
(:mod:`neuralcodecs.image.walloc.prediction`).  Metadata: ``codec`` (``walloc``) and
``model_args`` (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...errors import WeightsError
from ...weightfiles import fingerprint, load_model_weights, save_weights
from .model import LATENT_MAX, SYMBOLS, WaLLoCModel
from .prediction import to_residuals

CODEC_NAME = "walloc"


@torch.no_grad()
def symbol_counts(model: WaLLoCModel, crops: torch.Tensor, batch: int = 8, residuals: bool = False) -> list[torch.Tensor]:
    """Per quality, the latent symbol histograms ``(C, 255)`` int64 of ``crops`` ``(N, 3, S, S)``
    (of the prediction residuals, each crop predicted on its own, with ``residuals``)."""
    counts = [torch.zeros(c, SYMBOLS, dtype=torch.int64) for c in model.latent_channels]
    for start in range(0, crops.shape[0], batch):
        x = crops[start : start + batch]
        for q, C in enumerate(model.latent_channels):
            symbols = (model.encode_latents(x, q) + LATENT_MAX).cpu()
            if residuals:
                symbols = torch.stack([torch.from_numpy(to_residuals(s.numpy())) for s in symbols])
            symbols = symbols.transpose(0, 1).reshape(C, -1)
            counts[q] += torch.nn.functional.one_hot(symbols, SYMBOLS).sum(1)
    return counts


def export_weights(model: WaLLoCModel, path: str | Path, model_args: dict, priors: list[torch.Tensor],
                   extra_metadata: dict | None = None, residual_priors: list[torch.Tensor] | None = None) -> bytes:
    """Write ``model`` with integer ``priors`` and ``residual_priors`` (per quality ``(C, 255)``);
    returns the fingerprint."""
    tensors = {f"model.{name}": value.half() if value.is_floating_point() else value
               for name, value in model.state_dict().items() if name != "histograms"}
    for q, prior in enumerate(priors):
        tensors[f"prior.{q}"] = prior.to(torch.int32)
    for q, prior in enumerate(residual_priors or []):
        tensors[f"residual_prior.{q}"] = prior.to(torch.int32)
    metadata = {"codec": CODEC_NAME, "model_args": json.dumps(model_args)}
    metadata.update(extra_metadata or {})
    return save_weights(path, tensors, metadata)


def _prior_table(path, tensors: dict, name: str, channels: int) -> torch.Tensor:
    prior = tensors.get(name)
    if prior is None or prior.shape != (channels, SYMBOLS) or prior.is_floating_point():
        raise WeightsError(f"{path}: {name} is missing or not an integer ({channels}, {SYMBOLS}) table")
    prior = prior.to(torch.int64)
    if torch.any(prior < 0) or torch.any(prior.sum(1) < 1) or torch.any(prior.sum(1) > 2**38):
        raise WeightsError(f"{path}: {name} has negative weights or a bad row total")
    return prior


def load_model(path: str | Path) -> tuple[WaLLoCModel, list[torch.Tensor], list[torch.Tensor] | None, bytes, dict]:
    """``(model in eval mode, priors per quality int64 (C, 255), residual priors (same; None when
    the file has none), fingerprint, model_args)``.

    Raises :class:`WeightsError` unless the file is a complete WaLLoC weights file.
    """
    model, tensors, _, model_args = load_model_weights(path, CODEC_NAME, WaLLoCModel, lambda k: k == "histograms")
    priors = [_prior_table(path, tensors, f"prior.{q}", C) for q, C in enumerate(model.latent_channels)]
    residual_priors = None
    if any(k.startswith("residual_prior.") for k in tensors):
        residual_priors = [_prior_table(path, tensors, f"residual_prior.{q}", C) for q, C in enumerate(model.latent_channels)]
    return model.eval(), priors, residual_priors, fingerprint(tensors), model_args


@torch.no_grad()
def export_from_checkpoint(checkpoint: str | Path, out_path: str | Path, calibration_dirs: list[str],
                           calibration_crops: int = 64, seed: int = 1234) -> dict:
    """Write a checkpoint's model (its weight average when it has one) to ``out_path``; returns a report.

    Priors: symbol (and prediction-residual) counts over ``calibration_crops`` 256x256 crops of
    ``calibration_dirs`` (training folders, never evaluation images), plus one; the cost of fp16 storage is measured
    on the first eight of them.
    """
    from ...data import RandomCrops, list_images
    from ...train import export_sidecar, model_from_checkpoint
    from .configs import model_args as named

    model, args, ckpt = model_from_checkpoint(checkpoint, CODEC_NAME, WaLLoCModel, named)
    model.eval()
    crops = RandomCrops(list_images(calibration_dirs), 256, seed=seed).batch(calibration_crops)
    priors = [c + 1 for c in symbol_counts(model, crops)]
    residual_priors = [c + 1 for c in symbol_counts(model, crops, residuals=True)]
    json_args = json.loads(json.dumps(args))
    fp = export_weights(model, out_path, json_args, priors, {"train_step": ckpt.get("step", 0)}, residual_priors)
    stored, _, _, fp_check, _ = load_model(out_path)
    if fp != fp_check:
        raise WeightsError(f"{out_path}: fingerprint changed on reload")
    drops = []
    for q in range(model.num_levels):
        psnr = []
        for m in (model, stored):
            x_hat = m.decode_latents(m.encode_latents(crops[:8], q), q)
            mse = torch.mean(((x_hat * 255).round() / 255 - crops[:8]) ** 2, dim=(1, 2, 3))
            psnr.append(float((-10 * torch.log10(mse)).mean()))
        drops.append(psnr[0] - psnr[1])
    export_sidecar(out_path, CODEC_NAME, fp, json_args, checkpoint, ckpt, calibration_dirs, calibration_crops,
                   {"fp16_psnr_cost_db": max(drops)})
    return {"fingerprint": fp.hex(), "step": int(ckpt.get("step", 0)), "fp16_psnr_cost_db": max(drops)}
