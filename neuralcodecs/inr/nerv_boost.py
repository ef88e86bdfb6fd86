"""NeRV-Boost (Zhang et al., CVPR 2024): NeRV with Boosting-NeRV's conditional decoder.

NeRV's stem -- the frame time's positional encoding through a two-layer MLP to a feature map
``(C0, h0, w0)``, here with ``sin`` activations as the official code -- followed by one
:class:`~neuralcodecs.inr.boost.BoostStage` per stride (3x3 kernels, one extra stride-1 step in
every stage after the second), every stage conditioned on the frame time through the temporal
affine transforms, and NeRV's 1x1 head, ``(tanh + 1) / 2``.  Widths as the official NeRV-Boost:
the first stage keeps ``C0``, each later one halves it, at least 12.  The MLP's hidden width is
256 (the official stem); networks too small for that layout use a reduced one
(:data:`~neuralcodecs.inr.boost.LAYOUTS`).

Shapes: ``forward(t)`` with ``t`` ``(B,)`` float in [0, 1] -> ``(B, 3, h0 * S, w0 * S)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .boost import (CONDITION_CHANNELS, ENCODING_BASE, ENCODING_LEVELS, BoostLayout, BoostStage, Sine,
                    TemporalCondition, boost_kernels, condition_macs, condition_parameters, default_extra_blocks,
                    layout_for, stage_macs, stage_parameters)
from .nerv import plan_strides, positional_encoding
from .sizing import StridedFrames, nearest_size

MLP_HIDDEN = 256


@dataclass(frozen=True)
class NervBoostConfig(StridedFrames):
    """Architecture; ``channels``: the stem's width, then each stage's output width."""

    base: tuple[int, int]
    strides: tuple[int, ...]
    channels: tuple[int, ...]
    extra_blocks: tuple[int, ...]
    mlp_hidden: int = MLP_HIDDEN
    condition_channels: int = CONDITION_CHANNELS
    encoding_levels: int = ENCODING_LEVELS
    encoding_base: float = ENCODING_BASE

    def __post_init__(self):
        n = len(self.strides)
        if (len(self.channels) != n + 1 or len(self.extra_blocks) != n or min(self.channels) < 1 or min(self.strides) < 1
                or min(self.extra_blocks) < 0 or self.mlp_hidden < 1 or self.condition_channels < 1):
            raise ValueError(f"invalid NeRV-Boost configuration {self}")

    @property
    def kernels(self) -> tuple[int, ...]:
        return boost_kernels(len(self.strides), 3)


class NervBoost(nn.Module):
    """The NeRV-Boost network (see the module docstring)."""

    def __init__(self, cfg: NervBoostConfig):
        super().__init__()
        self.cfg = cfg
        h0, w0 = cfg.base
        self.stem = nn.Sequential(nn.Linear(2 * cfg.encoding_levels, cfg.mlp_hidden), Sine(),
                                  nn.Linear(cfg.mlp_hidden, cfg.channels[0] * h0 * w0), Sine())
        self.condition = TemporalCondition(cfg.condition_channels, cfg.encoding_levels, cfg.encoding_base)
        self.stages = nn.ModuleList(
            BoostStage(a, b, s, k, e, cfg.condition_channels)
            for a, b, s, k, e in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides, cfg.kernels, cfg.extra_blocks))
        self.head = nn.Conv2d(cfg.channels[-1], 3, 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        h0, w0 = self.cfg.base
        encoded = positional_encoding(t, self.cfg.encoding_levels, self.cfg.encoding_base)
        x = self.stem(encoded.to(self.stem[0].weight.dtype)).view(-1, self.cfg.channels[0], h0, w0)
        z = self.condition(t)
        for stage in self.stages:
            x = stage(x, z)
        return (torch.tanh(self.head(x)) + 1) / 2


def count_parameters(cfg: NervBoostConfig) -> int:
    h0, w0 = cfg.base
    total = (2 * cfg.encoding_levels + 1) * cfg.mlp_hidden + (cfg.mlp_hidden + 1) * cfg.channels[0] * h0 * w0
    total += condition_parameters(cfg.condition_channels, cfg.encoding_levels)
    for a, b, s, k, e in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides, cfg.kernels, cfg.extra_blocks):
        total += stage_parameters(a, b, s, k, e, cfg.condition_channels)
    return total + (cfg.channels[-1] + 1) * 3


def macs_per_frame(cfg: NervBoostConfig) -> int:
    h, w = cfg.base
    total = 2 * cfg.encoding_levels * cfg.mlp_hidden + cfg.mlp_hidden * cfg.channels[0] * h * w
    total += condition_macs(cfg.channels[1:], cfg.extra_blocks, cfg.condition_channels, cfg.encoding_levels)
    for a, b, s, k, e in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides, cfg.kernels, cfg.extra_blocks):
        total += stage_macs(a, b, s, k, e, h, w)
        h, w = h * s, w * s
    return total + cfg.channels[-1] * 3 * h * w


def widths_from(c0: int, stages: int, lower: int) -> tuple[int, ...]:
    """``C0, C0, C0 // 2, ...`` (at least ``lower`` after the first stage): the official layout."""
    widths = [c0, c0]
    for _ in range(stages - 1):
        widths.append(max(lower, widths[-1] // 2))
    return tuple(widths[: stages + 1])


def for_size(height: int, width: int, target: int) -> NervBoostConfig:
    """A configuration for frames of ``height x width`` with about ``target`` parameters (``C0`` searched)."""
    base, strides = plan_strides(height, width)
    extra = default_extra_blocks(len(strides))

    def make(c0: int, layout: BoostLayout) -> NervBoostConfig:
        return NervBoostConfig(base, strides, widths_from(c0, len(strides), layout.lower_width), extra,
                               layout.mlp_hidden, layout.condition)

    layout = layout_for(lambda lay: count_parameters(make(1, lay)), target)
    return nearest_size(lambda c0: make(c0, layout), count_parameters, target, range(1, 2049))
