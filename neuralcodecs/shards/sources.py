"""The images a dataset is made of: an image folder or a file list, in a fixed order.

Folder: every image below it (by suffix, :data:`neuralcodecs.data.IMAGE_SUFFIXES`), sorted by
their path relative to the folder; the class of an image is the name of the folder that holds
it (ImageNet / Imagenette layout: ``train/n01440764/x.JPEG`` is of class ``n01440764``); images
directly in the folder have none.  File list (a text file): one image per line, ``PATH`` or
``PATH<TAB>CLASS``, relative paths relative to the list's folder, blank lines and ``#`` lines
skipped; without a class the holding folder's name is the class, as for a folder.  A list keeps
its own order.

Classes are numbered in sorted order (``label`` 0, 1, ...); an image without a class has label -1.
With ``mirror`` every image is followed by its mirror image (left-right flip), a sample of its own.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..data import IMAGE_SUFFIXES
from ..errors import CodecArgumentError


@dataclass(frozen=True)
class SourceImage:
    """One sample to encode.

    Attributes:
        index: position in the dataset (0-based), which fixes its shard and key.
        path: the image file, absolute.
        name: the source name written into the sample: the path relative to the dataset's
            ``source_root`` (posix separators), or absolute where a list names a file elsewhere.
        class_name: the class, ``""`` for none.
        label: index of ``class_name`` in the sorted classes, -1 for none.
        mirror: encode the left-right mirror image of ``path``.
    """

    index: int
    path: str
    name: str
    class_name: str
    label: int
    mirror: bool = False

    def task(self) -> dict:
        """The plain dict the encoding workers receive (picklable, an Arrow row for Ray Data)."""
        return {"index": self.index, "path": self.path, "name": self.name, "class_name": self.class_name,
                "label": self.label, "mirror": self.mirror}


@dataclass(frozen=True)
class SourceList:
    """The ordered samples of a dataset and what identifies them.

    Attributes:
        root: the folder source names are relative to (the image folder, or the list's folder).
        samples: every sample in dataset order.
        classes: the sorted class names.
        digest: SHA-256 over each sample's name, class, mirror flag and file size: a resumed run
            must see the same value.
    """

    root: Path
    samples: tuple[SourceImage, ...]
    classes: tuple[str, ...]
    digest: str


def _folder_entries(root: Path) -> list[tuple[Path, str, str]]:
    files = sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                   key=lambda p: p.relative_to(root).as_posix())
    return [(p, p.relative_to(root).as_posix(), p.parent.name if p.parent != root else "") for p in files]


def _list_entries(listing: Path) -> list[tuple[Path, str, str]]:
    try:
        lines = listing.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CodecArgumentError(f"cannot read the file list {listing}: {exc}") from None
    root, entries = listing.parent, []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        written, _, class_name = line.rstrip("\r\n").partition("\t")
        path = Path(written.strip())
        full = path if path.is_absolute() else root / path
        if not full.is_file():
            raise CodecArgumentError(f"{listing}, line {number}: image not found: {full}")
        entries.append((full, path.as_posix(), class_name.strip() if class_name else full.parent.name))
    return entries


def list_sources(source: str | os.PathLike, mirror: bool = False) -> SourceList:
    """The samples of the image folder or file list ``source`` (see the module docstring).

    Raises:
        CodecArgumentError: ``source`` is missing, holds no image, or a listed image is missing.
    """
    source = Path(source)
    if source.is_dir():
        root, entries = source.resolve(), _folder_entries(source.resolve())
    elif source.is_file():
        root, entries = source.resolve().parent, _list_entries(source.resolve())
    else:
        raise CodecArgumentError(f"source not found: {source} (give an image folder or a file list)")
    if not entries:
        raise CodecArgumentError(f"no images in {source} (suffixes: {', '.join(sorted(IMAGE_SUFFIXES))})")
    classes = tuple(sorted({c for _, _, c in entries if c}))
    number = {c: i for i, c in enumerate(classes)}
    digest = hashlib.sha256()
    samples = []
    for path, name, class_name in entries:
        size = path.stat().st_size
        for flipped in (False, True) if mirror else (False,):
            samples.append(SourceImage(len(samples), str(path), name, class_name, number.get(class_name, -1), flipped))
            digest.update(f"{name}\t{class_name}\t{int(flipped)}\t{size}\n".encode())
    return SourceList(root, tuple(samples), classes, digest.hexdigest())
