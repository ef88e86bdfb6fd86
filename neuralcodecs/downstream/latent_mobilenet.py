"""Compressed-domain classification: MobileNetV2 reading a codec's latents instead of pixels.

The pretrained MobileNetV2 (torchvision layout, ImageNet-1k weights from a local file) is cut
where its activations have the latents' stride: its first blocks (the pixel stem) are replaced
by a small :class:`LatentAdapter` that maps the entropy-decoded latents
(:func:`neuralcodecs.latents`, no synthesis transform) to the activations the rest of the network
expects, and the rest -- the *tail* -- runs unchanged.

===========  ==========================  ===============================
latent       replaces blocks             adapter output
===========  ==========================  ===============================
stride 4     ``features[0:4]``           24 channels (``features[3]``)
stride 8     ``features[0:7]``           32 channels (``features[6]``)
stride 16    ``features[0:8]``           64 channels (``features[7]``)
===========  ==========================  ===============================

Training (:mod:`neuralcodecs.downstream.train_latent`): the adapter first learns to reproduce
the pixel-domain network's activations at the cut (distillation from the teacher seeing the
original image), then adapter and tail are fine-tuned on labels with the teacher's logits as
soft targets.  Shapes: latents ``(B, C, h, w)``; logits ``(B, 1000)``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import WeightsError

CUTS = {4: (4, 24), 8: (7, 32), 16: (8, 64)}  # latent stride -> (first tail block, its input channels)


def mobilenet_v2(weights_path: str | Path) -> nn.Module:
    """torchvision's MobileNetV2 with ImageNet-1k weights read from ``weights_path`` (eval mode)."""
    import torchvision

    path = Path(weights_path)
    if not path.is_file():
        raise WeightsError(f"MobileNetV2 weights not found: {path}")
    model = torchvision.models.mobilenet_v2(weights=None)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, ValueError, KeyError) as exc:
        raise WeightsError(f"{path} is not a torchvision MobileNetV2 state dict: {exc}") from None
    return model.eval()


class LatentAdapter(nn.Module):
    """Latents ``(B, C, h, w)`` -> MobileNetV2 activations ``(B, out_channels, h, w)``.

    A per-channel normalization of the latents (their scales differ by codec: 8-bit companded
    integers for walloc, dequantized ``y`` for hyperprior), then an inverted residual block at
    ``width`` channels with a 1x1 projection, as MobileNetV2's own blocks are built.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 192):
        super().__init__()
        self.normalize = nn.BatchNorm2d(in_channels)
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU6(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, groups=width, bias=False), nn.BatchNorm2d(width), nn.ReLU6(inplace=True),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU6(inplace=True),
            nn.Conv2d(width, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.body(self.normalize(latents.float()))


class LatentMobileNet(nn.Module):
    """:class:`LatentAdapter` + the MobileNetV2 tail for latents of ``in_channels`` at ``stride``.

    Args:
        in_channels: latent channels ``C``.
        stride: pixels per latent position (8 or 16).
        teacher: a pretrained MobileNetV2 whose tail (and classifier) is copied; ``None`` builds
            an untrained one (for loading saved weights).
        width: the adapter's hidden width.
    """

    def __init__(self, in_channels: int, stride: int, teacher: nn.Module | None = None, width: int = 192):
        super().__init__()
        if stride not in CUTS:
            raise ValueError(f"latents at stride {stride} have no MobileNetV2 cut; supported: {sorted(CUTS)}")
        if teacher is None:
            import torchvision

            teacher = torchvision.models.mobilenet_v2(weights=None)
        self.in_channels, self.stride, self.width = int(in_channels), int(stride), int(width)
        self.cut, channels = CUTS[stride]
        self.adapter = LatentAdapter(in_channels, channels, width)
        self.tail = copy.deepcopy(nn.Sequential(*teacher.features[self.cut :]))
        self.classifier = copy.deepcopy(teacher.classifier)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, 1000)`` of latents ``(B, C, h, w)``."""
        x = self.tail(self.adapter(latents))
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    @staticmethod
    def teacher_activations(teacher: nn.Module, pixels: torch.Tensor, stride: int) -> torch.Tensor:
        """The pixel-domain network's activations at the cut for normalized pixels ``(B, 3, H, W)``."""
        return teacher.features[: CUTS[stride][0]](pixels)


class PixelMobileNet(nn.Module):
    """The whole MobileNetV2, fine-tuned on one codec point's *decoded* pixels.

    The pixel-domain counterpart of :class:`LatentMobileNet`, trained the same way (labels plus
    the teacher's soft targets, same epochs, same images) so that latent and pixel paths are
    compared on equal terms.  Input: ImageNet-normalized pixels ``(B, 3, H, W)``; logits
    ``(B, 1000)``.
    """

    def __init__(self, teacher: nn.Module | None = None):
        super().__init__()
        if teacher is None:
            import torchvision

            teacher = torchvision.models.mobilenet_v2(weights=None)
        self.net = copy.deepcopy(teacher)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.net(pixels)
