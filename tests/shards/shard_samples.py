"""Small image folders for the shard tests: crops of the bundled photo, coded with walloc (the
fastest codec to encode, a few milliseconds per crop)."""

from pathlib import Path

import numpy as np
from PIL import Image

from neuralcodecs.demo import PHOTO

CODEC, QUALITY = "walloc", 2.0


def make_folder(root: Path, per_class: int = 4, size: tuple[int, int] = (32, 48), gray: bool = True) -> Path:
    """``root/cat/*.png``, ``root/dog/*.png`` (``per_class`` crops each, ``size`` = (h, w)) and, with
    ``gray``, an unlabelled grayscale ``root/gray.png``."""
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    h, w = size
    for c, (cls, dy) in enumerate((("cat", 0), ("dog", 260))):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            y, x = dy + 29 * i, 61 * i + 7 * c
            Image.fromarray(photo[y : y + h, x : x + w]).save(root / cls / f"{i}.png")
    if gray:
        Image.fromarray(photo[100 : 100 + h, 300 : 300 + w]).convert("L").save(root / "gray.png")
    return root
