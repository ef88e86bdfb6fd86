"""Turning whatever a user hands us into 8-bit RGB, by documented rules.

Accepted inputs: a path, a ``PIL.Image.Image``, or a numpy array.  The rules:

========================  =================================================================
input                     what the codec encodes
========================  =================================================================
8-bit RGB                 as is
grayscale (``L``, ``1``,   the gray values in all three channels; the file is marked gray
HxW or HxWx1 arrays)      and decodes to three equal channels
16-bit (``I;16``, ``I``,   each sample rounded to 8 bits: ``round(v * 255 / 65535)``;
uint16 arrays)            16-bit RGB PNG files keep their high byte (Pillow reads them so)
palette (``P``)           expanded to RGB (to RGBA if the palette has transparency)
alpha (``RGBA``, ``LA``,  refused unless fully opaque (then dropped), or composited over
HxWx4 arrays)             white when ``alpha="composite"``
CMYK, YCbCr, LAB, HSV     converted to RGB by Pillow (no ICC colour management)
EXIF orientation          applied, so the pixels are encoded as they are displayed
float images (``F``,       refused: there is no agreed range; convert to uint8 first
float arrays)
empty, unreadable or       refused (:class:`UnsupportedImageError`)
truncated files
larger than ``max_pixels`` refused before the pixels are decoded
several frames (animated  refused: an image codec would keep only the first frame; a video
GIF/WebP/PNG, multi-page  codec reads them as a clip (:func:`neuralcodecs.video.io.read_video`)
TIFF)
========================  =================================================================
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..bitstream import COLOR_GRAY, COLOR_RGB, MAX_SIDE
from ..errors import TransparentImageError, UnsupportedImageError

ImageInput = Union[str, os.PathLike, Image.Image, np.ndarray]
DEFAULT_MAX_PIXELS = 40_000_000  # about 40 MP: the float encoder needs ~0.5 KB per pixel
ALPHA_POLICIES = ("refuse", "composite")
#: the only formats Pillow may parse for us (no PSD, EPS, ICNS... parsers on user files)
INPUT_FORMATS = ("PNG", "JPEG", "BMP", "PPM", "TIFF", "WEBP", "GIF")
#: output formats by file extension: (Pillow format, save arguments); lossless except JPEG
OUTPUT_FORMATS = {
    ".png": ("PNG", {}),
    ".bmp": ("BMP", {}),
    ".ppm": ("PPM", {}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
    ".webp": ("WEBP", {"lossless": True}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
}


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise UnsupportedImageError(f"image is empty ({width}x{height} pixels)")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise UnsupportedImageError(f"image is {width}x{height}; each side must be at most {MAX_SIDE} pixels")
    if width * height > max_pixels:
        raise UnsupportedImageError(
            f"image has {width * height / 1e6:.1f} MP, above the {max_pixels / 1e6:.1f} MP memory budget; "
            "pass a larger max_pixels if the machine has the memory, or split the image into tiles"
        )


def _remove_alpha(rgb: np.ndarray, alpha: np.ndarray, policy: str) -> np.ndarray:
    if alpha.min() == 255:
        return rgb
    if policy == "composite":
        a = alpha.astype(np.float32)[..., None] / 255.0
        return np.round(rgb.astype(np.float32) * a + 255.0 * (1.0 - a)).astype(np.uint8)
    raise TransparentImageError(
        "image has transparent pixels and the codecs store no alpha; pass alpha='composite' "
        "(CLI: --alpha composite) to composite it over white, or flatten it yourself"
    )


def _from_array(arr: np.ndarray, alpha: str, max_pixels: int) -> tuple[np.ndarray, int]:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise UnsupportedImageError(f"array of shape {arr.shape}: expected HxW, HxWx1, HxWx3 or HxWx4")
    _check_size(arr.shape[1], arr.shape[0], max_pixels)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype == np.uint16:
        arr = np.round(arr.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise UnsupportedImageError(
            f"array of dtype {arr.dtype}: expected uint8 or uint16 (convert floats with "
            "(x * 255).round().astype(np.uint8))"
        )
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2), COLOR_GRAY
    if arr.shape[2] == 4:
        return _remove_alpha(arr[..., :3], arr[..., 3], alpha), COLOR_RGB
    return np.ascontiguousarray(arr), COLOR_RGB


def frame_count(img: Image.Image) -> int:
    """Frames of an animated or multi-page image (1 for a still)."""
    return int(getattr(img, "n_frames", 1) or 1)


def _from_pil(img: Image.Image, alpha: str, max_pixels: int) -> tuple[np.ndarray, int]:
    _check_size(img.width, img.height, max_pixels)
    frames = frame_count(img)
    if frames > 1:
        raise UnsupportedImageError(
            f"the image holds {frames} frames (an animation or a multi-page file) and an image codec would keep only "
            "the first: encode it with a video codec (ncodec encode ... --codec stem, nerv, hnerv or nirvana), or save "
            "the frame you want as an image of its own")
    try:
        img = ImageOps.exif_transpose(img)
        mode = img.mode
        if mode == "F":
            raise UnsupportedImageError("floating-point images (mode F) have no defined range; convert to 8-bit first")
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif mode in ("PA",):
            img = img.convert("RGBA")
        elif mode.startswith("I"):  # I;16, I;16B, I;16L, I (16-bit PNGs open as I)
            arr = np.asarray(img).astype(np.float64)
            arr = np.clip(np.round(arr * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
            return np.repeat(arr[..., None], 3, axis=2), COLOR_GRAY
        elif mode == "1":
            img = img.convert("L")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa"):
            img = img.convert("RGB")
        elif mode == "La":
            img = img.convert("LA")
        if img.mode == "L":
            return _from_array(np.asarray(img), alpha, max_pixels)
        if img.mode == "LA":
            arr = np.asarray(img)
            gray = _remove_alpha(np.repeat(arr[..., :1], 3, axis=2), arr[..., 1], alpha)
            return gray, COLOR_GRAY
        if img.mode in ("RGB", "RGBA"):
            return _from_array(np.asarray(img), alpha, max_pixels)
    except UnsupportedImageError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnsupportedImageError(f"cannot read the image's pixels: {exc}") from None
    raise UnsupportedImageError(f"image mode {img.mode!r} is not supported")


def load_image(
    source: ImageInput, alpha: str = "refuse", max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[np.ndarray, int]:
    """Read and normalize an image.

    Args:
        source: a path, a PIL image or a numpy array.
        alpha: ``"refuse"`` (transparent images raise) or ``"composite"`` (over white).
        max_pixels: memory budget; larger images raise before their pixels are decoded.
    Returns:
        ``(pixels, color)``: uint8 ``(H, W, 3)`` and ``COLOR_RGB`` or ``COLOR_GRAY``.
    Raises:
        UnsupportedImageError: with the reason and, where there is one, the remedy.
    """
    if alpha not in ALPHA_POLICIES:
        raise ValueError(f"alpha must be one of {ALPHA_POLICIES}")
    if isinstance(source, np.ndarray):
        return _from_array(source, alpha, max_pixels)
    if isinstance(source, Image.Image):
        return _from_pil(source, alpha, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UnsupportedImageError(f"image file not found: {path}")
        try:
            with Image.open(path, formats=INPUT_FORMATS) as img:
                _check_size(img.width, img.height, max_pixels)
                img.load()
                return _from_pil(img, alpha, max_pixels)
        except UnsupportedImageError:
            raise
        except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
            raise UnsupportedImageError(
                f"{path}: not a readable image in an accepted format ({', '.join(INPUT_FORMATS)}): {exc}"
            ) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedImageError(f"{path}: image file is damaged or truncated ({exc})") from None
    raise UnsupportedImageError(f"cannot encode an object of type {type(source).__name__}; pass a path, PIL image or array")


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """Three equal channels holding the rounded mean of an RGB image's channels."""
    mean = np.round(pixels.astype(np.float32).mean(axis=2))
    return np.repeat(mean.astype(np.uint8)[..., None], 3, axis=2)


def output_format(path: str | os.PathLike) -> tuple[str, dict]:
    """The Pillow format a file name's extension asks for; :class:`CodecArgumentError` if none."""
    from ..errors import CodecArgumentError

    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise CodecArgumentError(
            f"cannot write {Path(path).name!r}: use one of the extensions {', '.join(OUTPUT_FORMATS)}"
        )
    return OUTPUT_FORMATS[suffix]


def save_image(path: str | os.PathLike, pixels: np.ndarray, overwrite: bool = True) -> str:
    """Write uint8 ``(H, W, 3)`` pixels in the format the extension names, atomically; returns the format."""
    import io

    from ..atomic import atomic_write_bytes

    fmt, kwargs = output_format(path)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kwargs)
    atomic_write_bytes(path, buf.getvalue(), overwrite=overwrite)
    return fmt


def save_png(path: str | os.PathLike, pixels: np.ndarray) -> None:
    """Write uint8 ``(H, W, 3)`` pixels as PNG, atomically."""
    import io

    from ..atomic import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
