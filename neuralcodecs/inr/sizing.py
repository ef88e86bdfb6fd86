"""Model size in parameters (what ``--size 0.3M`` asks for): the width search every family uses."""

from __future__ import annotations

from typing import Callable, Iterable, TypeVar

C = TypeVar("C")


def nearest_size(make: Callable[[int], C], count: Callable[[C], int], target: int, widths: Iterable[int]) -> C:
    """``make(w)`` for the width ``w`` (ascending ``widths``) whose ``count`` is nearest ``target``;
    the search stops at the first configuration above the target."""
    best = None
    for w in widths:
        cfg = make(w)
        n = count(cfg)
        if best is None or abs(n - target) < abs(best[0] - target):
            best = (n, cfg)
        if n > target:
            break
    return best[1]
