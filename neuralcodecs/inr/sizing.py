"""Model size in parameters (what ``--size 0.3M`` asks for): the width search every family uses."""

from __future__ import annotations

import math
from typing import Callable, Iterable, TypeVar

C = TypeVar("C")


class StridedFrames:
    """Mixin of a configuration with a base grid ``base`` ``(h0, w0)`` and up-sampling ``strides``."""

    @property
    def frame_size(self) -> tuple[int, int]:
        """The network's output ``(h0 * S, w0 * S)``, ``S`` the product of the strides."""
        scale = math.prod(self.strides)
        return self.base[0] * scale, self.base[1] * scale


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
