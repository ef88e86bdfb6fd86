"""VQGAN weights files and export.

Layout: ``model.*``: the float network in fp16 (codebooks fp32); ``prior.{K}``: int32 ``(K,)``
integer weights of the static categorical prior of codebook ``K`` -- index counts over
calibration crops of the training data, plus one.  Metadata: ``codec`` (``vqgan``),
``model_args`` (JSON) and ``fine_tuned`` (whether the ladder was fine-tuned or is the bare
k-means clustering).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...errors import WeightsError
from ...weightfiles import fingerprint, load_model_weights, save_weights
from .model import VQGANModel

CODEC_NAME = "vqgan"


@torch.no_grad()
def index_counts(model: VQGANModel, crops: torch.Tensor, batch: int = 8) -> dict[int, torch.Tensor]:
    """Index histograms ``{K: (K,) int64}`` of ``crops`` ``(N, 3, S, S)`` under every codebook."""
    counts = {K: torch.zeros(K, dtype=torch.int64) for K in model.ladder}
    for start in range(0, crops.shape[0], batch):
        x = crops[start : start + batch]
        for K in model.ladder:
            counts[K] += torch.bincount(model.encode_indices(x, K).flatten().cpu(), minlength=K)
    return counts


def export_weights(model: VQGANModel, path: str | Path, model_args: dict, priors: dict[int, torch.Tensor],
                   extra_metadata: dict | None = None) -> bytes:
    """Write ``model`` with integer ``priors`` ``{K: (K,)}``; returns the fingerprint."""
    tensors = {}
    for name, value in model.state_dict().items():
        if name.endswith(".usage") or name in ("steps", "ladder_ready"):
            continue
        if value.is_floating_point():
            value = value.float() if name.endswith(".codebook") else value.half()
        tensors[f"model.{name}"] = value
    for K in model.ladder:
        tensors[f"prior.{K}"] = priors[K].to(torch.int32)
    metadata = {"codec": CODEC_NAME, "model_args": json.dumps(model_args)}
    metadata.update(extra_metadata or {})
    return save_weights(path, tensors, metadata)


def load_model(path: str | Path) -> tuple[VQGANModel, dict[int, torch.Tensor], bytes, dict]:
    """``(model in eval mode, priors {K: int64 (K,)}, fingerprint, metadata)``; :class:`WeightsError` otherwise."""
    def build(**args):
        return VQGANModel(**{**args, "stage": "autoencoder"})

    model, tensors, meta, _ = load_model_weights(path, CODEC_NAME, build,
                                                 lambda k: k.endswith(".usage") or k in ("steps", "ladder_ready"))
    priors = {}
    for K in model.ladder:
        prior = tensors.get(f"prior.{K}")
        if prior is None or prior.shape != (K,) or prior.is_floating_point():
            raise WeightsError(f"{path}: prior {K} is missing or not an integer ({K},) table")
        prior = prior.to(torch.int64)
        if torch.any(prior < 0) or not 1 <= int(prior.sum()) <= 2**38:
            raise WeightsError(f"{path}: prior {K} has negative weights or a bad total")
        priors[K] = prior
    return model.eval(), priors, fingerprint(tensors), meta


@torch.no_grad()
def export_from_checkpoint(checkpoint: str | Path, out_path: str | Path, calibration_dirs: list[str],
                           calibration_crops: int = 64, seed: int = 1234) -> dict:
    """Write a checkpoint's model to ``out_path``; a checkpoint of the autoencoder stage gets the bare
    k-means ladder (no fine-tuning).  Priors: index counts over ``calibration_crops`` 256x256 crops of
    ``calibration_dirs`` (training folders, never evaluation images)."""
    from ...data import RandomCrops, list_images
    from ...train import export_sidecar, model_from_checkpoint
    from .configs import model_args as named

    model, args, ckpt = model_from_checkpoint(checkpoint, CODEC_NAME, VQGANModel, named)
    fine_tuned = bool(model.ladder_ready)  # only the codebook stage builds the ladder before export does
    if not bool(model.ladder_ready):
        model.init_ladder()
    model.eval()
    crops = RandomCrops(list_images(calibration_dirs), 256, seed=seed).batch(calibration_crops)
    counts = index_counts(model, crops)
    json_args = json.loads(json.dumps({**args, "stage": "autoencoder"}))
    fp = export_weights(model, out_path, json_args, {K: c + 1 for K, c in counts.items()},
                        {"train_step": ckpt.get("step", 0), "fine_tuned": str(fine_tuned).lower()})
    usage = {str(K): float((c > 0).float().mean()) for K, c in counts.items()}
    export_sidecar(out_path, CODEC_NAME, fp, json_args, checkpoint, ckpt, calibration_dirs, calibration_crops,
                   {"codebook_usage": usage}, {"fine_tuned_ladder": fine_tuned})
    return {"fingerprint": fp.hex(), "step": int(ckpt.get("step", 0)), "fine_tuned": fine_tuned}
