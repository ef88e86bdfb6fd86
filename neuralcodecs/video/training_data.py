"""Video training data: random crops of runs of consecutive frames (the ``frame_pairs`` and
``clips`` data kinds of :class:`~neuralcodecs.codec.Objective`).

A *sequence* is a folder that directly holds at least two frame images (PNG/JPEG), in natural
name order -- the Vimeo-90K septuplet layout (``sequences/00001/0001/im1.png ... im7.png``) and
the DAVIS layout (``blackswan/00000.jpg ...``) both qualify.  Frames are decoded once into
memory (uint8).  A sample picks a sequence (weighted by how many windows it has), a start frame
and a window of ``length`` frames ``step`` apart, then applies *the same* random crop, downscale
and horizontal flip to every frame of the window, so that the motion between them is the
clip's own.  Evaluation clips (BasketballPass, Big Buck Bunny, Kodak) are refused by folder name, and
Kodak pictures also by their pixels (:func:`neuralcodecs.data.check_not_evaluation_picture`).
"""

from __future__ import annotations

import copy
import os
import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data import EVALUATION_ONLY as IMAGE_EVALUATION_ONLY
from ..data import check_not_evaluation_picture, check_training_folder
from ..errors import CodecArgumentError
from .io import FRAME_SUFFIXES, natural_key

EVALUATION_ONLY = ("basketballpass", "bunny", *IMAGE_EVALUATION_ONLY)


def list_sequences(folders: list[str | os.PathLike]) -> list[list[Path]]:
    """Every folder below ``folders`` that holds two or more frames: its frames in natural order."""
    sequences: list[list[Path]] = []
    for folder in folders:
        root = check_training_folder(folder, EVALUATION_ONLY)
        for directory in sorted([root, *(p for p in root.rglob("*") if p.is_dir())]):
            frames = sorted((p for p in directory.iterdir() if p.suffix.lower() in FRAME_SUFFIXES),
                            key=lambda p: natural_key(p.name))
            if len(frames) >= 2:
                for frame in frames:
                    check_not_evaluation_picture(frame)
                sequences.append(frames)
    if not sequences:
        raise CodecArgumentError(f"no folder with two or more frames in {', '.join(map(str, folders))}")
    return sequences


class RandomFrameWindows:
    """Random crops of windows of consecutive frames, kept in memory.

    Args:
        sequences: frame paths per sequence (:func:`list_sequences`).
        crop: side of the square crops in pixels.
        length: frames per window (2 for frame pairs).
        step: frame distance inside a window (1 = consecutive).
        min_scale: smallest downscaling factor applied before cropping (1.0 = none).
        seed: seed of this loader's random generator.
    """

    def __init__(self, sequences: list[list[Path]], crop: int, length: int = 2, step: int = 1,
                 min_scale: float = 0.5, seed: int = 0):
        if length < 2 or step < 1 or crop < 1:
            raise CodecArgumentError(f"need length >= 2, step >= 1 and crop >= 1, got {length}, {step}, {crop}")
        self.crop, self.length, self.step, self.min_scale = crop, length, step, min_scale
        self.rng = random.Random(seed)
        self.sequences: list[np.ndarray] = []  # (T, H, W, 3) uint8 per sequence
        span = (length - 1) * step + 1
        for frames in sequences:
            if len(frames) < span:
                continue
            arrays = [np.asarray(Image.open(p).convert("RGB")) for p in frames]
            if len({a.shape for a in arrays}) != 1 or min(arrays[0].shape[:2]) < crop:
                continue
            self.sequences.append(np.stack(arrays))
        if not self.sequences:
            raise CodecArgumentError(f"no sequence has {span} frames of one size at least {crop} pixels on the short side")
        self.starts = [len(s) - span + 1 for s in self.sequences]

    def with_step(self, step: int, seed: int) -> "RandomFrameWindows":
        """The same decoded sequences, sampled ``step`` frames apart with a generator of its own."""
        if step < 1:
            raise CodecArgumentError(f"need step >= 1, got {step}")
        other = copy.copy(self)
        other.step, other.rng = step, random.Random(seed)
        span = (self.length - 1) * step + 1
        other.sequences = [s for s in self.sequences if len(s) >= span]
        if not other.sequences:
            raise CodecArgumentError(f"no sequence has {span} frames")
        other.starts = [len(s) - span + 1 for s in other.sequences]
        return other

    def sample(self) -> torch.Tensor:
        """One window ``(length, 3, crop, crop)`` float32 in [0, 1]."""
        index = self.rng.choices(range(len(self.sequences)), weights=self.starts)[0]
        start = self.rng.randrange(self.starts[index])
        frames = self.sequences[index][start : start + (self.length - 1) * self.step + 1 : self.step]
        h, w = frames.shape[1:3]
        low = max(self.min_scale, self.crop / min(w, h))
        scale = self.rng.uniform(low, 1.0) if low < 1.0 else 1.0
        side = min(int(round(self.crop / scale)), w, h)
        left, top = self.rng.randint(0, w - side), self.rng.randint(0, h - side)
        flip = self.rng.random() < 0.5
        out = []
        for frame in frames:
            patch = Image.fromarray(frame[top : top + side, left : left + side])
            if side != self.crop:
                patch = patch.resize((self.crop, self.crop), Image.BICUBIC, reducing_gap=2.0)
            arr = np.asarray(patch, dtype=np.uint8)
            out.append(torch.from_numpy(np.array(arr[:, ::-1] if flip else arr)))
        return torch.stack(out).permute(0, 3, 1, 2).float().div_(255.0)

    def batch(self, size: int) -> torch.Tensor:
        """``(size, length, 3, crop, crop)``."""
        return torch.stack([self.sample() for _ in range(size)])
