"""Projectors: a codec's latents -> one token per position of a stride-16 grid.

A :class:`TokenProjector` is trained per codec (and quality) by distillation: it learns to
reproduce, from the latents alone, the pixel-domain MobileNetV2's feature map at stride 16 (the
output of ``features[:14]``, 96 channels: :data:`TEACHER_CHANNELS`) -- features that carry the
picture's semantics at a 16x16-pixel granularity, the granularity of a ViT's patch tokens.  Its
last layer, ``head``, maps those 96 channels to the target model's hidden size ``D`` (identity
for ``D = 96``): aligning ``head`` with a given language model is that model's own multimodal
training, which needs its weights (none can be downloaded here).

=============  =============================================  ==============================
latent stride  layers                                          token grid
=============  =============================================  ==============================
4              adapter -> MobileNetV2 ``features[4:14]``       stride 16 (two stride-2 blocks)
8              adapter -> MobileNetV2 ``features[7:14]``       stride 16 (one stride-2 block)
16             adapter -> MobileNetV2 ``features[8:14]``       stride 16
=============  =============================================  ==============================

The adapter is :class:`~neuralcodecs.downstream.latent_mobilenet.LatentAdapter` (the stem of the
latent-domain classifier); the MobileNetV2 blocks start from the ImageNet weights.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from ..downstream.latent_mobilenet import CUTS, LatentAdapter
from ..errors import CodecArgumentError

TOKEN_STRIDE = 16
TEACHER_BLOCKS = 14  # MobileNetV2 features[:14] ends the stride-16 stage
TEACHER_CHANNELS = 96
#: the adapter's hidden width by latent stride: stride-4 latents have 4x the positions of stride-8
#: ones, so half the width keeps the adapter's work per pixel at about the stride-8 adapter's
ADAPTER_WIDTH = {4: 96, 8: 192, 16: 192}


def teacher_tokens(teacher: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """The teacher's stride-16 feature map ``(B, 96, H/16, W/16)`` for normalized pixels ``(B, 3, H, W)``."""
    return teacher.features[:TEACHER_BLOCKS](pixels)


class TokenProjector(nn.Module):
    """Latents ``(B, C, h, w)`` at ``stride`` -> tokens ``(B, D, h * stride / 16, w * stride / 16)``.

    Args:
        in_channels: latent channels ``C``.
        stride: pixels per latent position (4, 8 or 16).
        width: the adapter's hidden width (default :data:`ADAPTER_WIDTH` of the stride).
        dim: token size ``D``.
        teacher: a pretrained MobileNetV2 whose blocks start the body; ``None`` builds an
            untrained one (for loading saved weights).
    """

    def __init__(self, in_channels: int, stride: int, dim: int = TEACHER_CHANNELS, teacher: nn.Module | None = None,
                 width: int | None = None):
        super().__init__()
        if stride not in CUTS:
            raise CodecArgumentError(f"latents at stride {stride} have no projector; supported strides: {sorted(CUTS)}")
        if teacher is None:
            import torchvision

            teacher = torchvision.models.mobilenet_v2(weights=None)
        width = ADAPTER_WIDTH[stride] if width is None else width
        self.in_channels, self.stride, self.dim, self.width = int(in_channels), int(stride), int(dim), int(width)
        self.source: dict = {}  # codec and codec-weights fingerprint it was trained on (set when loaded)
        cut, channels = CUTS[stride]
        self.adapter = LatentAdapter(in_channels, channels, width)
        self.body = copy.deepcopy(nn.Sequential(*teacher.features[cut:TEACHER_BLOCKS]))
        self.head = nn.Conv2d(TEACHER_CHANNELS, dim, 1)
        with torch.no_grad():
            if dim == TEACHER_CHANNELS:
                self.head.weight.copy_(torch.eye(dim)[:, :, None, None])
            self.head.bias.zero_()

    def features(self, latents: torch.Tensor) -> torch.Tensor:
        """The distilled teacher-space features ``(B, 96, h', w')`` (before ``head``)."""
        return self.body(self.adapter(latents))

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(latents))


def pool_rate(bits: torch.Tensor, factor: int) -> torch.Tensor:
    """Bits per latent position ``(h, w)`` -> bits per token ``(ceil(h/f), ceil(w/f))`` (sums; padded with 0)."""
    if factor == 1:
        return bits
    h, w = bits.shape[-2:]
    padded = nn.functional.pad(bits, (0, -w % factor, 0, -h % factor))
    return nn.functional.avg_pool2d(padded[None].float(), factor)[0] * factor * factor
