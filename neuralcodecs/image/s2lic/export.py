"""``ncodec export --codec s2lic``: a training checkpoint -> a shipped weights file and its sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...errors import WeightsError
from .frozen import FrozenLadder
from .model import LadderModel
from .weights import CODEC_NAME, export_weights, load_frozen


@torch.no_grad()
def storage_cost(trained: FrozenLadder, stored: FrozenLadder, crops: torch.Tensor) -> tuple[float, float]:
    """Worst level's (PSNR drop in dB, rate increase in %) of the stored weights against the trained ones."""
    psnr_drop, rate_rise = float("-inf"), float("-inf")
    for level in range(trained.ladder.levels):
        q256 = 256 * (level + 1)
        psnr, bits = [], []
        for model in (trained, stored):
            enc = model.encode_latents(*model.analyze(crops, q256), q256)
            decoded = {"walk": enc["walk"], "hyper": enc["hyper"], "z_symbols": enc["z_symbols"]}
            x_hat = model.synthesize(model.synthesis_input(decoded, q256))
            mse = torch.mean(((x_hat * 255).round() / 255 - crops) ** 2, dim=(1, 2, 3))
            psnr.append(float((-10 * torch.log10(mse)).mean()))
            bits.append(model.estimated_bits(enc))
        psnr_drop = max(psnr_drop, psnr[0] - psnr[1])
        rate_rise = max(rate_rise, 100 * (bits[1] / bits[0] - 1))
    return psnr_drop, rate_rise


@torch.no_grad()
def export_from_checkpoint(checkpoint: str | Path, out_path: str | Path, calibration_dirs: list[str],
                           calibration_crops: int = 16, seed: int = 1234) -> dict:
    """Freeze a checkpoint (its weight average when it has one) into ``out_path``; returns a report.

    Calibration crops (256x256) come from training folders, never evaluation images.
    """
    from ...data import RandomCrops, list_images
    from ...train import export_sidecar, model_from_checkpoint
    from .configs import model_args as named

    model, args, ckpt = model_from_checkpoint(checkpoint, CODEC_NAME, LadderModel, named)
    crops = RandomCrops(list_images(calibration_dirs), 256, seed=seed).batch(calibration_crops)
    frozen = FrozenLadder.from_trained(model, crops)
    json_args = json.loads(json.dumps(args))  # tuples -> lists, as the file stores them
    fp = export_weights(frozen, out_path, json_args, {"train_step": ckpt.get("step", 0)})
    reloaded, fp_check, _ = load_frozen(out_path)
    if fp != fp_check:
        raise WeightsError(f"{out_path}: fingerprint changed on reload")
    psnr_cost, rate_cost = storage_cost(frozen, reloaded, crops[:4])
    step = int(ckpt.get("step", 0))
    export_sidecar(out_path, CODEC_NAME, fp, json_args, checkpoint, ckpt, calibration_dirs, calibration_crops,
                   {"fp16_psnr_cost_db": psnr_cost, "fp16_rate_cost_percent": rate_cost})
    return {"fingerprint": fp.hex(), "step": step, "fp16_psnr_cost_db": psnr_cost, "fp16_rate_cost_percent": rate_cost}
