"""``ncodec train --codec student``: labelled images, the two stages, and the export.

Data (``labelled_images``): every image below the ``--data`` folders, labelled by its folder name
through a class map (``<folder> ... <ImageNet index>`` lines; by default the ``SOURCE.txt`` found
in a data folder or one of its two parents, as Imagenette ships it); random square crops of
``--crop`` pixels (the short side scaled by a factor in ``[--min-scale, 1]``) and mirror images.

Stage 1 (``--model-args '{"stage": 1}'``, the default) trains encoder, gains, priors and decoder
on head distillation with a rate penalty; stage 2 (``'{"stage": 2}'`` with ``--init-from`` the
stage-1 checkpoint) fine-tunes decoder, tail and classifier for the task with the bitstream
frozen.  One uniformly drawn level per batch.  ``--teacher PATH``: the MobileNetV2 ImageNet-1k
weights (torchvision layout) whose stem the student replaces and whose tail it keeps.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..codec import Objective
from ..errors import CodecArgumentError
from .model import EntropicStudent, build

DATA_KIND = "labelled_images"


def find_class_map(folders: list[str]) -> Path:
    """The ``SOURCE.txt`` class map in one of ``folders`` or up to two levels above them."""
    for folder in folders:
        for parent in [Path(folder), *list(Path(folder).resolve().parents)[:2]]:
            if (parent / "SOURCE.txt").is_file():
                return parent / "SOURCE.txt"
    raise CodecArgumentError(f"no class map (SOURCE.txt) in or above {', '.join(folders)}; pass --class-map")


class LabelledImages:
    """Labelled training images kept in memory; :meth:`batch` draws augmented crops.

    Args:
        files: image paths; ``labels``: their class indexes.
        crop: side of the square crops (pixels); ``min_scale``: smallest side fraction cropped.
        seed: this sampler's random seed.
    """

    def __init__(self, files: list[Path], labels: list[int], crop: int, min_scale: float = 0.5, seed: int = 0):
        self.crop, self.min_scale, self.rng = int(crop), float(min_scale), random.Random(seed)
        self.images = []
        for path in files:
            with Image.open(path) as img:
                self.images.append(img.convert("RGB"))
        self.labels = list(labels)

    def sample(self) -> tuple[torch.Tensor, int]:
        k = self.rng.randrange(len(self.images))
        img = self.images[k]
        w, h = img.size
        side = max(1, int(round(min(w, h) * self.rng.uniform(self.min_scale, 1.0))))
        left, top = self.rng.randint(0, w - side), self.rng.randint(0, h - side)
        patch = img.crop((left, top, left + side, top + side)).resize((self.crop, self.crop), Image.BILINEAR)
        arr = np.asarray(patch, dtype=np.uint8)
        if self.rng.random() < 0.5:
            arr = arr[:, ::-1]
        return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0), self.labels[k]

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        """``{"pixels": (size, 3, crop, crop) in [0, 1], "labels": (size,) int64}``."""
        pixels, labels = zip(*(self.sample() for _ in range(size)))
        return {"pixels": torch.stack(pixels), "labels": torch.tensor(labels, dtype=torch.int64)}


def make_data(cfg, seed: int) -> LabelledImages:
    """The sampler of a training run (``cfg``: :class:`neuralcodecs.train.TrainConfig`)."""
    from ..data import list_images
    from ..perception import folder_labels

    label_of = folder_labels(cfg.class_map or find_class_map(cfg.data))
    files = list_images(cfg.data)
    return LabelledImages(files, [label_of(p) for p in files], cfg.crop, cfg.min_scale, seed)


def loss(model: EntropicStudent, batch: dict) -> dict:
    """One batch of the model's stage at one uniformly drawn level."""
    from ..perception import imagenet_normalize

    level = int(torch.randint(0, model.num_levels, ()))
    return model.loss(imagenet_normalize(batch["pixels"]), batch["labels"], level)


def training_objective() -> Objective:
    from .export import export_from_checkpoint

    return Objective(
        build=build,
        data=DATA_KIND,
        make_data=make_data,
        loss=loss,
        aux_loss=lambda model: model.aux_loss(),
        is_aux_parameter=lambda name: name.endswith(".quantiles"),
        export=export_from_checkpoint,
    )
