"""HNeRV-Boost (Zhang et al., CVPR 2024): HNeRV with Boosting-NeRV's conditional decoder.

HNeRV's ConvNeXt encoder gives each frame its embedding ``(C, h0, w0)`` (fitting only, as in
HNeRV).  The decoder takes the embedding *and* the frame time: a 1x1 stem to ``widths[0]``,
``sin`` and a TAT residual block, then one :class:`~neuralcodecs.inr.boost.BoostStage` per stride
(kernels 1, 3, 3, ...: HNeRV's growing 1, 3, 5, 5, 5 capped at 3; one extra stride-1 step in
every stage after the second), every step conditioned on the frame time, and HNeRV's 3x3 head,
``(tanh + 1) / 2``.  Widths, strides and embedding grid as HNeRV (:mod:`.hnerv`); networks too
small for the official 32-channel condition use a reduced layout
(:data:`~neuralcodecs.inr.boost.LAYOUTS`).

Shapes: ``HnervBoostDecoder.forward((e, t))``: embeddings ``(B, C, h0, w0)`` and times ``(B,)``
-> ``(B, 3, H', W')``; ``HnervBoost.forward((x, t))``: padded frames ``(B, 3, H', W')`` and times.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .boost import (CONDITION_CHANNELS, BoostLayout, BoostStage, TemporalCondition, TemporalResidualBlock, boost_kernels,
                    condition_macs, condition_parameters, default_extra_blocks, layout_for, residual_parameters,
                    stage_macs, stage_parameters)
from .hnerv import REDUCTION, Hnerv, plan_strides
from .sizing import StridedFrames, nearest_size


@dataclass(frozen=True)
class HnervBoostConfig(StridedFrames):
    base: tuple[int, int]  # embedding grid (h0, w0)
    strides: tuple[int, ...]
    widths: tuple[int, ...]  # after the stem, then after each stage
    extra_blocks: tuple[int, ...]
    embed_channels: int = 16
    condition_channels: int = CONDITION_CHANNELS
    encoder_width: int = 64

    def __post_init__(self):
        n = len(self.strides)
        if (len(self.widths) != n + 1 or len(self.extra_blocks) != n or min(self.widths) < 1 or min(self.strides) < 1
                or min(self.extra_blocks) < 0 or self.embed_channels < 1 or self.condition_channels < 1):
            raise ValueError(f"invalid HNeRV-Boost configuration {self}")

    @property
    def kernels(self) -> tuple[int, ...]:
        return boost_kernels(len(self.strides), 1)


class HnervBoostDecoder(nn.Module):
    """The stored part: ``(embeddings, times)`` -> frames (see the module docstring)."""

    def __init__(self, cfg: HnervBoostConfig):
        super().__init__()
        c = cfg.condition_channels
        self.condition = TemporalCondition(c)
        self.stem = nn.Conv2d(cfg.embed_channels, cfg.widths[0], 1)
        self.stem_refine = TemporalResidualBlock(cfg.widths[0], c)
        self.stages = nn.ModuleList(
            BoostStage(a, b, s, k, e, c)
            for a, b, s, k, e in zip(cfg.widths[:-1], cfg.widths[1:], cfg.strides, cfg.kernels, cfg.extra_blocks))
        self.head = nn.Conv2d(cfg.widths[-1], 3, 3, padding=1)

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        e, t = inputs
        z = self.condition(t)
        x = self.stem_refine(torch.sin(self.stem(e)), z)
        for stage in self.stages:
            x = stage(x, z)
        return (torch.tanh(self.head(x)) + 1) / 2


class HnervBoost(Hnerv):
    """HNeRV's encoder and the conditional decoder, fitted together on one clip."""

    decoder_class = HnervBoostDecoder

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, t = inputs
        return self.decoder((self.encode(x), t))


def decoder_parameters(cfg: HnervBoostConfig) -> int:
    c = cfg.condition_channels
    total = condition_parameters(c) + (cfg.embed_channels + 1) * cfg.widths[0] + residual_parameters(cfg.widths[0], c)
    for a, b, s, k, e in zip(cfg.widths[:-1], cfg.widths[1:], cfg.strides, cfg.kernels, cfg.extra_blocks):
        total += stage_parameters(a, b, s, k, e, c)
    return total + (9 * cfg.widths[-1] + 1) * 3


def decoder_macs(cfg: HnervBoostConfig) -> int:
    """Multiply-accumulates of decoding one frame from its embedding and time."""
    h, w = cfg.base
    c0 = cfg.widths[0]
    total = cfg.embed_channels * c0 * h * w + 18 * c0 * c0 * h * w
    total += condition_macs((c0, *cfg.widths[1:]), (0, *cfg.extra_blocks), cfg.condition_channels)
    for a, b, s, k, e in zip(cfg.widths[:-1], cfg.widths[1:], cfg.strides, cfg.kernels, cfg.extra_blocks):
        total += stage_macs(a, b, s, k, e, h, w)
        h, w = h * s, w * s
    return total + 9 * cfg.widths[-1] * 3 * h * w


def stored_values(cfg: HnervBoostConfig, frames: int) -> int:
    return decoder_parameters(cfg) + frames * cfg.embed_channels * cfg.base[0] * cfg.base[1]


def for_size(height: int, width: int, frames: int, target: int, embed_channels: int = 16) -> HnervBoostConfig:
    """A configuration whose decoder plus ``frames`` embeddings hold about ``target`` values (first
    width searched; networks too small for the official layout use a reduced one)."""
    base, strides = plan_strides(height, width)
    extra = default_extra_blocks(len(strides))

    def make(c0: int, layout: BoostLayout) -> HnervBoostConfig:
        widths = [c0]
        for _ in strides:
            widths.append(max(layout.lower_width, int(round(widths[-1] / REDUCTION))))
        return HnervBoostConfig(base, strides, tuple(widths), extra, embed_channels, layout.condition)

    layout = layout_for(lambda lay: stored_values(make(4, lay), frames), target)
    return nearest_size(lambda c0: make(c0, layout), lambda cfg: stored_values(cfg, frames), target, range(4, 4097, 2))
