"""NeRV++ (Ghorbel, Hamidouche & Morin 2024): NeRV with gated separable residual blocks around
each up-sampling block and a bilinear skip path.

* **stem**: the frame time's positional encoding (NeRV's, ``b = 1.25``, 40 levels) through a
  gated MLP: ``Linear(2L, 2 m)`` split into halves ``a``, ``b``, then ``Linear(m, C0 h0 w0)(a *
  GELU_tanh(b))``, reshaped to ``(C0, h0, w0)``;
* **one NeRV++ block per stride** ``s`` (``C_in -> C``): a 1x1 projection to ``C`` (kept as
  the skip ``r``); a *gated depthwise block* -- a 1x1 convolution to ``2h`` channels
  (``h = floor(8 C / 3)``) split into a gate ``g`` (``h``), a pass-through ``i`` (``h - C``) and
  ``c`` (``C``), ``c`` through a 5x5 depthwise convolution, and ``x + conv1x1(GELU(g) *
  concat(i, c))``; NeRV's up-sampling block ``conv3x3 (C -> C s^2) -> PixelShuffle(s)`` with
  SiLU; a *separable residual feed-forward block* ``x + conv1x1(GELU(conv1x1(dwconv3x3(x))))``;
  and the bilinear skip ``+ upsample(r, s)`` (``align_corners=False``);
* a 1x1 head to RGB, ``(tanh + 1) / 2``.

Widths as the official code: the first block keeps ``C0``, each later one halves it, at least
80; the official sizes S / M / L (``C0`` = 26 / 58 / 112 at 1280x720) hold 3.38 / 6.38 / 12.55 M
values.  Networks too small for that layout (its smallest at 320x180 holds ~760k values) use a
reduced one: a 64-wide stem, widths at least 12.  The official code's channels-last ``Linear``
layers are 1x1 convolutions here (the same map).

Shapes: ``forward(t)`` with ``t`` ``(B,)`` float in [0, 1] -> ``(B, 3, h0 * S, w0 * S)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .nerv import plan_strides, positional_encoding
from .sizing import StridedFrames, nearest_size

#: (stem width, narrowest block) of the official layout, then of the reduced one
LAYOUTS = ((512, 80), (64, 12))
ENCODING_LEVELS = 40


def gated_width(c: int) -> int:
    """``h = floor(8 C / 3)``: the gated block's hidden width."""
    return 8 * c // 3


@dataclass(frozen=True)
class NervppConfig(StridedFrames):
    """Architecture; ``channels``: the stem's width, then each block's output width."""

    base: tuple[int, int]
    strides: tuple[int, ...]
    channels: tuple[int, ...]
    stem_hidden: int = 512
    encoding_levels: int = ENCODING_LEVELS
    encoding_base: float = 1.25

    def __post_init__(self):
        if (len(self.channels) != len(self.strides) + 1 or min(self.channels) < 1 or min(self.strides) < 1
                or self.stem_hidden < 1):
            raise ValueError(f"invalid NeRV++ configuration {self}")


class NervppBlock(nn.Module):
    """One NeRV++ block, ``(B, C_in, h, w) -> (B, C, s h, s w)`` (see the module docstring)."""

    def __init__(self, c_in: int, c: int, stride: int):
        super().__init__()
        h = gated_width(c)
        self.stride, self.split = stride, (h, h - c, c)
        self.proj = nn.Conv2d(c_in, c, 1)
        self.gate_in = nn.Conv2d(c, 2 * h, 1)
        self.gate_dw = nn.Conv2d(c, c, 5, padding=2, groups=c)
        self.gate_out = nn.Conv2d(h, c, 1)
        self.up = nn.Conv2d(c, c * stride * stride, 3, padding=1)
        self.ffn_dw = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.ffn_a = nn.Conv2d(c, c, 1)
        self.ffn_b = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        skip = x
        gate, passed, spatial = torch.split(self.gate_in(x), self.split, 1)
        x = x + self.gate_out(F.gelu(gate) * torch.cat([passed, self.gate_dw(spatial)], 1))
        x = F.silu(F.pixel_shuffle(self.up(x), self.stride)) if self.stride > 1 else F.silu(self.up(x))
        x = x + self.ffn_b(F.gelu(self.ffn_a(self.ffn_dw(x))))
        if self.stride > 1:
            skip = F.interpolate(skip, scale_factor=self.stride, mode="bilinear", align_corners=False)
        return x + skip


class Nervpp(nn.Module):
    """The NeRV++ network (see the module docstring)."""

    def __init__(self, cfg: NervppConfig):
        super().__init__()
        self.cfg = cfg
        h0, w0 = cfg.base
        self.stem_in = nn.Linear(2 * cfg.encoding_levels, 2 * cfg.stem_hidden)
        self.stem_out = nn.Linear(cfg.stem_hidden, cfg.channels[0] * h0 * w0)
        self.blocks = nn.ModuleList(NervppBlock(a, b, s) for a, b, s in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides))
        self.head = nn.Conv2d(cfg.channels[-1], 3, 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        h0, w0 = self.cfg.base
        encoded = positional_encoding(t, self.cfg.encoding_levels, self.cfg.encoding_base).to(self.stem_in.weight.dtype)
        a, b = self.stem_in(encoded).chunk(2, 1)
        x = self.stem_out(a * F.gelu(b, approximate="tanh")).view(-1, self.cfg.channels[0], h0, w0)
        for block in self.blocks:
            x = block(x)
        return (torch.tanh(self.head(x)) + 1) / 2


def block_parameters(c_in: int, c: int, stride: int) -> int:
    h = gated_width(c)
    gated = 3 * h * c + 2 * h + 27 * c
    return (c_in + 1) * c + gated + (9 * c + 1) * c * stride * stride + 2 * c * c + 12 * c


def count_parameters(cfg: NervppConfig) -> int:
    h0, w0 = cfg.base
    total = (2 * cfg.encoding_levels + 1) * 2 * cfg.stem_hidden + (cfg.stem_hidden + 1) * cfg.channels[0] * h0 * w0
    for a, b, s in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides):
        total += block_parameters(a, b, s)
    return total + (cfg.channels[-1] + 1) * 3


def macs_per_frame(cfg: NervppConfig) -> int:
    """Multiply-accumulates of rendering one frame (the bilinear skip and activations not counted)."""
    h, w = cfg.base
    total = 2 * cfg.encoding_levels * 2 * cfg.stem_hidden + cfg.stem_hidden * cfg.channels[0] * h * w
    for a, c, s in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides):
        g = gated_width(c)
        total += (a * c + 2 * g * c + 25 * c + g * c + 9 * c * c * s * s) * h * w
        h, w = h * s, w * s
        total += (9 * c + 2 * c * c) * h * w
    return total + cfg.channels[-1] * 3 * h * w


def widths_from(c0: int, blocks: int, lower: int) -> tuple[int, ...]:
    widths = [c0, c0]
    for _ in range(blocks - 1):
        widths.append(max(widths[-1] // 2, lower))
    return tuple(widths[: blocks + 1])


def for_size(height: int, width: int, target: int) -> NervppConfig:
    """A configuration for frames of ``height x width`` with about ``target`` values (``C0`` searched;
    the reduced layout when the official one's smallest network exceeds ``target``)."""
    base, strides = plan_strides(height, width)

    def make(c0: int, layout: tuple[int, int]) -> NervppConfig:
        return NervppConfig(base, strides, widths_from(c0, len(strides), layout[1]), layout[0])

    layout = next((lay for lay in LAYOUTS if count_parameters(make(1, lay)) <= target), LAYOUTS[-1])
    return nearest_size(lambda c0: make(c0, layout), count_parameters, target, range(1, 2049))
