"""Video input and output by documented rules: y4m, raw .yuv, mp4/mkv (PyAV), frame folders.

Every clip crosses the API as a :class:`Video`: uint8 RGB frames ``(T, H, W, 3)``, the frame
rate as an exact :class:`fractions.Fraction` (``30000/1001``, never ``29.97``), the bit depth
and a short description of the source.

This module parses the arguments of :func:`read_video` and :func:`write_video`, reads and
writes frame folders, and hands every other kind of file to the module whose one job it is:

=======================  ======================================================================
module                   job
=======================  ======================================================================
:mod:`.clip`             the :class:`Video` type and the read request (selection, budgets)
:mod:`.colour`           the colour rule, RGB <-> Y'CbCr conversions, PSNR-RGB and PSNR-YUV
:mod:`.yuvfiles`         y4m and raw planar .yuv files
:mod:`.pyav`             mp4, mkv and other containers through PyAV: decoding, encoding
=======================  ======================================================================

:class:`Video` and the public functions of :mod:`.colour` (:func:`uses_bt709`,
:func:`rgb_to_yuv420`, :func:`yuv420_to_rgb`, :func:`psnr_rgb`, :func:`psnr_yuv`,
:class:`PsnrYuv`) are re-exported here.

Sources read by :func:`read_video`
==================================

=======================  ======================================================================
source                   how it is read
=======================  ======================================================================
``.y4m``                 YUV4MPEG2: 4:2:0, 4:2:2, 4:4:4 or mono, 8 or 10 bits; the header gives
                         the size and the rate (:mod:`.yuvfiles`).
``.yuv``                 raw planar 4:2:0 (I420), 8 or 10 bits (``bit_depth=10``: yuv420p10le);
                         needs ``size=(W, H)`` and ``fps`` (:mod:`.yuvfiles`).
``.gif``, ``.tif``,      an animation or a multi-page file, through Pillow: every frame,
``.tiff``, ``.webp``,    normalized as :func:`neuralcodecs.image.io.load_image` does (palette
``.png`` (APNG)          expanded, transparency refused); the frame rate from the frame
                         durations when they are all equal (GIF, WebP, APNG), else ``fps`` or 25.
folder                   every ``.png``, ``.jpg``, ``.jpeg`` file in it (hidden files skipped),
                         in natural order (``f2`` before ``f10``); each frame normalized as
                         :func:`neuralcodecs.image.io.load_image` does (gray to three
                         channels, 16-bit rounded to 8, transparency refused); all frames must
                         share one size; ``fps`` default 25.
anything else            PyAV (``.mp4``, ``.mkv``, ``.mov``, ``.webm``, ``.avi``, ...): the
                         first video stream, every frame from the first (:mod:`.pyav`).
=======================  ======================================================================

``size`` and ``fps`` describe a source that lacks them (raw .yuv; ``fps`` for frame folders and
rate-less y4m).  For a source that carries them they are checks: a different value raises
:class:`CodecArgumentError`; nothing is ever resized or resampled in time.  ``start`` and
``count`` select frames ``start .. start+count-1`` (slice semantics: ``count`` is an upper
limit).  Floating frame rates within 0.005 of ``N*1000/1001`` (29.97, 23.976, 59.94) are read
as that NTSC fraction; other floats as their decimal value.

Budgets: ``max_frames`` and ``max_pixels`` (``W * H * T`` of the frames returned) are checked
from the header, the file size or the container's frame count (or duration, see :mod:`.pyav`)
*before* the frame array is allocated, and raise :class:`UnsupportedVideoError`.  Missing,
unreadable, truncated or damaged files also raise :class:`UnsupportedVideoError`; bad arguments
raise :class:`CodecArgumentError`.

YUV is converted to RGB, and back for the writers, by the colour rule of :mod:`.colour` (BT.601
below 1280x720, BT.709 from it up, limited range, unless a container's tags say otherwise).

Outputs of :func:`write_video`
==============================

=======================  ======================================================================
path                     what is written
=======================  ======================================================================
``.mp4`` / ``.mkv``      PyAV, default ``libx264`` (preset medium, ``crf`` 18) or ``libx265``
                         (crf 18) or ``libsvtav1`` (preset 8, crf 30); yuv420p 8-bit, tagged
                         with the colour rule; odd sizes are kept (x264/x265 then code
                         yuv444p, see :mod:`.pyav`).  ``crf=0`` with x264 is lossless on the
                         YUV planes.
``.y4m``                 ``C420jpeg`` 8-bit limited range, the colour rule in reverse
                         (:mod:`.yuvfiles`).
no suffix                a folder of ``frame_00000.png``, ``frame_00001.png``, ... (lossless;
                         the frame rate is not stored).
=======================  ======================================================================

Writes are atomic: files go through :func:`neuralcodecs.atomic.atomic_write_bytes`, folders are
filled under a temporary name next to the target and renamed.  An existing output is never
replaced unless ``overwrite=True`` (otherwise :class:`CodecArgumentError`); with it, a folder is
only replaced if it holds nothing but ``frame_*.png`` files.  A failed write leaves no
temporary file or folder behind.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Union

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import CodecArgumentError, TransparentImageError, UnsupportedImageError, UnsupportedVideoError
from .clip import MAX_SIDE, Video, _Request
from .colour import PsnrYuv, _check_depth, _check_rgb, psnr_rgb, psnr_yuv, rgb_to_yuv420, uses_bt709, yuv420_to_rgb
from .pyav import _container_bytes, _read_container
from .yuvfiles import _read_raw_yuv, _read_y4m, _y4m_bytes

__all__ = [
    "PsnrYuv", "Video", "parse_fps", "psnr_rgb", "psnr_yuv", "read_video", "rgb_to_yuv420", "uses_bt709",
    "write_video", "yuv420_to_rgb",
]

PathLike = Union[str, os.PathLike]

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")

# --------------------------------------------------------------------------- arguments


def parse_fps(fps) -> Fraction:
    """A frame rate from an int, float, Fraction or ``"num/den"`` string (NTSC floats such as
    29.97 become ``30000/1001``).  Raises :class:`CodecArgumentError`."""
    if isinstance(fps, bool) or fps is None:
        raise CodecArgumentError(f"fps must be a positive number, got {fps!r}")
    try:
        if isinstance(fps, str):
            text = fps.strip().replace(":", "/")
            value = Fraction(text)
            if "/" not in text and value.denominator != 1:
                return parse_fps(float(text))
        elif isinstance(fps, (int, np.integer, Fraction)):
            value = Fraction(int(fps)) if isinstance(fps, np.integer) else Fraction(fps)
        elif isinstance(fps, (float, np.floating)):
            x = float(fps)
            if not math.isfinite(x):
                raise ValueError
            n = round(x * 1.001)
            if x != round(x) and n > 0 and abs(x - n * 1000 / 1001) < 0.005:
                value = Fraction(n * 1000, 1001)
            else:
                value = Fraction(repr(x))
        else:
            raise TypeError
    except (ValueError, TypeError, ZeroDivisionError):
        raise CodecArgumentError(f"fps must be a positive number or 'num/den', got {fps!r}") from None
    if not 0 < value <= 100_000:
        raise CodecArgumentError(f"fps must lie in (0, 100000], got {fps!r}")
    return value


def _parse_size(size) -> tuple[int, int]:
    if isinstance(size, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", size)
        if not m:
            raise CodecArgumentError(f"size must be (width, height) or 'WxH', got {size!r}")
        size = (int(m.group(1)), int(m.group(2)))
    try:
        w, h = size
        if isinstance(w, bool) or isinstance(h, bool) or int(w) != w or int(h) != h:
            raise TypeError
        w, h = int(w), int(h)
    except (TypeError, ValueError):
        raise CodecArgumentError(f"size must be (width, height) or 'WxH', got {size!r}") from None
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise CodecArgumentError(f"size must be positive and at most {MAX_SIDE} per side, got {w}x{h}")
    return w, h


def _positive_int(name: str, value, allow_zero: bool = False):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if allow_zero else 1):
        raise CodecArgumentError(f"{name} must be an integer >= {0 if allow_zero else 1}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- frame folders


def natural_key(name: str):
    """Sort key of a file name with numbers compared by value (``im2`` before ``im10``)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", name)]


def _read_folder(path: Path, req: _Request) -> Video:
    from PIL import Image

    from ..image.io import load_image

    files = sorted(
        (p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".") and p.is_file()),
        key=lambda p: natural_key(p.name),
    )
    if not files:
        raise UnsupportedVideoError(f"{path}: the folder holds no .png, .jpg or .jpeg frames")
    fps = req.rate(None)
    n = req.select(len(files))
    chosen = files[req.start:req.start + n]
    try:
        with Image.open(chosen[0]) as img:
            width, height = img.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise UnsupportedVideoError(f"{chosen[0]}: not a readable image ({exc})") from None
    req.check_size(width, height)
    req.check_budget(width, height, n)
    out = np.empty((n, height, width, 3), np.uint8)
    depth = 8
    kinds = set()
    for i, p in enumerate(chosen):
        try:
            with Image.open(p) as img:
                if img.size != (width, height):
                    raise UnsupportedVideoError(f"{p}: frame is {img.width}x{img.height}, the first frame "
                                                f"{chosen[0].name} is {width}x{height}; all frames must share one size")
                if img.mode.startswith("I;16"):
                    depth = 16
            pixels, _ = load_image(p, max_pixels=width * height)
        except TransparentImageError:
            raise UnsupportedVideoError(f"frame {p.name} has transparent pixels and video codecs store no alpha; "
                                        "flatten the frames (composite them over a background) first") from None
        except UnsupportedImageError as exc:
            raise UnsupportedVideoError(f"frame {p.name}: {exc}") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedVideoError(f"{p}: not a readable image ({exc})") from None
        out[i] = pixels
        kinds.add("png" if p.suffix.lower() == ".png" else "jpeg")
    return Video(out, fps, depth, "frames:" + "+".join(sorted(kinds)))


IMAGE_SEQUENCE_SUFFIXES = (".gif", ".tif", ".tiff", ".webp", ".png", ".apng")


def _read_image_sequence(path: Path, req: _Request) -> Video:
    """The frames of an animated or multi-page image file (one frame for a still)."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    from ..image.io import INPUT_FORMATS, load_image

    try:
        with Image.open(path, formats=INPUT_FORMATS) as img:
            width, height = img.size
            total = int(getattr(img, "n_frames", 1) or 1)
            req.check_size(width, height)
            n = req.select(total)
            req.check_budget(width, height, n)
            durations = set()
            out = np.empty((n, height, width, 3), np.uint8)
            for i, frame in enumerate(ImageSequence.Iterator(img)):
                if i < req.start:
                    continue
                if i >= req.start + n:
                    break
                durations.add(frame.info.get("duration"))
                if frame.size != (width, height):
                    raise UnsupportedVideoError(f"{path}: frame {i} is {frame.width}x{frame.height}, not {width}x{height}")
                try:
                    out[i - req.start], _ = load_image(frame.copy(), max_pixels=width * height)
                except TransparentImageError:
                    raise UnsupportedVideoError(f"{path}: frame {i} has transparent pixels and video codecs store no "
                                                "alpha; flatten the frames (composite them over a background) first") from None
                except UnsupportedImageError as exc:
                    raise UnsupportedVideoError(f"{path}: frame {i}: {exc}") from None
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise UnsupportedVideoError(f"{path}: not a readable image sequence ({exc})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnsupportedVideoError(f"{path}: image file is damaged or truncated ({exc})") from None
    declared = None
    if len(durations) == 1 and isinstance(next(iter(durations)), (int, float)) and next(iter(durations)) > 0:
        declared = Fraction(1000) / Fraction(next(iter(durations))).limit_denominator(1000)
    return Video(out, req.rate(declared), 8, f"image-sequence:{path.suffix.lower()[1:]}")


# --------------------------------------------------------------------------- read_video


def read_video(
    source: PathLike,
    *,
    size=None,
    fps=None,
    max_frames: int | None = None,
    max_pixels: int | None = None,
    start: int = 0,
    count: int | None = None,
    bit_depth: int | None = None,
) -> Video:
    """Read a clip (y4m, raw .yuv, a PyAV container or a folder of frames) into a :class:`Video`.

    Args:
        source: a path; the kind is chosen by suffix (``.y4m``, ``.yuv``), by being a folder,
            else PyAV is tried.
        size: ``(width, height)`` or ``"WxH"``: required for ``.yuv``; a check elsewhere.
        fps: frame rate: required for ``.yuv``, default 25 for folders; a check elsewhere.
        max_frames, max_pixels: budgets on the frames returned (``max_pixels`` counts
            ``W * H * T``); refused with :class:`UnsupportedVideoError` before allocation.
        start, count: return frames ``start .. start+count-1`` (``count`` None: to the end).
        bit_depth: only for ``.yuv``: 8 (default) or 10 (yuv420p10le).
    Raises:
        UnsupportedVideoError: missing, unreadable, truncated or damaged input, or over budget.
        CodecArgumentError: arguments out of range or contradicting the source.
    """
    req = _Request(
        size=None if size is None else _parse_size(size),
        fps=None if fps is None else parse_fps(fps),
        max_frames=_positive_int("max_frames", max_frames),
        max_pixels=_positive_int("max_pixels", max_pixels),
        start=_positive_int("start", start, allow_zero=True),
        count=_positive_int("count", count),
    )
    if not isinstance(source, (str, os.PathLike)):
        raise CodecArgumentError(f"source must be a path, got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise UnsupportedVideoError(f"video not found: {path}")
    suffix = path.suffix.lower()
    if bit_depth is not None and (suffix != ".yuv" or path.is_dir()):
        raise CodecArgumentError("bit_depth only applies to raw .yuv files; other sources say their own")
    try:
        if path.is_dir():
            return _read_folder(path, req)
        if suffix == ".yuv":
            return _read_raw_yuv(path, req, _check_depth(8 if bit_depth is None else bit_depth))
        if suffix == ".y4m":
            return _read_y4m(path, req)
        if suffix in IMAGE_SEQUENCE_SUFFIXES:
            return _read_image_sequence(path, req)
        return _read_container(path, req)
    except PermissionError as exc:
        raise UnsupportedVideoError(f"{path}: cannot be read ({exc})") from None


# --------------------------------------------------------------------------- write_video


def _output_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".mp4", ".mkv"):
        return suffix[1:]
    if suffix == ".y4m":
        return "y4m"
    if suffix == "":
        return "folder"
    raise CodecArgumentError(f"{path}: cannot write {suffix!r} files; use .mp4, .mkv, .y4m or a folder (no suffix)")


def _is_frame_folder(path: Path) -> bool:
    return all(re.fullmatch(r"frame_\d+\.png", p.name) and p.is_file() for p in path.iterdir())


def _write_folder(path: Path, frames: np.ndarray, overwrite: bool) -> None:
    from PIL import Image

    parent = path.parent
    tmp = parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    old = None
    os.mkdir(tmp)
    try:
        digits = max(5, len(str(frames.shape[0] - 1)))
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp / f"frame_{i:0{digits}d}.png", compress_level=3)
        if os.path.lexists(path):
            if not overwrite:
                raise CodecArgumentError(f"output {path} appeared while working; it was left as it is")
            old = parent / f".{path.name}.{secrets.token_hex(6)}.old"
            os.rename(path, old)
        os.rename(tmp, path)
    except BaseException:
        if old is not None and not os.path.lexists(path):
            os.rename(old, path)
            old = None
        raise
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_video(
    path: PathLike, frames, fps=None, *, codec: str | None = None, crf: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a clip; the kind follows the suffix (see the module docstring).

    Args:
        path: ``.mp4``, ``.mkv``, ``.y4m``, or a path without suffix for a PNG folder.
        frames: uint8 ``(T, H, W, 3)`` RGB, or a :class:`Video` (then ``fps`` defaults to its own).
        fps: frame rate (int, float, Fraction or ``"num/den"``).
        codec: mp4/mkv only: ``x264`` (default), ``x265`` or ``svtav1``.
        crf: mp4/mkv only: the encoder's constant-rate factor (default 18, SVT-AV1 30).
        overwrite: replace an existing output (else :class:`CodecArgumentError`).
    Returns:
        the path written.
    """
    if isinstance(frames, Video):
        fps = frames.fps if fps is None else fps
        frames = frames.frames
    frames = _check_rgb(frames)
    if frames.ndim != 4:
        raise CodecArgumentError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    if fps is None:
        raise CodecArgumentError("fps is required")
    fps = parse_fps(fps)
    path = Path(path)
    kind = _output_kind(path)
    if kind in ("y4m", "folder") and (codec is not None or crf is not None):
        raise CodecArgumentError("codec and crf only apply to .mp4 and .mkv outputs")
    if os.path.lexists(path):
        if not overwrite:
            raise CodecArgumentError(f"output {path} exists; pass overwrite=True to replace it")
        if (kind == "folder") != path.is_dir():
            raise CodecArgumentError(f"output {path} exists and is a {'folder' if path.is_dir() else 'file'}; "
                                     "it is not replaced by the other kind")
        if kind == "folder" and not _is_frame_folder(path):
            raise CodecArgumentError(f"output folder {path} holds files other than frame_*.png; it is not replaced")
    if not path.parent.is_dir():
        raise CodecArgumentError(f"the folder of {path} does not exist")
    if kind == "folder":
        _write_folder(path, frames, overwrite)
        return path
    data = _y4m_bytes(frames, fps) if kind == "y4m" else _container_bytes(frames, fps, kind, codec, crf)
    atomic_write_bytes(path, data, overwrite=overwrite)
    return path
