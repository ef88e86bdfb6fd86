"""Rate control: choose the quality that meets a size or rate budget.

File size grows with quality for every codec here, so a bisection over the quality range
finds the budget's quality in about ``log2(range / step)`` encodes (11 for ``hyperprior``'s
1..8 in steps of 1/256).  Every encoding tried is a real one; the result is the best of them,
so ``max_bytes`` is never exceeded even where size is not perfectly monotone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .errors import CodecArgumentError, RateControlError
from .image.io import load_image
from .bitstream import COLOR_GRAY


@dataclass
class BudgetResult:
    """The encoding rate control picked: ``data`` with ``quality``, after ``trials`` encodes."""

    data: bytes
    quality: float
    trials: int

    @property
    def size(self) -> int:
        return len(self.data)


def search_quality(
    encode: Callable[[float], bytes],
    low: float,
    high: float,
    step: float,
    score: Callable[[int], float],
    feasible: Callable[[int], bool] = lambda size: True,
) -> tuple[float, bytes, int] | None:
    """Bisection over ``[low, high]`` in units of ``step`` for the feasible encoding of lowest score.

    Args:
        encode: quality -> encoded bytes (size assumed to grow with quality).
        low, high: quality range.
        step: smallest quality increment.
        score: size -> badness (lower is better) among feasible encodings.
        feasible: size -> whether an encoding may be returned.
    Returns:
        ``(quality, data, trials)`` or ``None`` if no encoding tried was feasible.
    """
    lo_i, hi_i = 0, int(round((high - low) / step))
    best: tuple[float, bytes] | None = None
    trials = 0
    cache: dict[int, bytes] = {}

    def trial(i: int) -> int:
        nonlocal best, trials
        if i not in cache:
            q = min(high, max(low, round(low + i * step, 9)))
            cache[i] = encode(q)
            trials += 1
            size = len(cache[i])
            if feasible(size) and (best is None or score(size) < score(len(best[1]))):
                best = (q, cache[i])
        return len(cache[i])

    def want_larger(size: int) -> bool:
        """Whether a larger file would still be allowed and no worse."""
        return feasible(size) and score(size + 1) <= score(size)

    # invariant: want_larger(size at lo_i) and not want_larger(size at hi_i)
    if want_larger(trial(lo_i)) and not want_larger(trial(hi_i)):
        while hi_i - lo_i > 1:
            mid = (lo_i + hi_i) // 2
            if want_larger(trial(mid)):
                lo_i = mid
            else:
                hi_i = mid
    if best is None:
        return None
    return best[0], best[1], trials


def encode_to_budget(codec, image, target_bpp: float | None = None, max_bytes: int | None = None, alpha: str = "refuse") -> BudgetResult:
    """Encode ``image`` with ``codec`` at the quality a budget asks for.

    Args:
        codec: an image codec from the registry.
        target_bpp: the rate to come nearest to (file bytes, header included).
        max_bytes: the largest file allowed; the highest quality that fits is chosen.
    Raises:
        RateControlError: no quality fits ``max_bytes`` (nothing is written).
    """
    if (target_bpp is None) == (max_bytes is None):
        raise CodecArgumentError("give exactly one of target_bpp and max_bytes")
    pixels, color = load_image(image, alpha=alpha)
    source = pixels[..., 0] if color == COLOR_GRAY else pixels
    num_pixels = pixels.shape[0] * pixels.shape[1]
    low, high = codec.quality_range

    def encode(q: float) -> bytes:
        return codec.encode(source, quality=q)

    if max_bytes is not None:
        if max_bytes <= 0:
            raise CodecArgumentError("max_bytes must be positive")
        found = search_quality(encode, low, high, 1 / 256, score=lambda s: -s, feasible=lambda s: s <= max_bytes)
        if found is None:
            smallest = len(encode(low))
            raise RateControlError(
                f"no {codec.name} quality fits {max_bytes} bytes: the lowest quality takes {smallest} bytes"
            )
    else:
        if target_bpp <= 0:
            raise CodecArgumentError("target_bpp must be positive")
        target = target_bpp * num_pixels / 8
        found = search_quality(encode, low, high, 1 / 256, score=lambda s: abs(s - target))
    quality, data, trials = found
    return BudgetResult(data, quality, trials)
