"""Training images: folders of photos served as random crops.

Images are decoded once into memory (uint8).  Each crop takes a random region, scales it
down by a random factor (which also removes JPEG artefacts of the source photos), flips it,
and returns a float tensor ``(3, crop, crop)`` in [0, 1].

Evaluation pictures are refused twice over: a folder whose path names an evaluation set
(``kodak``, ``kodim``) is refused outright, and every image is recognised by its *content*:
a picture of the size of a Kodak image is decoded and the SHA-256 of its pixels (upright,
rotated by a multiple of 90 degrees or mirrored) is looked up in the table of the 24 Kodak
pictures shipped in ``assets/kodak_pixels.sha256`` -- so a renamed copy, or one re-saved in
another lossless format, is refused too.  A lossily re-encoded, resized, cropped or recoloured
copy has other pixels and is not recognised.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import CodecArgumentError
from .paths import ASSETS_DIR

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp", ".tif", ".tiff"}
EVALUATION_ONLY = ("kodak", "kodim")
EVALUATION_DIGESTS = ASSETS_DIR / "kodak_pixels.sha256"


def check_training_folder(folder: str | os.PathLike, evaluation_only: tuple[str, ...] = EVALUATION_ONLY) -> Path:
    """``folder`` as a Path; :class:`CodecArgumentError` if it is missing or an evaluation-only set."""
    root = Path(folder)
    tag = next((t for t in evaluation_only if t in str(root).lower()), None)
    if tag is not None:
        raise CodecArgumentError(f"{root}: {tag} is for evaluation only; never train on it")
    if not root.is_dir():
        raise CodecArgumentError(f"training folder not found: {root}")
    return root


@functools.lru_cache(maxsize=1)
def evaluation_pictures() -> tuple[dict[str, str], frozenset]:
    """``({pixel SHA-256: picture name}, {(width, height) of those pictures, either way round})``."""
    digests, sizes = {}, set()
    for line in EVALUATION_DIGESTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name, size = line.split()
            width, height = map(int, size.split("x"))
            digests[digest] = name
            sizes |= {(width, height), (height, width)}
    return digests, frozenset(sizes)


def evaluation_picture_name(pixels: np.ndarray) -> str | None:
    """The name of the evaluation picture (e.g. ``kodim23``) whose pixels uint8 ``(H, W, 3)`` these
    are -- upright, rotated by a multiple of 90 degrees or mirrored -- or ``None``."""
    digests, sizes = evaluation_pictures()
    if pixels.ndim != 3 or pixels.shape[2] != 3 or (pixels.shape[1], pixels.shape[0]) not in sizes:
        return None
    for turns in range(4):
        turned = np.rot90(pixels, turns)
        for view in (turned, turned[:, ::-1]):
            name = digests.get(hashlib.sha256(np.ascontiguousarray(view).tobytes()).hexdigest())
            if name is not None:
                return name
    return None


def check_not_evaluation_picture(path: str | os.PathLike, pixels: np.ndarray | None = None) -> None:
    """:class:`CodecArgumentError` if the image at ``path`` (or its decoded RGB ``pixels``) is an
    evaluation picture.  Only files of an evaluation picture's size are decoded; unreadable files
    are left to whoever reads them."""
    if pixels is None:
        try:
            with Image.open(path) as img:
                if img.size not in evaluation_pictures()[1]:
                    return
                pixels = np.asarray(img.convert("RGB"))
        except (OSError, ValueError, Image.DecompressionBombError):
            return
    name = evaluation_picture_name(pixels)
    if name is not None:
        raise CodecArgumentError(f"{path}: this picture is {name} of the Kodak set (recognised by its pixels, "
                                 "whatever the file is called); it is for evaluation only: never train on it")


def list_images(folders: list[str | os.PathLike]) -> list[Path]:
    """Every image file below the folders, sorted; refuses evaluation-only sets and pictures."""
    files: list[Path] = []
    for folder in folders:
        root = check_training_folder(folder)
        files += sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CodecArgumentError(f"no images found in {', '.join(map(str, folders))}")
    for path in files:
        check_not_evaluation_picture(path)
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
            check_not_evaluation_picture(path, np.asarray(rgb))
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
