"""The fitting loop shared by overfitted codecs: encoding *is* training a network on one signal.

:func:`fit` trains any module that maps frame times ``(B,)`` in [0, 1] to frames
``(B, 3, H', W')`` (``H' >= H``, ``W' >= W``: the output is cropped) on one clip, with Adam, a
linear warm-up and a cosine decay, a progress bar, and a resumable checkpoint (model, optimizer,
step, random state; written atomically every ``save_every`` steps as data, see
:mod:`neuralcodecs.statefile`).  ``loss``: ``"l2"`` (MSE, what
PSNR measures) or ``"l1_ssim"`` (NeRV's ``0.7 * L1 + 0.3 * (1 - SSIM)``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..statefile import load_state, restore_failed, save_state


@dataclass(frozen=True)
class FitConfig:
    steps: int = 1000
    batch: int = 1
    lr: float = 5e-4
    warmup: float = 0.2  # fraction of the steps
    loss: str = "l2"
    seed: int = 0
    save_every: int = 200
    bf16: bool = False  # autocast the model's forward pass (parameters and optimizer stay float32)

    def __post_init__(self):
        if self.steps < 1 or self.batch < 1 or not self.lr > 0 or not 0 <= self.warmup < 1 or self.loss not in ("l2", "l1_ssim"):
            raise ValueError(f"invalid fitting configuration {self}")


def learning_rate(cfg: FitConfig, step: int) -> float:
    """Linear warm-up over ``warmup * steps``, then cosine to zero."""
    warm = int(cfg.warmup * cfg.steps)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def frame_times(count: int) -> torch.Tensor:
    """Frame ``t`` of ``count`` at ``t / (count - 1)`` (0 for a single frame), float32 ``(count,)``."""
    return torch.arange(count, dtype=torch.float32) / max(1, count - 1)


def _loss(kind: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "l2":
        return F.mse_loss(out, target)
    from pytorch_msssim import ssim

    return 0.7 * F.l1_loss(out, target) + 0.3 * (1 - ssim(out, target, data_range=1.0, size_average=True))


def to_pixels(out: torch.Tensor) -> torch.Tensor:
    """Model output (float, any range) -> the 8-bit values a decoder writes, as float in [0, 1]."""
    return torch.round(out.float().clamp(0, 1) * 255) / 255


def psnr_of(model, frames: torch.Tensor, times: torch.Tensor, batch: int = 4) -> float:
    """Mean PSNR (dB) of the model's 8-bit frames against ``frames`` ``(T, 3, H, W)``; ``times``:
    the per-frame inputs."""
    _, _, H, W = frames.shape
    times = times.to(frames.device)
    was = model.training
    model.eval()
    values = []
    with torch.no_grad():
        for i in range(0, len(times), batch):
            out = model(times[i : i + batch])[:, :, :H, :W]
            out = to_pixels(out)
            mse = ((out - frames[i : i + batch]) ** 2).flatten(1).mean(1)
            values += (-10 * torch.log10(mse.clamp_min(1e-10))).tolist()
    model.train(was)
    return sum(values) / len(values)


def fit(model: torch.nn.Module, frames: torch.Tensor, cfg: FitConfig, inputs: torch.Tensor | None = None,
        checkpoint: str | os.PathLike | None = None, progress: bool = False, identity: dict | None = None) -> dict:
    """Fit ``model`` to ``frames`` ``(T, 3, H, W)`` in [0, 1]; resumes from ``checkpoint`` if it exists.

    ``inputs``: what the model takes for frame ``t`` is ``inputs[t]`` (default: :func:`frame_times`).
    ``identity``: JSON-like description of the clip and model; a checkpoint made with another
    identity or configuration is refused (:class:`CodecArgumentError`).
    Returns ``{"steps", "seconds", "psnr"}`` (seconds of this call; PSNR of the fitted model, 8-bit).
    """
    times = (frame_times(len(frames)) if inputs is None else inputs).to(frames.device)
    _, _, H, W = frames.shape
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    generator = torch.Generator().manual_seed(cfg.seed)
    step = 0
    path = Path(checkpoint) if checkpoint is not None else None
    state = load_state(path, {"config": asdict(cfg), "identity": identity})
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"])
            step = int(state["step"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise restore_failed(path, exc) from None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=step, desc="fitting", unit="step", dynamic_ncols=True)
    started = time.time()
    model.train()
    while step < cfg.steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        pick = torch.randint(0, len(times), (cfg.batch,), generator=generator)
        with torch.autocast(frames.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            out = model(times[pick])[:, :, :H, :W]
        loss = _loss(cfg.loss, out.float(), frames[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if bar is not None:
            bar.update(1)
        if path is not None and (step % cfg.save_every == 0 or step == cfg.steps):
            save_state(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                              "generator": generator.get_state(), "config": asdict(cfg), "identity": identity})
    if bar is not None:
        bar.close()
    return {"steps": step, "seconds": time.time() - started, "psnr": psnr_of(model, frames, times)}
