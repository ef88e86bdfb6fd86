"""Training STEM's entropy model with the shared loop (``ncodec train --codec stem``).

The image transforms are frozen, so every frame's lattice latent ``round(g * g_a(x))`` is fixed
and the loss is the rate alone: bits of a P-frame's latent (and its hyper-latent) under the
spatiotemporal model, per pixel.  Frame pairs are therefore transformed once: the data kind
``latent_pairs`` draws random crops of consecutive (or every-other) frame pairs from the video
training folders (:class:`~neuralcodecs.video.training_data.RandomFrameWindows`: one crop,
scale and flip per pair), runs the frozen ``g_a`` over them and keeps the gain-free latents in
memory (and in ``<out>/latent_pairs.safetensors``, so a resumed run does not redo it).  Each sample then
draws a quality on a 1/8 grid of the image codec's ladder, so one model serves every quality.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn as nn

from ..entropy.gaussian import GAIN_FRACTION_BITS, interpolate_gain_geometric
from .model import CONFIGS, SpatiotemporalEntropyModel, StemConfig

PAIR_COUNT = 2400  # frame pairs transformed at the start of a run
QUALITY_GRID = 8  # training qualities per ladder step (1/8)
CACHE_NAME = "latent_pairs.safetensors"
PRETRAINED = ("entropy.h_a.", "entropy.h_s.", "entropy.entropy_bottleneck.")
PRETRAINED_LR_FACTOR = 0.1


def image_codec(weights=None):
    """The frozen image codec a new STEM model is trained on (the shipped ``hyperprior``, or ``weights``)."""
    from .image_codec import shipped_image_codec

    return shipped_image_codec(weights)


def quality_gains(gain_fixed: torch.Tensor, per_step: int = QUALITY_GRID) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q256 (Q,), float gains (Q, M))`` on a ``1/per_step`` grid of the ladder, as coded."""
    levels = gain_fixed.shape[0]
    q256 = torch.arange(256, 256 * levels + 1, 256 // per_step)
    gains = torch.stack([interpolate_gain_geometric(gain_fixed, int(q)) for q in q256]).double()
    return q256, (gains / 2**GAIN_FRACTION_BITS).float()


class StemTrainingModel(nn.Module):
    """The entropy model plus the image codec's gain ladder (a buffer) for random qualities.

    Args:
        config: a name of :data:`~neuralcodecs.stem.model.CONFIGS` (``cpu``, ``paper``).
        overrides: :class:`StemConfig` fields (``temporal=False`` etc. for the ablations).
    """

    def __init__(self, config: str = "cpu", **overrides):
        super().__init__()
        if config not in CONFIGS:
            raise ValueError(f"unknown stem configuration {config!r}; choose from {', '.join(CONFIGS)}")
        frozen = image_codec().frozen
        cfg = StemConfig(**{**CONFIGS[config].to_json(), **overrides, "M": frozen.model.M})
        self.entropy = SpatiotemporalEntropyModel(StemConfig.from_json(cfg.to_json()))
        self.entropy.init_from_image_codec(frozen.model)
        self.register_buffer("gain_fixed", frozen.gain_fixed.clone())
        _, gains = quality_gains(frozen.gain_fixed)
        self.register_buffer("gains", gains)

    def aux_loss(self):
        return self.entropy.aux_loss()

    def lr_factor(self, name: str) -> float:
        """The parts initialized from the image codec (hyper networks, hyper-latent density) learn at
        :data:`PRETRAINED_LR_FACTOR` of the rate: at the full rate Adam's first steps undo what they know."""
        return PRETRAINED_LR_FACTOR if name.startswith(PRETRAINED) else 1.0


def pair_loss(model: StemTrainingModel, batch: torch.Tensor) -> dict:
    """Bits per pixel of the second frame of each pair at a random quality; ``batch`` ``(B, 2, M, h, w)``."""
    B, _, M, h, w = batch.shape
    pick = torch.randint(0, model.gains.shape[0], (B,), device=batch.device)
    gain = model.gains[pick][:, :, None, None]
    prev, cur = batch[:, 0].float() * gain, batch[:, 1].float() * gain
    bits = model.entropy.bits(torch.round(cur), torch.round(prev), cur, gain)
    pixels = h * w * 256
    bpp = (bits["y"] + bits["z"]).mean() / pixels
    return {"loss": bpp, "bpp": bpp.detach(), "mse": torch.zeros(())}


class LatentPairs:
    """Gain-free latent pairs ``(2, M, crop/16, crop/16)`` of training video (see the module docstring)."""

    def __init__(self, folders, crop: int, min_scale: float, seed: int, out_dir: str | Path | None = None,
                 count: int = PAIR_COUNT):
        from ..video.training_data import RandomFrameWindows, list_sequences

        if crop % 64:
            raise ValueError(f"stem trains on crops that are multiples of 64 pixels, got {crop}")
        cache = Path(out_dir) / CACHE_NAME if out_dir is not None else None
        self.rng = random.Random(seed)
        if cache is not None and cache.exists():
            from safetensors.torch import load_file

            self.latents = load_file(str(cache))["latents"]
            return
        sequences = list_sequences(folders)
        first = RandomFrameWindows(sequences, crop, 2, 1, min_scale, seed + 1)  # frames decoded once
        loaders = [first, first.with_step(2, seed + 2)]
        g_a = image_codec().frozen.model.g_a
        chunks = []
        with torch.no_grad():
            for i in range(0, count, 32):
                pixels = loaders[(i // 32) % 2].batch(min(32, count - i))  # (b, 2, 3, crop, crop)
                b = pixels.shape[0]
                y = g_a(pixels.flatten(0, 1).contiguous(memory_format=torch.channels_last)).float()
                chunks.append(y.reshape(b, 2, *y.shape[1:]).half())
        self.latents = torch.cat(chunks)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            from safetensors.torch import save_file

            save_file({"latents": self.latents.contiguous()}, str(cache))

    def batch(self, size: int) -> torch.Tensor:
        """``(size, 2, M, h, w)`` float32; each pair in either time order, randomly transposed."""
        picks = [self.rng.randrange(len(self.latents)) for _ in range(size)]
        out = self.latents[picks].float()
        reverse = torch.tensor([self.rng.random() < 0.5 for _ in range(size)])
        out[reverse] = out[reverse].flip(1)
        if self.rng.random() < 0.5:
            out = out.transpose(-1, -2)
        return out


def make_data(cfg, seed: int):
    """The run's pairs: no more than the run will draw (``steps x batch``), at most :data:`PAIR_COUNT`."""
    return LatentPairs(cfg.data, cfg.crop, cfg.min_scale, seed, cfg.out, count=min(PAIR_COUNT, cfg.steps * cfg.batch_size))

