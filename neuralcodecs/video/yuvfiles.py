"""YUV files: YUV4MPEG2 (``.y4m``) and raw planar YUV (``.yuv``) read into a :class:`Video`,
and y4m written, with the colour conversions of :mod:`.colour`.

=======================  ======================================================================
file                     how it is read
=======================  ======================================================================
``.y4m``                 YUV4MPEG2, header parsed here: ``W``, ``H``, ``F`` (``F0:0`` or none:
                         ``fps`` or 25), ``C`` in ``420jpeg``, ``420mpeg2``, ``420paldv``,
                         ``420``, ``422``, ``444``, ``mono`` and the 10-bit ``420p10``,
                         ``422p10``, ``444p10``, ``mono10`` (default ``420jpeg``),
                         ``XCOLORRANGE=FULL`` honoured; interlacing, aspect ratio and chroma
                         siting are ignored.  Frame headers may carry parameters.
``.yuv``                 raw planar 4:2:0 (I420: Y, then U, then V, no header); needs
                         ``size=(W, H)`` and ``fps``; ``bit_depth=10`` reads yuv420p10le
                         (16-bit little-endian words holding 0..1023).  The file size must be
                         a whole number of frames.
=======================  ======================================================================

Every frame is located from the headers and the file size before any pixel is read, so the
budgets of the request are checked before the frame array is allocated; truncated or damaged
files raise :class:`UnsupportedVideoError`.  Odd sizes: 4:2:0 chroma planes are
``ceil(W/2) x ceil(H/2)`` (as y4m and ffmpeg store them).

Written y4m files are ``C420jpeg`` 8-bit limited range, the colour rule in reverse.
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import CodecArgumentError, UnsupportedVideoError
from .clip import MAX_SIDE, Video, _Request
from .colour import _gray_frame_to_rgb, _matrix_name, _rgb_frame_to_ycc, _ycc_frame_to_rgb

_Y4M_COLOURSPACES = {
    "420jpeg": ("420", 8), "420mpeg2": ("420", 8), "420paldv": ("420", 8), "420": ("420", 8),
    "422": ("422", 8), "444": ("444", 8), "mono": ("mono", 8),
    "420p10": ("420", 10), "422p10": ("422", 10), "444p10": ("444", 10), "mono10": ("mono", 10),
}
_MAX_HEADER = 65536


def _plane_shapes(width: int, height: int, sub: str) -> list[tuple[int, int]]:
    luma = (height, width)
    if sub == "mono":
        return [luma]
    cw = (width + 1) // 2 if sub in ("420", "422") else width
    ch = (height + 1) // 2 if sub == "420" else height
    return [luma, (ch, cw), (ch, cw)]


def _frame_bytes(width: int, height: int, sub: str, bit_depth: int) -> int:
    return sum(h * w for h, w in _plane_shapes(width, height, sub)) * (1 if bit_depth == 8 else 2)


def _planes_to_rgb(buf: bytes, width: int, height: int, sub: str, bit_depth: int, matrix: str,
                   full_range: bool, where: str) -> np.ndarray:
    data = np.frombuffer(buf, np.uint8 if bit_depth == 8 else "<u2")
    if bit_depth > 8 and data.size and int(data.max()) >= (1 << bit_depth):
        raise UnsupportedVideoError(f"{where}: sample values above {(1 << bit_depth) - 1}: "
                                    f"this is not {bit_depth}-bit video (wrong bit depth?)")
    planes, pos = [], 0
    for h, w in _plane_shapes(width, height, sub):
        planes.append(data[pos:pos + h * w].reshape(h, w))
        pos += h * w
    if sub == "mono":
        return _gray_frame_to_rgb(planes[0], bit_depth, full_range)
    return _ycc_frame_to_rgb(*planes, matrix, bit_depth, full_range)


def _parse_y4m_header(line: bytes, path: Path) -> dict:
    def bad(why: str) -> UnsupportedVideoError:
        return UnsupportedVideoError(f"{path}: bad YUV4MPEG2 header ({why}): {line[:200]!r}")

    tokens = line.split(b" ")
    if tokens[0] != b"YUV4MPEG2":
        raise UnsupportedVideoError(f"{path}: not a YUV4MPEG2 file (it starts with {line[:16]!r})")
    info = {"width": None, "height": None, "fps": None, "colour": "420jpeg", "full_range": False}
    for tok in tokens[1:]:
        if not tok:
            continue
        try:
            text = tok.decode("ascii")
        except UnicodeDecodeError:
            raise bad("non-ASCII parameter") from None
        tag, value = text[0], text[1:]
        if tag in "WH":
            if not value.isdigit() or not 0 < int(value) <= MAX_SIDE:
                raise bad(f"{tag} must be an integer in 1..{MAX_SIDE}")
            info["width" if tag == "W" else "height"] = int(value)
        elif tag == "F":
            m = re.fullmatch(r"(\d+):(\d+)", value)
            if not m:
                raise bad("F must be num:den")
            num, den = int(m.group(1)), int(m.group(2))
            info["fps"] = Fraction(num, den) if num > 0 and den > 0 else None
        elif tag == "C":
            if value not in _Y4M_COLOURSPACES:
                raise bad(f"colour space C{value} is not supported; supported: "
                          + ", ".join("C" + k for k in _Y4M_COLOURSPACES))
            info["colour"] = value
        elif tag == "X":
            if value.upper() == "COLORRANGE=FULL":
                info["full_range"] = True
        # I (interlacing) and A (aspect ratio) are ignored, as are unknown tags
    if info["width"] is None or info["height"] is None:
        raise bad("W and H are required")
    return info


def _read_line(f, limit: int) -> bytes | None:
    """The bytes up to (not including) the next newline, or None at end of file."""
    chunk = f.read(min(64, limit))
    if not chunk:
        return None
    parts = [chunk]
    size = len(chunk)
    while b"\n" not in chunk:
        if size >= limit:
            return b"".join(parts)  # no newline: the caller treats it as damage
        chunk = f.read(min(4096, limit - size))
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)
        size += len(chunk)
    data = b"".join(parts)
    end = data.index(b"\n")
    f.seek(len(data) - end - 1, os.SEEK_CUR)
    return data[:end + 1]


def _read_y4m(path: Path, req: _Request) -> Video:
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        line = _read_line(f, _MAX_HEADER)
        if not line or not line.endswith(b"\n"):
            if line and line.startswith(b"YUV4MPEG2"):
                raise UnsupportedVideoError(f"{path}: the YUV4MPEG2 header has no end (truncated file?)")
            raise UnsupportedVideoError(f"{path}: not a YUV4MPEG2 file")
        info = _parse_y4m_header(line[:-1], path)
        width, height = info["width"], info["height"]
        sub, depth = _Y4M_COLOURSPACES[info["colour"]]
        req.check_size(width, height)
        fps = req.rate(info["fps"])
        frame_bytes = _frame_bytes(width, height, sub, depth)
        # find every frame without reading pixels: FRAME headers and data offsets
        offsets = []
        pos = len(line)
        while pos < file_size:
            f.seek(pos)
            head = _read_line(f, 4096)
            if head is None:
                break
            if not head.startswith(b"FRAME") or not head.endswith(b"\n"):
                raise UnsupportedVideoError(f"{path}: frame {len(offsets)} does not start with a FRAME line "
                                            "(damaged file, or the header's size or colour space is wrong)")
            pos += len(head)
            if pos + frame_bytes > file_size:
                raise UnsupportedVideoError(f"{path}: truncated: frame {len(offsets)} needs {frame_bytes} bytes, "
                                            f"{file_size - pos} are left")
            offsets.append(pos)
            pos += frame_bytes
        n = req.select(len(offsets))
        req.check_budget(width, height, n)
        matrix = _matrix_name(None, width, height)
        out = np.empty((n, height, width, 3), np.uint8)
        for i in range(n):
            f.seek(offsets[req.start + i])
            out[i] = _planes_to_rgb(f.read(frame_bytes), width, height, sub, depth, matrix,
                                    info["full_range"], f"{path} frame {req.start + i}")
    return Video(out, fps, depth, f"y4m:{info['colour']}")


def _read_raw_yuv(path: Path, req: _Request, bit_depth: int) -> Video:
    if req.size is None or req.fps is None:
        raise CodecArgumentError(f"{path}: a raw .yuv file has no header: pass size=(width, height) and fps")
    width, height = req.size
    if req.max_pixels is not None and width * height > req.max_pixels:
        raise UnsupportedVideoError(f"one {width}x{height} frame already exceeds max_pixels={req.max_pixels}")
    frame_bytes = _frame_bytes(width, height, "420", bit_depth)
    file_size = path.stat().st_size
    if file_size == 0:
        raise UnsupportedVideoError(f"{path}: the file is empty")
    if file_size % frame_bytes:
        raise UnsupportedVideoError(
            f"{path}: {file_size} bytes is not a whole number of {width}x{height} {bit_depth}-bit 4:2:0 frames "
            f"({frame_bytes} bytes each): is the size or the bit depth wrong?"
        )
    n = req.select(file_size // frame_bytes)
    req.check_budget(width, height, n)
    matrix = _matrix_name(None, width, height)
    out = np.empty((n, height, width, 3), np.uint8)
    with open(path, "rb") as f:
        f.seek(req.start * frame_bytes)
        for i in range(n):
            out[i] = _planes_to_rgb(f.read(frame_bytes), width, height, "420", bit_depth, matrix, False,
                                    f"{path} frame {req.start + i}")
    fmt = "yuv420p" if bit_depth == 8 else f"yuv420p{bit_depth}le"
    return Video(out, req.fps, bit_depth, f"yuv:{fmt}")


# --------------------------------------------------------------------------- writing y4m


def _y4m_bytes(frames: np.ndarray, fps: Fraction) -> bytes:
    t, h, w, _ = frames.shape
    matrix = _matrix_name(None, w, h)
    header = f"YUV4MPEG2 W{w} H{h} F{fps.numerator}:{fps.denominator} Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=LIMITED\n"
    parts = [header.encode("ascii")]
    for i in range(t):
        y, u, v = _rgb_frame_to_ycc(frames[i], matrix, 8, False, "420")
        parts += [b"FRAME\n", y.tobytes(), u.tobytes(), v.tobytes()]
    return b"".join(parts)
