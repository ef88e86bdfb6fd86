"""McQuic weights files and export.

Layout: ``model.*``: the float network in fp16 (codebooks and inverse temperatures fp32);
``prior.{quality}.{level}``: int32 ``(m, k)`` integer weights of the static categorical priors
(normalized usage times ``2**24``, rounded) -- the format's tables are built from these
integers (``bitstreams/FORMAT.md``, "Integer probability tables"), so coding never depends on
float arithmetic.  Metadata: ``codec`` (``mcquic``) and ``model_args`` (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...errors import WeightsError
from ...weightfiles import fingerprint, load_model_weights, save_weights
from .model import McQuicModel

CODEC_NAME = "mcquic"
_FP32_KEYS = ("codebook", "inverse_temperature")


def export_weights(model: McQuicModel, path: str | Path, model_args: dict, extra_metadata: dict | None = None) -> bytes:
    """Write ``model`` (its usage averages become the priors); returns the fingerprint."""
    tensors = {}
    for name, value in model.state_dict().items():
        if name.endswith(".usage") or name == "steps":
            continue
        if value.is_floating_point():
            value = value.float() if name.endswith(_FP32_KEYS) else value.half()
        tensors[f"model.{name}"] = value
    for q, quantizers in enumerate(model.quantizers):
        for level, quantizer in enumerate(quantizers):
            tensors[f"prior.{q}.{level}"] = quantizer.prior_weights().to(torch.int32)
    metadata = {"codec": CODEC_NAME, "model_args": json.dumps(model_args)}
    metadata.update(extra_metadata or {})
    return save_weights(path, tensors, metadata)


def load_model(path: str | Path) -> tuple[McQuicModel, list[list[torch.Tensor]], bytes, dict]:
    """``(model in eval mode, priors[quality][level] int64 (m, k), fingerprint, model_args)``.

    Raises :class:`WeightsError` unless the file is a complete McQuic weights file.
    """
    model, tensors, _, model_args = load_model_weights(path, CODEC_NAME, McQuicModel, lambda k: k.endswith(".usage") or k == "steps")
    priors = []
    for q, quantizers in enumerate(model.quantizers):
        row = []
        for level, quantizer in enumerate(quantizers):
            prior = tensors.get(f"prior.{q}.{level}")
            if prior is None or prior.shape != (quantizer.groups, quantizer.codewords) or prior.is_floating_point():
                raise WeightsError(f"{path}: prior {q}.{level} is missing or not an integer ({quantizer.groups}, {quantizer.codewords}) table")
            prior = prior.to(torch.int64)
            if torch.any(prior < 0) or torch.any(prior.sum(1) < 1) or torch.any(prior.sum(1) > 2**38):
                raise WeightsError(f"{path}: prior {q}.{level} has negative weights or a bad row total")
            row.append(prior)
        priors.append(row)
    return model.eval(), priors, fingerprint(tensors), model_args


@torch.no_grad()
def export_from_checkpoint(checkpoint: str | Path, out_path: str | Path, calibration_dirs: list[str],
                           calibration_crops: int = 8, seed: int = 1234) -> dict:
    """Write a checkpoint's model (its weight average when it has one) to ``out_path``; returns a report.

    ``calibration_dirs`` (training folders, never evaluation images) give the crops on which the
    cost of fp16 storage is measured.
    """
    from ...data import RandomCrops, list_images
    from ...train import export_sidecar, model_from_checkpoint
    from .configs import model_args as named

    model, args, ckpt = model_from_checkpoint(checkpoint, CODEC_NAME, McQuicModel, named)
    model.eval()
    json_args = json.loads(json.dumps(args))
    fp = export_weights(model, out_path, json_args, {"train_step": ckpt.get("step", 0)})
    stored, _, fp_check, _ = load_model(out_path)
    if fp != fp_check:
        raise WeightsError(f"{out_path}: fingerprint changed on reload")
    crops = RandomCrops(list_images(calibration_dirs), 256, seed=seed).batch(calibration_crops)
    drops = []
    for q in range(model.num_levels):
        psnr = []
        for m in (model, stored):
            x_hat = m.decode_codes(m.encode_codes(crops, q), q)
            mse = torch.mean(((x_hat * 255).round() / 255 - crops) ** 2, dim=(1, 2, 3))
            psnr.append(float((-10 * torch.log10(mse)).mean()))
        drops.append(psnr[0] - psnr[1])
    export_sidecar(out_path, CODEC_NAME, fp, json_args, checkpoint, ckpt, calibration_dirs, calibration_crops,
                   {"fp16_psnr_cost_db": max(drops)})
    return {"fingerprint": fp.hex(), "step": int(ckpt.get("step", 0)), "fp16_psnr_cost_db": max(drops)}
