"""The colour rule of :mod:`neuralcodecs.video`: RGB <-> Y'CbCr conversions and the PSNR metrics.

Colour rule
===========
YUV is converted to RGB and back with the **BT.601** matrix for pictures smaller than 1280x720
and **BT.709** from 1280x720 up (:func:`uses_bt709`: ``width >= 1280 or height >= 720``),
**limited range** (Y 16-235, chroma 16-240, times 4 for 10-bit): the convention of players and
of the usual test-sequence tools for untagged video (libswscale alone would assume BT.601 at
every size, which is why untagged PyAV frames are not left to it).  A container that tags its
stream (matrix BT.709, BT.601 / BT.470BG / SMPTE 170M, BT.2020 non-constant, FCC, SMPTE 240M;
range MPEG or JPEG, or a ``yuvj*`` pixel format; read by :mod:`.pyav`) overrides the rule.
Files written by :func:`neuralcodecs.video.io.write_video` carry the tags of the rule
(mp4/mkv) or follow it implicitly (y4m, which has no matrix field).

Conversions
===========
The conversion is done here, in float64 numpy, for y4m, raw .yuv (:mod:`.yuvfiles`) and every
planar YUV frame a PyAV decoder returns (:mod:`.pyav`; 4:2:0, 4:2:2, 4:4:4, gray, 8 to 16
bits): chroma is up-sampled by replication (nearest; chroma siting is not modelled: the 2x2
mean below is centred, as in JPEG, where H.264/HEVC nominally site chroma left), each value is
rounded to the nearest integer and clipped to 0..255.  Towards YUV (:func:`rgb_to_yuv420`,
writers) chroma is the mean of each 2x2 block (of the pixels that exist at odd edges), rounded
to nearest.  Conversions done here are deterministic and exact: a y4m or lossless mp4 written
by :func:`~neuralcodecs.video.io.write_video` reads back to the RGB that :func:`yuv420_to_rgb`
gives for the planes :func:`rgb_to_yuv420` stored.

10-bit: the samples are converted at full precision (``Y/4`` is not rounded first) and only
the final RGB is rounded to 8 bits; ``Video.source_bit_depth`` says 10.

Odd sizes: 4:2:0 chroma planes are ``ceil(W/2) x ceil(H/2)`` (as y4m and ffmpeg store them).

Metrics
=======
:func:`psnr_rgb` (one MSE over the whole clip) and :func:`psnr_yuv` (the planes of
:func:`rgb_to_yuv420`, 8-bit limited range, and the weighted ``(6 Y + U + V) / 8``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..errors import CodecArgumentError

HD_WIDTH, HD_HEIGHT = 1280, 720

# --------------------------------------------------------------------------- colour


_KRKB = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "fcc": (0.30, 0.11),
    "smpte240m": (0.212, 0.087),
}


def uses_bt709(width: int, height: int) -> bool:
    """The colour rule: BT.709 from 1280x720 up (either side reaching it), BT.601 below."""
    return width >= HD_WIDTH or height >= HD_HEIGHT


def _matrix_name(bt709: bool | None, width: int, height: int) -> str:
    if bt709 is None:
        bt709 = uses_bt709(width, height)
    return "bt709" if bt709 else "bt601"


def _levels(bit_depth: int, full_range: bool) -> tuple[float, float, float, float]:
    """``(y_offset, y_scale, c_offset, c_scale)`` of the code values for normalized Y'CbCr."""
    if full_range:
        peak = float((1 << bit_depth) - 1)
        return 0.0, peak, float(1 << (bit_depth - 1)), peak
    s = float(1 << (bit_depth - 8))
    return 16.0 * s, 219.0 * s, 128.0 * s, 224.0 * s


def _normalized_matrix(name: str) -> np.ndarray:
    """RGB in [0, 1] -> (Y in [0, 1], Cb and Cr in [-0.5, 0.5])."""
    kr, kb = _KRKB[name]
    kg = 1.0 - kr - kb
    return np.array(
        [
            [kr, kg, kb],
            [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
            [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
        ]
    )


def _quantize(x: np.ndarray, bit_depth: int) -> np.ndarray:
    out = np.clip(np.floor(x + 0.5), 0, (1 << bit_depth) - 1)
    return out.astype(np.uint8 if bit_depth <= 8 else np.uint16)


def _rgb_frame_to_ycc(rgb: np.ndarray, matrix: str, bit_depth: int, full_range: bool, sub: str):
    """One uint8 ``(H, W, 3)`` frame -> Y, Cb, Cr code planes (``sub`` in 420, 422, 444)."""
    yo, ys, co, cs = _levels(bit_depth, full_range)
    m = _normalized_matrix(matrix) * np.array([[ys], [cs], [cs]]) / 255.0
    ycc = rgb.astype(np.float64) @ m.T
    y = ycc[..., 0] + yo
    c = ycc[..., 1:]
    h, w = y.shape
    if sub in ("420", "422"):
        ph = h % 2 if sub == "420" else 0
        c = np.pad(c, ((0, ph), (0, w % 2), (0, 0)), mode="edge")
        hh = c.shape[0] // (2 if sub == "420" else 1)
        fy = 2 if sub == "420" else 1
        c = c.reshape(hh, fy, c.shape[1] // 2, 2, 2).mean(axis=(1, 3))
    c = c + co
    return _quantize(y, bit_depth), _quantize(c[..., 0], bit_depth), _quantize(c[..., 1], bit_depth)


def _ycc_frame_to_rgb(y, cb, cr, matrix: str, bit_depth: int, full_range: bool) -> np.ndarray:
    """Y, Cb, Cr code planes (chroma at full, half-width or half-size) -> uint8 ``(H, W, 3)``."""
    h, w = y.shape
    ry = 1 if cb.shape[0] == h else 2
    rx = 1 if cb.shape[1] == w else 2
    if cb.shape != ((h + ry - 1) // ry, (w + rx - 1) // rx) or cr.shape != cb.shape:
        raise CodecArgumentError(f"chroma planes {cb.shape} and {cr.shape} do not fit a luma plane {y.shape}")
    if ry > 1 or rx > 1:
        cb = np.repeat(np.repeat(cb, ry, axis=0), rx, axis=1)[:h, :w]
        cr = np.repeat(np.repeat(cr, ry, axis=0), rx, axis=1)[:h, :w]
    yo, ys, co, cs = _levels(bit_depth, full_range)
    ycc = np.empty((h, w, 3), np.float64)
    ycc[..., 0] = (y - yo) / ys
    ycc[..., 1] = (cb - co) / cs
    ycc[..., 2] = (cr - co) / cs
    rgb = ycc @ (np.linalg.inv(_normalized_matrix(matrix)).T * 255.0)
    return _quantize(rgb, 8)


def _gray_frame_to_rgb(y, bit_depth: int, full_range: bool) -> np.ndarray:
    yo, ys, _, _ = _levels(bit_depth, full_range)
    g = _quantize((y.astype(np.float64) - yo) * (255.0 / ys), 8)
    return np.repeat(g[..., None], 3, axis=2)


def _check_rgb(frames, what: str = "frames") -> np.ndarray:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise CodecArgumentError(f"{what} must be a uint8 numpy array, got {type(frames).__name__} "
                                 f"{getattr(frames, 'dtype', '')}")
    if frames.ndim not in (3, 4) or frames.shape[-1] != 3 or min(frames.shape) < 1:
        raise CodecArgumentError(f"{what} must have shape (T, H, W, 3) or (H, W, 3), got {frames.shape}")
    return frames


def _check_depth(bit_depth: int) -> int:
    if bit_depth not in (8, 10):
        raise CodecArgumentError(f"bit_depth must be 8 or 10, got {bit_depth!r}")
    return bit_depth


def rgb_to_yuv420(
    frames: np.ndarray, bt709: bool | None = None, *, bit_depth: int = 8, full_range: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB to planar Y'CbCr 4:2:0 by the module's colour rule.

    Args:
        frames: uint8 ``(T, H, W, 3)`` or ``(H, W, 3)``.
        bt709: the matrix (``None``: the size rule, :func:`uses_bt709`).
        bit_depth: 8 (uint8 planes) or 10 (uint16 planes holding 0..1023).
        full_range: JPEG range instead of limited (video) range.
    Returns:
        ``(Y, U, V)``: ``(..., H, W)`` and two ``(..., ceil(H/2), ceil(W/2))``; chroma is the
        mean of each 2x2 block, everything rounded to nearest.
    """
    frames = _check_rgb(frames)
    _check_depth(bit_depth)
    matrix = _matrix_name(bt709, frames.shape[-2], frames.shape[-3])
    if frames.ndim == 3:
        return _rgb_frame_to_ycc(frames, matrix, bit_depth, full_range, "420")
    t, h, w, _ = frames.shape
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    y = np.empty((t, h, w), dtype)
    u = np.empty((t, (h + 1) // 2, (w + 1) // 2), dtype)
    v = np.empty_like(u)
    for i in range(t):
        y[i], u[i], v[i] = _rgb_frame_to_ycc(frames[i], matrix, bit_depth, full_range, "420")
    return y, u, v


def yuv420_to_rgb(
    y: np.ndarray, u: np.ndarray, v: np.ndarray, bt709: bool | None = None, *,
    bit_depth: int = 8, full_range: bool = False,
) -> np.ndarray:
    """Planar Y'CbCr 4:2:0 to uint8 RGB by the module's colour rule (the inverse of
    :func:`rgb_to_yuv420`): chroma replicated, computed in float64, rounded to nearest, clipped.

    Args:
        y, u, v: ``(..., H, W)`` and ``(..., ceil(H/2), ceil(W/2))`` integer planes (one frame or
            a ``T`` axis in front).
        bt709: the matrix (``None``: the size rule).
        bit_depth: 8 or 10 (10-bit samples are converted without rounding them to 8 bits first).
        full_range: JPEG range instead of limited range.
    """
    _check_depth(bit_depth)
    y, u, v = np.asarray(y), np.asarray(u), np.asarray(v)
    if y.ndim not in (2, 3) or u.ndim != y.ndim or v.ndim != y.ndim:
        raise CodecArgumentError(f"planes must all be (H, W) or (T, H, W), got {y.shape}, {u.shape}, {v.shape}")
    h, w = y.shape[-2:]
    want = ((h + 1) // 2, (w + 1) // 2)
    if u.shape[-2:] != want or v.shape[-2:] != want or u.shape[:-2] != y.shape[:-2] or v.shape != u.shape:
        raise CodecArgumentError(f"4:2:0 chroma of a {w}x{h} picture must be {want[1]}x{want[0]}; got {u.shape} and {v.shape}")
    matrix = _matrix_name(bt709, w, h)
    if y.ndim == 2:
        return _ycc_frame_to_rgb(y, u, v, matrix, bit_depth, full_range)
    out = np.empty((y.shape[0], h, w, 3), np.uint8)
    for i in range(y.shape[0]):
        out[i] = _ycc_frame_to_rgb(y[i], u[i], v[i], matrix, bit_depth, full_range)
    return out


# --------------------------------------------------------------------------- metrics


class PsnrYuv(NamedTuple):
    """PSNR in dB of each plane and the weighted ``(6 Y + U + V) / 8``."""

    y: float
    u: float
    v: float
    yuv: float


def _psnr(mse: float, peak: float = 255.0) -> float:
    return float("inf") if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _same_shape(reference: np.ndarray, test: np.ndarray) -> None:
    _check_rgb(reference, "reference")
    _check_rgb(test, "test")
    if reference.shape != test.shape:
        raise CodecArgumentError(f"clips differ in shape: {reference.shape} vs {test.shape}")


def psnr_rgb(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR-RGB of a clip in dB: the MSE over every frame, pixel and channel, then
    ``10 log10(255^2 / MSE)`` (not a mean of per-frame PSNRs); ``inf`` when identical."""
    _same_shape(reference, test)
    total = 0.0
    for a, b in zip(reference.reshape(-1, *reference.shape[-3:]), test.reshape(-1, *test.shape[-3:])):
        d = a.astype(np.float64) - b.astype(np.float64)
        total += float(np.sum(d * d))
    return _psnr(total / reference.size)


def psnr_yuv(reference: np.ndarray, test: np.ndarray, bt709: bool | None = None) -> PsnrYuv:
    """PSNR of the Y, U, V planes of both clips converted by :func:`rgb_to_yuv420` (8-bit,
    limited range, the size rule unless ``bt709`` is given), each from the MSE over all frames,
    and PSNR-YUV ``= (6 PSNR-Y + PSNR-U + PSNR-V) / 8``."""
    _same_shape(reference, test)
    ref = reference.reshape(-1, *reference.shape[-3:])
    tst = test.reshape(-1, *test.shape[-3:])
    matrix = _matrix_name(bt709, ref.shape[2], ref.shape[1])
    sums = np.zeros(3)
    counts = np.zeros(3)
    for a, b in zip(ref, tst):
        pa = _rgb_frame_to_ycc(a, matrix, 8, False, "420")
        pb = _rgb_frame_to_ycc(b, matrix, 8, False, "420")
        for k in range(3):
            d = pa[k].astype(np.float64) - pb[k].astype(np.float64)
            sums[k] += float(np.sum(d * d))
            counts[k] += d.size
    py, pu, pv = (_psnr(s / n) for s, n in zip(sums, counts))
    return PsnrYuv(py, pu, pv, (6 * py + pu + pv) / 8)
