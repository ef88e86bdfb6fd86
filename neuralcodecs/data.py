"""Training images: folders of photos served as random crops.

Images are decoded once into memory (uint8).  Each crop takes a random region, scales it
down by a random factor (which also removes JPEG artefacts of the source photos), flips it,
and returns a float tensor ``(3, crop, crop)`` in [0, 1].
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import CodecArgumentError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp", ".tif", ".tiff"}
EVALUATION_ONLY = ("kodak", "kodim")


def check_training_folder(folder: str | os.PathLike, evaluation_only: tuple[str, ...] = EVALUATION_ONLY) -> Path:
    """``folder`` as a Path; :class:`CodecArgumentError` if it is missing or an evaluation-only set."""
    root = Path(folder)
    tag = next((t for t in evaluation_only if t in str(root).lower()), None)
    if tag is not None:
        raise CodecArgumentError(f"{root}: {tag} is for evaluation only; never train on it")
    if not root.is_dir():
        raise CodecArgumentError(f"training folder not found: {root}")
    return root


def list_images(folders: list[str | os.PathLike]) -> list[Path]:
    """Every image file below the folders, sorted; refuses evaluation-only sets."""
    files: list[Path] = []
    for folder in folders:
        root = check_training_folder(folder)
        files += sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CodecArgumentError(f"no images found in {', '.join(map(str, folders))}")
    return files


class RandomCrops:
    """Random crops of a set of images, kept in memory.

    Args:
        files: image paths (RGB after conversion).
        crop: side of the square crops in pixels.
        min_scale: smallest downscaling factor applied before cropping (1.0 = none).
        seed: seed of this loader's random generator.
    """

    def __init__(self, files: list[Path], crop: int, min_scale: float = 0.5, seed: int = 0):
        self.crop = crop
        self.min_scale = min_scale
        self.rng = random.Random(seed)
        self.images = []
        for path in files:
            with Image.open(path) as img:
                rgb = img.convert("RGB")
            if min(rgb.size) >= crop:
                self.images.append(rgb)
        if not self.images:
            raise ValueError(f"no training image is at least {crop} pixels on its short side")
        self.weights = [img.size[0] * img.size[1] for img in self.images]

    def sample(self) -> torch.Tensor:
        """One crop ``(3, crop, crop)`` float32 in [0, 1]."""
        img = self.rng.choices(self.images, weights=self.weights)[0]
        w, h = img.size
        max_scale = 1.0
        low = max(self.min_scale, self.crop / min(w, h))
        scale = self.rng.uniform(low, max_scale) if low < max_scale else 1.0
        side = min(int(round(self.crop / scale)), w, h)
        left = self.rng.randint(0, w - side)
        top = self.rng.randint(0, h - side)
        patch = img.crop((left, top, left + side, top + side))
        if side != self.crop:
            patch = patch.resize((self.crop, self.crop), Image.BICUBIC, reducing_gap=2.0)
        arr = np.asarray(patch, dtype=np.uint8)
        if self.rng.random() < 0.5:
            arr = arr[:, ::-1]
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)

    def batch(self, size: int) -> torch.Tensor:
        """``(size, 3, crop, crop)``."""
        return torch.stack([self.sample() for _ in range(size)])
