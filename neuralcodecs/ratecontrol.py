"""Rate control: choose the quality that meets a size or rate budget.

File size grows with quality for every codec here, so a bisection over the qualities the
codec's :class:`~neuralcodecs.codec.QualitySpec` accepts (``quality.grid()``: a ladder, or a
range in steps of ``quality.step``) finds the budget's quality in about ``log2(len(grid))``
encodes (11 for a 1..8 range in steps of 1/256, 3 for a ladder of 5).  Every encoding tried is a real one; the result is the best of them,
so ``max_bytes`` is never exceeded even where size is not perfectly monotone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .codec import IMAGE_INPUT_KINDS, range_grid
from .errors import CodecArgumentError, RateControlError


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
    grid: list[float],
    score: Callable[[int], float],
    feasible: Callable[[int], bool] = lambda size: True,
) -> tuple[float, bytes, int] | None:
    """Bisection over the ascending qualities ``grid`` for the feasible encoding of lowest score.

    Args:
        encode: quality -> encoded bytes (size assumed to grow with quality).
        grid: the qualities that may be tried, ascending.
        score: size -> badness (lower is better) among feasible encodings.
        feasible: size -> whether an encoding may be returned.
    Returns:
        ``(quality, data, trials)`` or ``None`` if no encoding tried was feasible.
    """
    lo_i, hi_i = 0, len(grid) - 1
    best: tuple[float, bytes] | None = None
    trials = 0
    cache: dict[int, bytes] = {}

    def trial(i: int) -> int:
        nonlocal best, trials
        if i not in cache:
            cache[i] = encode(grid[i])
            trials += 1
            size = len(cache[i])
            if feasible(size) and (best is None or score(size) < score(len(best[1]))):
                best = (grid[i], cache[i])
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


def encode_to_budget(codec, media, target_bpp: float | None = None, max_bytes: int | None = None, alpha: str = "refuse", **options) -> BudgetResult:
    """Encode ``media`` with ``codec`` at the quality a budget asks for.

    Args:
        codec: a codec from the registry (any kind; its ``quality.grid()`` is searched).
        media: what ``codec.encode`` takes (an image, or a video for video codecs).
        target_bpp: the rate to come nearest to (file bytes, header included, per pixel of
            every frame).
        max_bytes: the largest file allowed; the highest quality that fits is chosen.
        options: the codec's declared encode options, passed to every trial.
    Raises:
        RateControlError: no quality fits ``max_bytes`` (nothing is written).
    """
    if (target_bpp is None) == (max_bytes is None):
        raise CodecArgumentError("give exactly one of target_bpp and max_bytes")
    if max_bytes is not None and max_bytes <= 0:
        raise CodecArgumentError("max_bytes must be positive")
    if target_bpp is not None and not target_bpp > 0:
        raise CodecArgumentError("target_bpp must be positive")
    takes_images = codec.kind in IMAGE_INPUT_KINDS
    extra = {"alpha": alpha} if takes_images else {}
    samples = None  # pixels of every frame: from the image, or from the first file's header
    if takes_images:
        from .bitstream import COLOR_GRAY
        from .image.io import load_image

        pixels, color = load_image(media, alpha=alpha)
        media = pixels[..., 0] if color == COLOR_GRAY else pixels
        samples = pixels.shape[0] * pixels.shape[1]

    def encode(q: float) -> bytes:
        nonlocal samples
        data = codec.encode(media, quality=q, **extra, **options)
        if samples is None:
            from .bitstream import read_header

            header = read_header(data)
            samples = header.width * header.height * header.frames
        return data

    grid = codec.quality.grid()
    if max_bytes is not None:
        found = search_quality(encode, grid, score=lambda s: -s, feasible=lambda s: s <= max_bytes)
        if found is None:  # the lowest quality was tried first and did not fit
            smallest = len(encode(grid[0]))
            raise RateControlError(
                f"no {codec.name} quality fits {max_bytes} bytes: the lowest quality takes {smallest} bytes"
            )
    else:
        found = search_quality(encode, grid, score=lambda s: abs(s - target_bpp * samples / 8))
    quality, data, trials = found
    return BudgetResult(data, quality, trials)


def anchor_nearest_size(name: str, pixels, target_bytes: int) -> tuple[float, bytes]:
    """The classical anchor ``name``'s encoding of uint8 ``(H, W, 3)`` ``pixels`` whose size is nearest
    to ``target_bytes`` (bisection on the anchor's quality): ``(quality, bytes)``."""
    from .anchors import anchor

    a = anchor(name)
    grid = range_grid(*a.quality_range, 1.0 if a.integer_quality else 0.01)
    quality, data, _ = search_quality(lambda q: a.encode(pixels, q), grid, score=lambda size: abs(size - target_bytes))
    return quality, data
