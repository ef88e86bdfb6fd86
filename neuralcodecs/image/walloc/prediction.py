"""Spatial prediction of WaLLoC's 8-bit latents: the median edge detector (MED) of JPEG-LS.

Each channel's symbols ``s`` (``0..254``, ``127`` is the zero latent) are predicted from their
causal neighbours -- left ``a``, above ``b``, above-left ``c``; outside the grid a neighbour is
``127`` --

    pred = min(a, b)    if c >= max(a, b)
           max(a, b)    if c <= min(a, b)
           a + b - c    otherwise

and coded as the residual ``(s - pred) mod 255`` under a static per-channel categorical prior
(the residuals of the training data).  The latents are spatially smooth images, so the residual
costs 16-26% fewer bits than the symbol itself on Kodak (``benchmarks/walloc_prediction.py``);
the WaLLoC authors exploit the same redundancy with lossless WebP, which is still 6-7% smaller.

The residuals' prior does not depend on the context, so a decoder entropy-decodes every residual
at once and then undoes the prediction in anti-diagonal wavefronts (all positions with the same
``y + x`` together, every channel at once): ``h + w - 1`` vectorized integer steps.
"""

from __future__ import annotations

import numpy as np
import torch

from .model import LATENT_MAX, SYMBOLS

OUTSIDE = LATENT_MAX  # the symbol of the zero latent


def med(a, b, c):
    """The MED prediction from left ``a``, above ``b`` and above-left ``c`` (same shapes; numpy
    int64 arrays, or torch tensors for the encoder's refinement)."""
    xp = torch if isinstance(a, torch.Tensor) else np
    low, high = xp.minimum(a, b), xp.maximum(a, b)
    return xp.where(c >= high, low, xp.where(c <= low, high, a + b - c))


def _neighbours(symbols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left, above and above-left of every position of ``(C, h, w)`` (``OUTSIDE`` beyond the grid)."""
    padded = np.pad(symbols, ((0, 0), (1, 0), (1, 0)), constant_values=OUTSIDE)
    return padded[:, 1:, :-1], padded[:, :-1, 1:], padded[:, :-1, :-1]


def to_residuals(symbols: np.ndarray) -> np.ndarray:
    """Symbols ``(C, h, w)`` in ``0..254`` -> residuals ``(C, h, w)`` in ``0..254``."""
    symbols = np.asarray(symbols, dtype=np.int64)
    return (symbols - med(*_neighbours(symbols))) % SYMBOLS


def from_residuals(residuals: np.ndarray) -> np.ndarray:
    """Undo :func:`to_residuals`: residuals ``(C, h, w)`` -> symbols, one anti-diagonal at a time."""
    residuals = np.asarray(residuals, dtype=np.int64)
    channels, h, w = residuals.shape
    padded = np.full((channels, h + 1, w + 1), OUTSIDE, dtype=np.int64)
    for diagonal in range(h + w - 1):
        y = np.arange(max(0, diagonal - w + 1), min(h, diagonal + 1))
        x = diagonal - y
        a, b, c = padded[:, y + 1, x], padded[:, y, x + 1], padded[:, y, x]
        padded[:, y + 1, x + 1] = (residuals[:, y, x] + med(a, b, c)) % SYMBOLS
    return padded[:, 1:, 1:]
