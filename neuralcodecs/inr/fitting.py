"""Fitting an implicit video representation to one clip: encoding *is* training a network.

:func:`fit` trains any module that maps frame times ``(B,)`` in [0, 1] to frames
``(B, 3, H', W')`` (``H' >= H``, ``W' >= W``: the output is cropped) on one clip, with Adam, a
linear warm-up and a cosine decay, on the fitting engine (:mod:`neuralcodecs.fitting`: progress
bar, resumable state as data).  ``loss``: ``"l2"`` (MSE, what PSNR measures) or ``"l1_ssim"``
(NeRV's ``0.7 * L1 + 0.3 * (1 - SSIM)``) or ``"boost"`` (Boosting-NeRV's, :func:`~.boost.boost_loss`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from ..fitting import run_fit, warmup_cosine


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
        if self.steps < 1 or self.batch < 1 or not self.lr > 0 or not 0 <= self.warmup < 1 or self.loss not in ("l2", "l1_ssim", "boost"):
            raise ValueError(f"invalid fitting configuration {self}")


def learning_rate(cfg: FitConfig, step: int) -> float:
    """Linear warm-up over ``warmup * steps``, then cosine to zero."""
    return warmup_cosine(step, cfg.steps, cfg.lr, cfg.warmup)


def frame_times(count: int) -> torch.Tensor:
    """Frame ``t`` of ``count`` at ``t / (count - 1)`` (0 for a single frame), float32 ``(count,)``."""
    return torch.arange(count, dtype=torch.float32) / max(1, count - 1)


def _loss(kind: str, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if kind == "l2":
        return F.mse_loss(out, target)
    if kind == "boost":
        from .boost import boost_loss

        return boost_loss(out, target)
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

    def step(k: int) -> torch.Tensor:
        pick = torch.randint(0, len(times), (cfg.batch,), generator=generator)
        with torch.autocast(frames.device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
            out = model(times[pick])[:, :, :H, :W]
        return _loss(cfg.loss, out.float(), frames[pick])

    model.train()
    outcome = run_fit(step, model, optimizer, cfg.steps, lambda k: [learning_rate(cfg, k)],
                      fingerprint={"config": asdict(cfg), "identity": identity}, state_path=checkpoint,
                      save_every=cfg.save_every, generator=generator, progress=progress)
    return {"steps": outcome.steps, "seconds": outcome.seconds, "psnr": psnr_of(model, frames, times)}
