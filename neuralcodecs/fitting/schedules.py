"""Schedules of the fitting engine: functions of the progress ``p`` in [0, 1] of a phase.

All are plain functions of numbers, so a fit resumed at step ``k`` sees exactly the values a fit
that never stopped saw at step ``k``.
"""

from __future__ import annotations

import math


def cosine(p: float, start: float, end: float = 0.0) -> float:
    """Half a cosine from ``start`` (p = 0) to ``end`` (p = 1)."""
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * min(max(p, 0.0), 1.0)))


def linear(p: float, start: float, end: float) -> float:
    """A straight line from ``start`` (p = 0) to ``end`` (p = 1)."""
    return start + (end - start) * min(max(p, 0.0), 1.0)


def warmup_cosine(step: int, steps: int, peak: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of ``steps`` (from ``peak / warm``), then
    :func:`cosine` from ``peak`` to zero over the rest."""
    warm = int(warmup * steps)
    if step < warm:
        return peak * (step + 1) / warm
    return cosine((step - warm) / max(1, steps - warm), peak)
