"""Quality and rate-distortion metrics: PSNR, MS-SSIM, Bjontegaard delta rate and PSNR.

Images are uint8 ``(H, W, 3)`` arrays.  BD-rate and BD-PSNR use piecewise-cubic
(monotone Hermite, PCHIP) interpolation of each curve in the log-rate domain and integrate
over the interval where both curves overlap, as in the JVET/VCEG common test conditions.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from pytorch_msssim import ms_ssim as _ms_ssim
from scipy.interpolate import PchipInterpolator


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over all pixels and channels, on the 0-255 scale."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR-RGB in dB (peak 255); ``inf`` for identical images."""
    err = mse(a, b)
    return float("inf") if err == 0 else 10.0 * math.log10(255.0**2 / err)


_BT601 = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def _ycbcr(pixels: np.ndarray) -> np.ndarray:
    """BT.601 full-range YCbCr (JPEG's), float64 ``(H, W, 3)`` on the 0-255 scale."""
    out = pixels.astype(np.float64) @ _BT601.T
    out[..., 1:] += 128.0
    return out


def psnr_ycbcr(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``(PSNR-Y, PSNR-YUV)`` in dB, BT.601 full range; PSNR-YUV is
    ``(6 PSNR-Y + PSNR-Cb + PSNR-Cr) / 8`` (the video-coding convention)."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    d = _ycbcr(a) - _ycbcr(b)
    err = np.mean(d * d, axis=(0, 1))
    with np.errstate(divide="ignore"):
        planes = np.where(err == 0, np.inf, 10.0 * np.log10(255.0**2 / np.maximum(err, 1e-300)))
    return float(planes[0]), float((6 * planes[0] + planes[1] + planes[2]) / 8)


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (pytorch-msssim, 5 scales) of two RGB images.

    Images smaller than the 5-scale minimum (161 pixels per side) are edge-padded to it,
    which keeps the metric defined for tiny inputs.
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    ta = torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]
    tb = torch.from_numpy(np.array(b, dtype=np.float32)).permute(2, 0, 1)[None]
    need = 161
    pad_h, pad_w = max(0, need - ta.shape[2]), max(0, need - ta.shape[3])
    if pad_h or pad_w:
        ta = torch.nn.functional.pad(ta, (0, pad_w, 0, pad_h), mode="replicate")
        tb = torch.nn.functional.pad(tb, (0, pad_w, 0, pad_h), mode="replicate")
    return float(_ms_ssim(ta, tb, data_range=255.0, size_average=True))


def _sorted_curve(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.size < 2:
        raise ValueError("a curve needs at least two (rate, quality) points of equal count")
    if np.any(r <= 0) or not np.all(np.isfinite(q)):
        raise ValueError("rates must be positive and qualities finite")
    order = np.argsort(q)
    return r[order], q[order]


def _strictly_increasing(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.concatenate([[True], np.diff(x) > 0])
    return x[keep], y[keep]


def bd_rate(
    anchor_rate: Sequence[float],
    anchor_quality: Sequence[float],
    test_rate: Sequence[float],
    test_quality: Sequence[float],
) -> float:
    """Average rate difference of ``test`` against ``anchor`` at equal quality, in percent.

    Negative means the test codec needs fewer bits.  Raises ``ValueError`` when the
    curves' quality ranges do not overlap.
    """
    ra, qa = _sorted_curve(anchor_rate, anchor_quality)
    rt, qt = _sorted_curve(test_rate, test_quality)
    lo, hi = max(qa.min(), qt.min()), min(qa.max(), qt.max())
    if hi <= lo:
        raise ValueError("the two curves do not overlap in quality")
    qa_u, la = _strictly_increasing(qa, np.log(ra))
    qt_u, lt = _strictly_increasing(qt, np.log(rt))
    ia = PchipInterpolator(qa_u, la).integrate(lo, hi)
    it = PchipInterpolator(qt_u, lt).integrate(lo, hi)
    return float((math.exp((it - ia) / (hi - lo)) - 1.0) * 100.0)


def bd_psnr(
    anchor_rate: Sequence[float],
    anchor_quality: Sequence[float],
    test_rate: Sequence[float],
    test_quality: Sequence[float],
) -> float:
    """Average quality difference of ``test`` against ``anchor`` at equal rate (dB for PSNR)."""
    ra, qa = _sorted_curve(anchor_rate, anchor_quality)
    rt, qt = _sorted_curve(test_rate, test_quality)
    la, lt = np.log(ra), np.log(rt)
    oa, ot = np.argsort(la), np.argsort(lt)
    la, qa, lt, qt = la[oa], qa[oa], lt[ot], qt[ot]
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    if hi <= lo:
        raise ValueError("the two curves do not overlap in rate")
    la_u, qa_u = _strictly_increasing(la, qa)
    lt_u, qt_u = _strictly_increasing(lt, qt)
    ia = PchipInterpolator(la_u, qa_u).integrate(lo, hi)
    it = PchipInterpolator(lt_u, qt_u).integrate(lo, hi)
    return float((it - ia) / (hi - lo))
