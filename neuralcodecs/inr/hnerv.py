"""HNeRV (Chen et al., CVPR 2023): a video as a decoder of small content-adaptive embeddings.

* **Encoder** (used while fitting only; neither stored nor counted): a ConvNeXt, one stage per
  stride ``s``: a ``k = s`` stride-``s`` convolution (with LayerNorm: after it in the first stage,
  before it in the others) and one ConvNeXt block (torchvision's ``CNBlock``: 7x7 depthwise conv,
  LayerNorm, 4x MLP with GELU, layer scale 1e-6).  Widths ``encoder_width`` for every stage but
  the last, whose convolution gives the ``embed_channels`` of the embedding
  ``(embed_channels, h0, w0)``, ``(h0, w0) = frame size / prod(strides)``.
* **Decoder**: a 1x1 convolution from the embedding to ``widths[0]`` channels and GELU, then
  one HNeRV block per stride (the same strides, in the same order): ``conv k_i -> PixelShuffle(s)
  -> GELU`` with growing kernels ``k_i = min(1 + 2 i, 5)`` and widths reduced by 1.2 per block
  (at least 12), and a 3x3 head to RGB, ``(tanh + 1) / 2``.

The official configuration for Bunny (1280x640 crop): strides 5, 4, 4, 2, 2, encoder width 64,
embedding 16 x 2 x 4.  :func:`for_size` picks strides from {5, 4, 3, 2} for any frame size and the
first decoder width for a target size that counts the decoder and every frame's embedding (what
the file holds).

Shapes: ``forward(x)`` ``(B, 3, H', W')`` (the padded frame) -> ``(B, 3, H', W')``;
``encode(x)`` -> ``(B, C, h0, w0)``; ``decode(e)`` -> frames.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from .sizing import StridedFrames, nearest_size

REDUCTION = 1.2
LOWER_WIDTH = 12
MAX_KERNEL = 5
STRIDE_CHOICES = (5, 4, 3, 2)


@dataclass(frozen=True)
class HnervConfig(StridedFrames):
    base: tuple[int, int]  # embedding grid (h0, w0)
    strides: tuple[int, ...]
    widths: tuple[int, ...]  # the decoder's widths: after its 1x1 stem, then after each block
    embed_channels: int = 16
    encoder_width: int = 64

    def __post_init__(self):
        if len(self.widths) != len(self.strides) + 1 or min(self.widths) < 1 or min(self.strides) < 1 or self.embed_channels < 1:
            raise ValueError(f"invalid HNeRV configuration {self}")

    @property
    def kernels(self) -> tuple[int, ...]:
        return tuple(min(1 + 2 * i, MAX_KERNEL) for i in range(len(self.strides)))

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def convnext_encoder(strides: tuple[int, ...], width: int, embed_channels: int) -> nn.Sequential:
    # torchvision only here: the encoder fits, a decoder never builds it (importing torchvision costs ~2.6 s)
    from torchvision.models.convnext import CNBlock, LayerNorm2d

    layers: list[nn.Module] = []
    c_in = 3
    for i, s in enumerate(strides):
        c_out = embed_channels if i == len(strides) - 1 else width
        conv = nn.Conv2d(c_in, c_out, s, stride=s)
        layers += [conv, LayerNorm2d(c_out)] if i == 0 else [LayerNorm2d(c_in), conv]
        layers.append(CNBlock(c_out, layer_scale=1e-6, stochastic_depth_prob=0.0))
        c_in = c_out
    return nn.Sequential(*layers)


class HnervDecoder(nn.Module):
    """The stored part: embedding ``(B, C, h0, w0)`` -> frame ``(B, 3, H', W')``."""

    def __init__(self, cfg: HnervConfig):
        super().__init__()
        self.stem = nn.Conv2d(cfg.embed_channels, cfg.widths[0], 1)
        self.blocks = nn.ModuleList(
            nn.Conv2d(a, b * s * s, k, padding=k // 2) for a, b, s, k in zip(cfg.widths[:-1], cfg.widths[1:], cfg.strides, cfg.kernels)
        )
        self.strides = cfg.strides
        self.head = nn.Conv2d(cfg.widths[-1], 3, 3, padding=1)
        self.act = nn.GELU()

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        x = self.act(self.stem(e))
        for conv, s in zip(self.blocks, self.strides):
            x = self.act(nn.functional.pixel_shuffle(conv(x), s))
        return (torch.tanh(self.head(x)) + 1) / 2


class Hnerv(nn.Module):
    """Encoder + decoder, fitted together on one clip (see the module docstring); ``decoder_class``
    builds the decoder (HNeRV-Boost swaps in its own)."""

    decoder_class = HnervDecoder

    def __init__(self, cfg: HnervConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = convnext_encoder(cfg.strides, cfg.encoder_width, cfg.embed_channels)
        self.decoder = self.decoder_class(cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x))


def decoder_parameters(cfg: HnervConfig) -> int:
    total = (cfg.embed_channels + 1) * cfg.widths[0]
    for a, b, s, k in zip(cfg.widths[:-1], cfg.widths[1:], cfg.strides, cfg.kernels):
        total += (k * k * a + 1) * b * s * s
    return total + (9 * cfg.widths[-1] + 1) * 3


def decoder_macs(cfg: HnervConfig) -> int:
    """Multiply-accumulates of decoding one frame from its embedding."""
    h, w = cfg.base
    total = cfg.embed_channels * cfg.widths[0] * h * w
    for a, b, s, k in zip(cfg.widths[:-1], cfg.widths[1:], cfg.strides, cfg.kernels):
        total += k * k * a * b * s * s * h * w
        h, w = h * s, w * s
    return total + 9 * cfg.widths[-1] * 3 * h * w


def stored_values(cfg: HnervConfig, frames: int) -> int:
    """What the file holds: decoder parameters plus ``frames`` embeddings."""
    return decoder_parameters(cfg) + frames * cfg.embed_channels * cfg.base[0] * cfg.base[1]


def plan_strides(height: int, width: int, max_positions: int = 8, max_blocks: int = 5) -> tuple[tuple[int, int], tuple[int, ...]]:
    """Strides (descending, from {5, 4, 3, 2}) and embedding grid for ``height x width``: the
    smallest padded frame among plans whose embedding has at most ``max_positions`` positions
    (HNeRV's 2 x 4 at 1280x640), then the most positions, then the most blocks (5, 4, 4, 2, 2 at
    1280x640, as the paper)."""
    best = None
    for n in range(1, max_blocks + 1):
        for strides in itertools.combinations_with_replacement(STRIDE_CHOICES, n):
            scale = math.prod(strides)
            base = (math.ceil(height / scale), math.ceil(width / scale))
            if base[0] * base[1] > max_positions:
                continue
            key = (base[0] * base[1] * scale * scale, -base[0] * base[1], -n)
            if best is None or key < best[0]:
                best = (key, base, tuple(strides))
    return best[1], best[2]


def for_size(height: int, width: int, frames: int, target: int, embed_channels: int = 16, encoder_width: int = 64) -> HnervConfig:
    """A configuration whose decoder plus ``frames`` embeddings hold about ``target`` values; the
    first decoder width is searched (HNeRV solves the same size equation)."""
    base, strides = plan_strides(height, width)

    def make(c0: int) -> HnervConfig:
        widths = [c0]
        for _ in strides:
            widths.append(max(LOWER_WIDTH, int(round(widths[-1] / REDUCTION))))
        return HnervConfig(base, strides, tuple(widths), embed_channels, encoder_width)

    return nearest_size(make, lambda cfg: stored_values(cfg, frames), target, range(4, 4097, 2))


def pad_frames(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(B, 3, H, W)`` -> ``(B, 3, *size)`` by edge replication on the bottom and right."""
    _, _, H, W = x.shape
    if (H, W) == tuple(size):
        return x
    return nn.functional.pad(x, (0, size[1] - W, 0, size[0] - H), mode="replicate")
