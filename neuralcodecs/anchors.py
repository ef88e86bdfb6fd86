"""Classical image codecs through Pillow, as rate-distortion anchors.

Each anchor encodes uint8 ``(H, W, 3)`` pixels to the bytes of a real file of its own
format and decodes them back.  ``quality`` follows each format's own knob:

=========  ==========================================================  ===================
anchor     Pillow call                                                  default sweep
=========  ==========================================================  ===================
jpeg       ``quality=q`` (1..95), 4:2:0, optimized Huffman              5..95
webp       ``quality=q`` (0..100), ``method=6``                         0..95
avif       ``quality=q`` (0..100), ``speed=4``, 4:4:4 (chroma not     10..90
           subsampled, the fair choice for PSNR-RGB)
jpeg2000   irreversible 9/7 wavelet and colour transform, ``quality_mode="rates"`` with a   0.1..2.0 bpp target
           target of ``q`` bits per pixel (ratio ``24 / q``)
=========  ==========================================================  ===================
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from .errors import CodecArgumentError


@dataclass(frozen=True)
class Anchor:
    """A classical codec: ``encode(pixels, quality) -> bytes`` and ``decode(bytes) -> pixels``.

    Attributes:
        name: short name (``jpeg``, ``webp``, ``avif``, ``jpeg2000``).
        description: what exactly is run, for result files.
        sweep: default qualities of a rate-distortion sweep, lowest rate first.
        quality_range: accepted ``(low, high)``.
        integer_quality: whether only whole qualities exist (searches step by one).
    """

    name: str
    description: str
    sweep: tuple[float, ...]
    quality_range: tuple[float, float]
    integer_quality: bool
    _save: Callable[[Image.Image, io.BytesIO, float], None]

    def encode(self, pixels: np.ndarray, quality: float) -> bytes:
        low, high = self.quality_range
        if not low <= quality <= high:
            raise CodecArgumentError(f"{self.name} quality must lie in [{low:g}, {high:g}], got {quality:g}")
        buf = io.BytesIO()
        self._save(Image.fromarray(pixels), buf, quality)
        return buf.getvalue()

    @staticmethod
    def decode(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"))


def _save_jpeg(img, buf, q):
    img.save(buf, format="JPEG", quality=int(q), optimize=True, subsampling="4:2:0")


def _save_webp(img, buf, q):
    img.save(buf, format="WEBP", quality=int(q), method=6)


def _save_avif(img, buf, q):
    img.save(buf, format="AVIF", quality=int(q), speed=4, subsampling="4:4:4")


def _save_jpeg2000(img, buf, bpp):
    # mct=1: the irreversible colour transform (RGB to YCbCr) every lossy JPEG 2000 codec uses;
    # Pillow defaults to mct=0, which codes R, G, B separately (about 4.5 dB worse at 1 bpp)
    img.save(buf, format="JPEG2000", irreversible=True, mct=1, quality_mode="rates", quality_layers=[24.0 / bpp])


ANCHORS: dict[str, Anchor] = {
    "jpeg": Anchor(
        "jpeg", "JPEG (Pillow/libjpeg, 4:2:0, optimized Huffman)", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), (1, 95), True, _save_jpeg
    ),
    "webp": Anchor(
        "webp", "WebP (Pillow/libwebp, method=6)", (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), (0, 100), True, _save_webp
    ),
    "avif": Anchor(
        "avif", "AVIF (Pillow/libavif, speed=4, 4:4:4)", (10, 20, 30, 40, 50, 60, 70, 80, 90), (0, 100), True, _save_avif
    ),
    "jpeg2000": Anchor(
        "jpeg2000",
        "JPEG 2000 (Pillow/OpenJPEG, irreversible 9/7, rate target in bpp)",
        (0.1, 0.15, 0.25, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0),
        (0.01, 24.0),
        False,
        _save_jpeg2000,
    ),
}


def anchor(name: str) -> Anchor:
    try:
        return ANCHORS[name]
    except KeyError:
        raise CodecArgumentError(f"no anchor named {name!r}; anchors: {', '.join(ANCHORS)}") from None

