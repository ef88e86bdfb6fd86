"""Exact mean-scale Gaussian parameters in fixed point.

A mean-scale model codes each latent ``y`` as the integer ``round(y - mean)`` under a
discretized Gaussian of standard deviation ``scale``.  The decoder must derive exactly the
encoder's ``mean`` (to undo the shift) and the encoder's scale *index* (to pick the CDF).
Here both come from integers produced by an :class:`~neuralcodecs.entropy.exact.IntegerNetwork`
and from integer per-channel gains, combined with integer operations only:

* ``mean_fixed``: mean in units of ``2**-MEAN_FRACTION_BITS``;
* ``log_scale_fixed``: natural log of the scale in units of ``2**-LOG_SCALE_FRACTION_BITS``;
* a gain ``g`` (variable rate) multiplies the mean (``gain_fixed``, units of
  ``2**-GAIN_FRACTION_BITS``) and adds ``log g`` to the log-scale (``log_gain_fixed``).

The scale table is log-uniform: entry ``k`` is
``exp((SCALE_BASE + k * SCALE_STEP) / 2**LOG_SCALE_FRACTION_BITS)``, ``k < NUM_SCALES``, and a
log-scale selects the nearest entry.  All of this is part of the file format.
"""

from __future__ import annotations

import math

import torch

MEAN_FRACTION_BITS = 8
LOG_SCALE_FRACTION_BITS = 6
GAIN_FRACTION_BITS = 12
SCALE_BASE = -141  # round(ln(0.11) * 64): the smallest scale, 0.1105
SCALE_STEP = 8  # 0.125 nat between neighbouring scales
NUM_SCALES = 64  # largest scale exp((-141 + 63 * 8) / 64) = 290.0
SCALE_MIN = math.exp(SCALE_BASE / 2**LOG_SCALE_FRACTION_BITS)


def scale_table() -> list[float]:
    """The ``NUM_SCALES`` standard deviations the coder has CDFs for, ascending."""
    unit = 2.0**LOG_SCALE_FRACTION_BITS
    return [math.exp((SCALE_BASE + k * SCALE_STEP) / unit) for k in range(NUM_SCALES)]


def scale_indexes(log_scale_fixed: torch.Tensor) -> torch.Tensor:
    """Nearest scale-table entry of each fixed-point log-scale (int64 in, int64 out)."""
    offset = log_scale_fixed - SCALE_BASE + SCALE_STEP // 2
    return torch.div(offset, SCALE_STEP, rounding_mode="floor").clamp_(0, NUM_SCALES - 1)


def gained_means(mean_fixed: torch.Tensor, gain_fixed: torch.Tensor) -> torch.Tensor:
    """Means times gains, exactly, as float64.

    Args:
        mean_fixed: int64 ``(B, M, h, w)``, units of ``2**-MEAN_FRACTION_BITS``.
        gain_fixed: int64 ``(M,)`` or broadcastable, units of ``2**-GAIN_FRACTION_BITS``.
    Returns:
        float64 tensor; exact because ``|mean_fixed * gain_fixed| < 2**53`` (checked).
    """
    product = mean_fixed * gain_fixed.reshape(1, -1, 1, 1)
    if product.numel() and int(product.abs().max()) >= 2**53:
        raise OverflowError("gained mean exceeds the exactly representable range")
    return product.to(torch.float64) / float(2 ** (MEAN_FRACTION_BITS + GAIN_FRACTION_BITS))


def ladder_position(levels: int, quality_x256: int) -> tuple[int, int, int]:
    """``(a, b, t)``: the ladder rows a quality lies between and its position in 1/256 steps.

    ``q = quality_x256 - 256``, ``a = min(q // 256, L - 1)``, ``b = min(a + 1, L - 1)``,
    ``t = q - 256 a`` (bitstreams/FORMAT.md, "Gains").
    """
    position = quality_x256 - 256
    low = min(position // 256, levels - 1)
    return low, min(low + 1, levels - 1), position - 256 * low


def interpolate_fixed(ladder: torch.Tensor, quality_x256: int) -> torch.Tensor:
    """Integer linear interpolation between rows of a fixed-point ladder.

    Args:
        ladder: int64 ``(L, M)``: one row per integer quality ``1..L``.
        quality_x256: quality times 256, in ``[256, 256 * L]``.
    Returns:
        int64 ``(M,)``: ``round(row_a * (1 - t) + row_b * t)`` with ``t`` in 1/256 steps.
    """
    low, high, frac = ladder_position(ladder.shape[0], quality_x256)
    mixed = ladder[low] * (256 - frac) + ladder[high] * frac + 128
    return torch.div(mixed, 256, rounding_mode="floor")


def interpolate_gain_geometric(ladder: torch.Tensor, quality_x256: int) -> torch.Tensor:
    """Geometric interpolation between rows of a fixed-point gain ladder, in integers only.

    For ``a``, ``b``, ``t`` as in :func:`interpolate_fixed`, each channel's gain is the
    integer ``g`` nearest to ``(G[a]**(256 - t) * G[b]**t) ** (1/256)`` in the log domain: the
    largest ``g >= 1`` with ``(2g - 1)**256 <= 2**256 * G[a]**(256 - t) * G[b]**t``.  This agrees
    with the log-linear interpolation of the log-gains (format version 2; version 1 streams
    interpolate the gain linearly, :func:`interpolate_fixed`).

    Args:
        ladder: int64 ``(L, M)``, positive.
    Returns:
        int64 ``(M,)``.
    """
    low, high, frac = ladder_position(ladder.shape[0], quality_x256)
    if frac == 0 or low == high:
        return ladder[low].clone()
    out = []
    for ga, gb in zip(ladder[low].tolist(), ladder[high].tolist()):
        if ga < 1 or gb < 1:
            raise ValueError("gains must be positive")
        target = 2**256 * ga ** (256 - frac) * gb**frac
        guess = max(1, int(round(math.exp(((256 - frac) * math.log(ga) + frac * math.log(gb)) / 256))))
        # the float guess is within a few units; exact integer comparisons settle it
        while guess > 1 and (2 * guess - 1) ** 256 > target:
            guess -= 1
        while (2 * guess + 1) ** 256 <= target:
            guess += 1
        out.append(guess)
    return torch.tensor(out, dtype=torch.int64)
