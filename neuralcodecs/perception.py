"""Machine-perception quality: a fixed pretrained classifier on decoded images.

The classifier is torchvision's MobileNetV2 with ImageNet-1k weights loaded from a local
file (nothing is downloaded).  Preprocessing is torchvision's ImageNet evaluation recipe:
resize the short side to 256 (bilinear, antialiased), centre-crop 224, normalize.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .errors import CodecArgumentError, WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """Float pixels ``(B, 3, H, W)`` in [0, 1] -> ImageNet-normalized (per-channel mean and std)."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x - mean) / std


def normalize_pixels(pixels) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` or ``(B, H, W, 3)`` (array or tensor) -> normalized float ``(B, 3, H, W)``
    (``B = 1`` for one picture), no resizing."""
    x = pixels.float() if isinstance(pixels, torch.Tensor) else torch.from_numpy(np.array(pixels, dtype=np.float32))
    x = x[None] if x.dim() == 3 else x
    return imagenet_normalize(x.permute(0, 3, 1, 2) / 255.0)


def imagenet_preprocess(pixels: np.ndarray, resize: int = 256, crop: int = 224) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> normalized float ``(1, 3, crop, crop)``."""
    x = torch.from_numpy(np.array(pixels, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
    h, w = x.shape[2:]
    scale = resize / min(h, w)
    size = (max(crop, round(h * scale)), max(crop, round(w * scale)))
    x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    return imagenet_normalize(x[:, :, top : top + crop, left : left + crop])


class MobileNetClassifier:
    """``classifier(pixels) -> ImageNet class index`` with MobileNetV2 weights from a file."""

    def __init__(self, weights_path: str | Path):
        import torchvision

        path = Path(weights_path)
        if not path.is_file():
            raise WeightsError(f"classifier weights not found: {path}")
        self.model = torchvision.models.mobilenet_v2(weights=None)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.model.load_state_dict(state)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise WeightsError(f"{path} is not a torchvision MobileNetV2 state dict: {exc}") from None
        self.model.eval()

    @classmethod
    def factory(cls, weights_path: str | Path) -> Callable[[], "MobileNetClassifier"]:
        """A picklable zero-argument constructor (for worker processes)."""
        return functools.partial(cls, str(weights_path))

    @torch.no_grad()
    def __call__(self, pixels: np.ndarray) -> int:
        return int(self.model(imagenet_preprocess(pixels)).argmax(1))


def read_class_map(path: str | Path) -> dict[str, int]:
    """Folder name -> class index, from lines ``<folder> ... <index>`` (other lines ignored)."""
    mapping = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise CodecArgumentError(f"cannot read class map {path}: {exc}") from None
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[-1].isdigit() and not parts[0].endswith(":"):
            mapping[parts[0]] = int(parts[-1])
    if not mapping:
        raise CodecArgumentError(f"no '<folder> ... <index>' lines in {path}")
    return mapping


def folder_labels(class_map_path: str | Path) -> Callable[[Path], int]:
    """A picklable ``path -> class index`` that reads the image's parent folder name."""
    return functools.partial(_label_of, read_class_map(class_map_path))


def _label_of(mapping: dict[str, int], path: Path) -> int:
    try:
        return mapping[path.parent.name]
    except KeyError:
        raise CodecArgumentError(f"{path}: folder {path.parent.name!r} is not in the class map") from None


class MobileNetFeatureDistance:
    """A perceptual distance from MobileNetV2 ImageNet features, LPIPS-style without learned weights.

    Both pictures (uint8 ``(H, W, 3)``, same size, at full resolution) are normalized as for
    ImageNet and run through ``mobilenet_v2.features``; at the outputs of blocks ``TAPS`` the
    feature vectors are unit-normalized across channels, and the distance is the sum over taps
    of the spatial mean of their squared differences (Zhang et al. 2018 with uniform channel
    weights).  It is *not* LPIPS (no LPIPS weights are available offline); 0 means identical
    features, larger is farther.
    """

    TAPS = (1, 3, 6, 13, 17)

    def __init__(self, weights_path: str | Path):
        self.features = MobileNetClassifier(weights_path).model.features

    @torch.no_grad()
    def _taps(self, pixels: np.ndarray) -> list[torch.Tensor]:
        x = normalize_pixels(pixels)
        out = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.TAPS:
                out.append(x / (x.norm(dim=1, keepdim=True) + 1e-10))
        return out

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        if np.shape(a) != np.shape(b):
            raise CodecArgumentError(f"feature distance needs pictures of one size, got {np.shape(a)} and {np.shape(b)}")
        return float(sum(((fa - fb) ** 2).sum(1).mean() for fa, fb in zip(self._taps(a), self._taps(b))))
