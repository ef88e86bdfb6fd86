"""Transmission-loss simulation over index maps (codebook codecs: ``vqgan``).

A loss pattern is a bool mask over a codec's index grid (True = the index did not arrive);
``ncodec decode --simulate-loss F`` and the restoration benchmark draw one with
:func:`drop_indices`.
"""

from __future__ import annotations

import numpy as np

from .errors import CodecArgumentError


def drop_indices(shape: tuple[int, int], fraction: float, seed: int = 0) -> np.ndarray:
    """A loss mask of ``shape`` with exactly ``round(fraction * h * w)`` lost positions, uniformly at random."""
    if not 0.0 <= fraction <= 1.0:
        raise CodecArgumentError(f"loss fraction must lie in [0, 1], got {fraction}")
    h, w = shape
    mask = np.zeros(h * w, dtype=bool)
    mask[np.random.default_rng(seed).permutation(h * w)[: int(round(fraction * h * w))]] = True
    return mask.reshape(h, w)
