"""NeRV (Chen et al., NeurIPS 2021): a video as a function of time, frame ``t -> x_t``.

* the frame index ``t`` (normalized to [0, 1]) is expanded by the positional encoding
  ``(sin(b**i * pi * t), cos(b**i * pi * t))``, ``i < L`` (the paper: ``b = 1.25``, ``L = 80``);
* an MLP maps it to a small feature map ``(C0, h0, w0)``;
* NeRV blocks upsample it: ``conv3x3 (C -> C' * s**2) -> PixelShuffle(s) -> GELU`` per stride ``s``;
* a 1x1 head gives RGB in [0, 1] (``(tanh + 1) / 2``, as the released code).

The frame size is ``(h0 * S, w0 * S)`` with ``S`` the product of the strides; a clip of another size
is fitted padded (edge replication) and cropped.  Model size is set in parameters: :func:`for_size`
searches the base width that gives about ``target`` parameters (``--size 0.3M``).

Shapes: ``forward(t)`` with ``t`` ``(B,)`` float in [0, 1] -> ``(B, 3, h0 * S, w0 * S)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .sizing import StridedFrames, nearest_size


@dataclass(frozen=True)
class NervConfig(StridedFrames):
    """Architecture; ``channels`` are the widths after the MLP and after each block."""

    base: tuple[int, int]  # (h0, w0)
    strides: tuple[int, ...]
    channels: tuple[int, ...]  # len(strides) + 1 widths: the MLP's feature map, then each block's output
    mlp_hidden: int = 512
    encoding_levels: int = 80
    encoding_base: float = 1.25

    def __post_init__(self):
        if len(self.channels) != len(self.strides) + 1 or min(self.channels) < 1 or min(self.strides) < 1:
            raise ValueError(f"invalid NeRV configuration {self}")

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> "NervConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def positional_encoding(t: torch.Tensor, levels: int, base: float) -> torch.Tensor:
    """``(B,)`` -> ``(B, 2 * levels)``: ``sin`` and ``cos`` of ``base**i * pi * t``."""
    freqs = base ** torch.arange(levels, dtype=torch.float32, device=t.device) * math.pi
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], 1)


class NervBlock(nn.Module):
    """``conv3x3 -> PixelShuffle(stride) -> GELU``."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out * stride * stride, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stride)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shuffle(self.conv(x)))


class Nerv(nn.Module):
    """The NeRV network (see the module docstring)."""

    def __init__(self, cfg: NervConfig):
        super().__init__()
        self.cfg = cfg
        h0, w0 = cfg.base
        self.mlp = nn.Sequential(
            nn.Linear(2 * cfg.encoding_levels, cfg.mlp_hidden), nn.GELU(),
            nn.Linear(cfg.mlp_hidden, cfg.channels[0] * h0 * w0), nn.GELU(),
        )
        self.blocks = nn.ModuleList(NervBlock(a, b, s) for a, b, s in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides))
        self.head = nn.Conv2d(cfg.channels[-1], 3, 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        h0, w0 = self.cfg.base
        x = self.mlp(positional_encoding(t, self.cfg.encoding_levels, self.cfg.encoding_base))
        x = x.view(-1, self.cfg.channels[0], h0, w0)
        for block in self.blocks:
            x = block(x)
        return (torch.tanh(self.head(x)) + 1) / 2


def count_parameters(cfg: NervConfig) -> int:
    h0, w0 = cfg.base
    e = 2 * cfg.encoding_levels
    total = (e + 1) * cfg.mlp_hidden + (cfg.mlp_hidden + 1) * cfg.channels[0] * h0 * w0
    for a, b, s in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides):
        total += (9 * a + 1) * b * s * s
    return total + (cfg.channels[-1] + 1) * 3


def macs_per_frame(cfg: NervConfig) -> int:
    """Multiply-accumulates of rendering one frame: the MLP, each block's 3x3 convolution at its
    input resolution, the 1x1 head at full resolution."""
    h, w = cfg.base
    total = 2 * cfg.encoding_levels * cfg.mlp_hidden + cfg.mlp_hidden * cfg.channels[0] * h * w
    for a, b, s in zip(cfg.channels[:-1], cfg.channels[1:], cfg.strides):
        total += 9 * a * b * s * s * h * w
        h, w = h * s, w * s
    return total + cfg.channels[-1] * 3 * h * w


def plan_strides(height: int, width: int, max_base: int = 16) -> tuple[tuple[int, int], tuple[int, ...]]:
    """Base grid and strides covering ``height x width``, as NeRV lays out 720p (a 5 first, then 2s):
    the smallest scale ``2**n`` or ``5 * 2**n`` whose base grid has at most ``max_base`` on its longer
    side, the base rounded up (the frame is fitted padded and cropped)."""
    best = None
    for n in range(12):
        for five in (False, True):
            scale = (5 if five else 1) * 2**n
            base = (math.ceil(height / scale), math.ceil(width / scale))
            if max(base) <= max_base and (best is None or scale < best[0]):
                best = (scale, base, ((5,) if five else ()) + (2,) * n)
    scale, base, strides = best
    return base, strides or (1,)


#: NeRV's published layout (``train_nerv.py`` of the official code: ``--expansion 1 --reduction 2
#: --lower-width 96 --stem_dim_num 512_1 --embed 1.25_40``); at 1280x720 (base 9x16, strides 5 2 2 2 2)
#: ``C0`` = 26 / 58 / 112 gives NeRV-S / M / L (3.2 / 6.3 / 12.5 M parameters)
PAPER_LOWER_WIDTH = 96
PAPER_MLP_HIDDEN = 512
PAPER_ENCODING_LEVELS = 40


def paper_widths(c0: int, blocks: int) -> tuple[int, ...]:
    """``C0``, then ``C0`` (expansion 1), then halving (at least 96) per block: NeRV's own rule."""
    widths = [c0, c0]
    for _ in range(blocks - 1):
        widths.append(max(widths[-1] // 2, PAPER_LOWER_WIDTH))
    return tuple(widths[: blocks + 1])


def for_size(height: int, width: int, target: int, reduction: float = 1.2, encoding_levels: int = 80,
             recipe: str = "cpu") -> NervConfig:
    """A configuration for frames of ``height x width`` with about ``target`` parameters; the first
    width is searched.  ``recipe="cpu"``: the widths shrink by ``reduction`` per block (HNeRV's
    channel reduction) and the MLP is 4x the first width (32..512); ``"paper"``: NeRV's published
    layout (:func:`paper_widths`, a 512-wide MLP, 40 encoding levels)."""
    base, strides = plan_strides(height, width)

    def make(c0: int) -> NervConfig:
        if recipe == "paper":
            return NervConfig(base, strides, paper_widths(c0, len(strides)), PAPER_MLP_HIDDEN, PAPER_ENCODING_LEVELS)
        widths = [c0]
        for _ in strides:
            widths.append(max(8, int(round(widths[-1] / reduction))))
        return NervConfig(base, strides, tuple(widths), min(512, max(32, 4 * c0)), encoding_levels)

    return nearest_size(make, count_parameters, target, range(1 if recipe == "paper" else 4, 2049, 1 if recipe == "paper" else 2))
