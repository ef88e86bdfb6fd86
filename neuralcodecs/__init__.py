"""neuralcodecs: learned image and video codecs that write real arithmetic-coded files.

Quick use::

    import neuralcodecs as nc
    data = nc.encode("photo.png", codec="hyperprior", quality=4)   # bytes of a .ncb file
    pixels = nc.decode(data)                                       # uint8 (H, W, 3)
    nc.read_header(data).width

Every function raises a subclass of :class:`neuralcodecs.errors.NeuralCodecsError` for bad
input; damaged files raise :class:`neuralcodecs.errors.BitstreamError` subclasses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import registry
from .bitstream import Header, read_header, unpack
from .errors import BitstreamError, NeuralCodecsError

__version__ = "0.1.0"


def list_codecs() -> list[str]:
    """Names of the codecs this installation has."""
    return registry.names()


def load_codec(name: str, weights: str | Path | None = None, device: str = "cpu"):
    """The codec ``name`` with its shipped weights (or ``weights``), on ``device``."""
    return registry.load(name, weights, device)


def encode(image, codec: str = "hyperprior", quality: float | None = None, device: str = "cpu", **options) -> bytes:
    """Encode an image (path, PIL image or uint8 array) into the bytes of a ``.ncb`` file.

    ``options`` go to the codec's ``encode`` (``alpha="composite"``, ``max_pixels=...``).
    """
    return load_codec(codec, device=device).encode(image, quality=quality, **options)


def decode(data: bytes, weights: str | Path | None = None, device: str = "cpu", max_pixels: int | None = None) -> np.ndarray:
    """Decode a ``.ncb`` file's bytes into uint8 ``(H, W, 3)`` pixels.

    The header names the codec and the fingerprint of its weights, which selects the
    shipped (or retired) weights file; ``weights`` overrides that choice;
    ``max_pixels`` (default 40 MP) bounds the picture size the decoder accepts.
    """
    header, sections = unpack(data)
    codec = registry.load(header.codec, weights=weights, device=device, fingerprint=header.fingerprint)
    if max_pixels is None:
        return codec.decode_parsed(header, sections)
    return codec.decode_parsed(header, sections, max_pixels)


__all__ = [
    "encode",
    "decode",
    "read_header",
    "list_codecs",
    "load_codec",
    "Header",
    "BitstreamError",
    "NeuralCodecsError",
]
