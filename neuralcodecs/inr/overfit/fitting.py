"""Fitting the overfitted image model to one image: ``min MSE + lambda * bits / pixel``.

Two phases, as Cool-chic and C3: (1) ``noise_fraction`` of the steps with C3's soft rounding in
place of rounding (:func:`~neuralcodecs.inr.overfit.model.soft_quantize`, the latents seen by the
synthesis and priced by the ARM), its temperature and noise annealed linearly from
``temperature[0]`` / ``noise[0]`` to ``[1]``, Adam at ``lr`` with a cosine decay; (2) the rest
with straight-through rounding at ``lr * final_lr_factor``, so the network adapts to the integer
latents it will decode.  bf16 autocast for the synthesis on the CPU.

The fit ends at its best state, not its last: every ``eval_every`` steps (and at the last) the
true loss (rounded latents, rounded pixels) is measured, and the model keeps the parameters that
had the lowest, as Cool-chic does.  Straight-through steps can raise it: on a 128x192 BSDS crop
at lambda 0.0032, the 1,000 straight-through steps that close a 10,000-step fit took the rate
from 0.157 to 0.367 bits per pixel for +0.03 dB.

Chosen on a BSDS image (481x321, 1,000 steps, never Kodak): with revision 1's synthesis, C3's
double soft rounding against additive uniform noise moved the fit from 2.7 dB below WebP at equal
rate to 0.1 dB above it; with revision 2's it is 0.4 dB below WebP at 0.64 bpp.
Resumable: a checkpoint (model, optimizer, step) every ``save_every`` steps, written atomically.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ...statefile import load_state, restore_failed, save_state
from .model import OverfitModel


@dataclass(frozen=True)
class ImageFitConfig:
    steps: int = 2000
    lam: float = 1e-3  # weight of the rate (bits per pixel) against the MSE (pixels in [0, 1])
    lr: float = 2e-2  # 1e-2 reached a higher loss in 1,000 steps on a BSDS crop (0.0018 vs 0.0016)
    quantizer: str = "soft"  # phase 1: "soft" (C3: soft rounding + noise) or "noise" (additive uniform noise, the ablation)
    noise_fraction: float = 0.9  # 0.8 fitted 0.1 dB worse at 1,000 steps on a BSDS image
    temperature: tuple[float, float] = (0.3, 0.1)  # soft rounding, phase 1 start / end (C3, Cool-chic)
    noise: tuple[float, float] = (0.5, 0.5)  # half-width of the uniform noise, phase 1 start / end
    final_lr_factor: float = 0.1
    save_every: int = 250
    eval_every: int = 50  # steps between measurements of the true loss (the fit keeps its best state)
    bf16: bool = True  # autocast the synthesis on the CPU
    seed: int = 0

    def __post_init__(self):
        if self.quantizer not in ("soft", "noise"):
            raise ValueError(f"unknown phase-1 quantizer {self.quantizer!r} (soft, noise)")


def fit_image(model: OverfitModel, image: torch.Tensor, cfg: ImageFitConfig, checkpoint: str | Path | None = None,
              progress: bool = False, identity: dict | None = None) -> dict:
    """Fit ``model`` to ``image`` ``(1, 3, H, W)`` in [0, 1]; the model is left at its best state.
    Returns ``{"seconds"}`` plus :func:`true_loss` of that state."""
    _, _, H, W = image.shape
    pad_h, pad_w = model.shapes[0]
    target = F.pad(image, (0, pad_w - W, 0, pad_h - H), mode="replicate")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    torch.manual_seed(cfg.seed)
    step = 0
    path = Path(checkpoint) if checkpoint else None
    state = load_state(path, {"config": asdict(cfg), "identity": identity})
    best_loss, best_state = math.inf, None
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            step = int(state["step"])
            if state.get("best_state") is not None:
                best_loss, best_state = float(state["best_loss"]), state["best_state"]
                model.load_state_dict(best_state)  # checks that the best state fits too
                model.load_state_dict(state["model"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise restore_failed(path, exc) from None
    noise_steps = int(cfg.noise_fraction * cfg.steps)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="fitting", unit="step", dynamic_ncols=True)
    started = time.time()
    pixels = H * W
    while step < cfg.steps:
        noisy = step < noise_steps
        progress_1 = step / max(1, noise_steps)
        if noisy:
            lr = cfg.lr * 0.5 * (1 + math.cos(math.pi * progress_1))
        else:
            lr = cfg.lr * cfg.final_lr_factor * 0.5 * (1 + math.cos(math.pi * (step - noise_steps) / max(1, cfg.steps - noise_steps)))
        for group in optimizer.param_groups:
            group["lr"] = max(lr, 1e-6)
        if noisy:
            grids = model.quantized_grids(cfg.quantizer, _anneal(cfg.temperature, progress_1), _anneal(cfg.noise, progress_1))
        else:
            grids = model.quantized_grids("ste")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16 and image.device.type == "cpu"):
            out = model.synthesize(grids)
        mse = F.mse_loss(out.float()[:, :, :H, :W], target[:, :, :H, :W])
        bits = model.rate_bits(grids)
        loss = mse + cfg.lam * bits / pixels
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(psnr=f"{-10 * math.log10(max(mse.item(), 1e-10)):.2f}", bpp=f"{bits.item() / pixels:.3f}")
        if step % cfg.eval_every == 0 or step == cfg.steps:
            loss_now = true_loss(model, image, cfg.lam)["loss"]
            if loss_now < best_loss:
                best_loss, best_state = loss_now, {k: v.detach().clone() for k, v in model.state_dict().items()}
        if path is not None and (step % cfg.save_every == 0 or step == cfg.steps):
            save_state(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                              "rng": torch.get_rng_state(), "config": asdict(cfg), "identity": identity,
                              "best_loss": best_loss, "best_state": best_state})
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"seconds": time.time() - started, **true_loss(model, image, cfg.lam)}


@torch.no_grad()
def true_loss(model: OverfitModel, image: torch.Tensor, lam: float) -> dict:
    """``{"bpp", "psnr", "loss"}`` of ``model`` on ``image`` ``(1, 3, H, W)`` with rounded latents and
    pixels rounded to 8 bits: the float ARM's estimate (the file adds the networks and the coding overhead)."""
    _, _, H, W = image.shape
    grids = model.quantized_grids("round")
    out = model.synthesize(grids).clamp(0, 1)
    mse = F.mse_loss(torch.round(out[:, :, :H, :W] * 255) / 255, image).item()
    bits = model.rate_bits(grids).item()
    return {"bpp": bits / (H * W), "psnr": -10 * math.log10(max(mse, 1e-10)), "loss": mse + lam * bits / (H * W)}


def _anneal(span: tuple[float, float], progress: float) -> float:
    return span[0] + (span[1] - span[0]) * progress
