"""Token-budget strategies: which of a picture's (or video's) tokens reach the language model.

Every strategy but ``all`` reduces one sample's tokens ``(N, D)`` at grid positions ``(N, 3)`` =
``(t, y, x)`` to exactly ``min(k, N)`` tokens (``all`` keeps every token: it applies no budget);
each declares in :attr:`Strategy.needs` what it reads besides the tokens:

==========  ====================================================  ======================
name        what it does                                          needs
==========  ====================================================  ======================
all         keeps every token                                     --
uniform     a regular sub-grid (evenly spaced rows and columns)   --
            of :func:`coarse_shape` cells
dct         Fourier-VLM: low-pass of the token grid -- the 2-D    --
            DCT of each channel truncated to its lowest
            ``h' x w'`` frequencies and inverted at that size
            (:func:`coarse_shape`)
kcenter     ToDRE stage 1: greedy k-center on cosine distance,    --
            the most diverse tokens
tome        ToMe: bipartite soft matching, the most similar       --
            pairs merged (size-weighted means) until ``k`` remain
rate        ours: the tokens where the codec spent the most bits  ``rate`` (bits per token)
rate_nms    ours: ``rate`` with non-maximum suppression -- a      ``rate``
            chosen token blocks its neighbours within
            ``r = floor(sqrt(N / k) / 2)`` (Chebyshev) until no
            free token is left, so the bits pick *where* and the
            budget is spread over the picture
keyframe    KFFocus-style: whole frames, those with the most      ``rate``, ``video``
            bits first; the first frame that does not fit whole
            gives its costliest tokens to fill the budget
==========  ====================================================  ======================

``uniform`` and ``dct`` lay ``k`` tokens on a coarse ``h' x w'`` grid (:func:`coarse_shape`); when
no grid of exactly ``k`` cells fits the picture's aspect, the coarse grid has up to ``w' - 1``
cells more than ``k`` and its last row is cut short, so that the count is still exactly ``k``.
On video (``T`` frames) the budget is shared out evenly, frame ``t`` getting
``floor((t + 1) k / T) - floor(t k / T)`` tokens.

A *budget* is an int (tokens), a float in ``(0, 1]`` (a fraction of the tokens) or
``"adaptive"``: the fewest tokens that hold :data:`ADAPTIVE_SHARE` of the sample's importance --
its bits where the codec attributes them, otherwise the tokens' squared distance to their mean
(so busy pictures get more tokens than flat ones).  Selected tokens keep their grid order
(``t``, then ``y``, then ``x``) so that positional encodings stay monotone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import CodecArgumentError

ADAPTIVE_SHARE = 0.8


@dataclass(frozen=True)
class Strategy:
    """A token-budget strategy: ``select(tokens (N, D), positions (N, 3), k, rate (N,) | None)
    -> (tokens (k', D), positions (k', 3))`` with ``k' = min(k, N)`` (``all``: ``k' = N``)."""

    name: str
    select: Callable
    needs: frozenset = frozenset()
    description: str = ""


STRATEGIES: dict[str, Strategy] = {}


def register(name: str, needs=(), description: str = ""):
    def wrap(fn):
        STRATEGIES[name] = Strategy(name, fn, frozenset(needs), description)
        return fn

    return wrap


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise CodecArgumentError(f"unknown token strategy {name!r}; choose from {', '.join(sorted(STRATEGIES))}") from None


def parse_budget(budget):
    """A budget as given (int, float, ``"adaptive"`` or their text) -> int, float or ``"adaptive"``.

    :class:`CodecArgumentError` for anything else, a count below 1 or a fraction outside (0, 1].
    """
    if isinstance(budget, str) and budget != "adaptive":
        try:
            budget = float(budget) if "." in budget else int(budget)
        except ValueError:
            pass
    if budget == "adaptive":
        return budget
    if isinstance(budget, bool) or not isinstance(budget, (int, float)):
        raise CodecArgumentError(f"budget must be a token count, a fraction in (0, 1] or 'adaptive', got {budget!r}")
    if isinstance(budget, float) and not 0 < budget <= 1:
        raise CodecArgumentError(f"a fractional budget must lie in (0, 1], got {budget}")
    if isinstance(budget, int) and budget < 1:
        raise CodecArgumentError(f"a token budget must be at least 1, got {budget}")
    return budget


def resolve_budget(budget, n: int, importance: torch.Tensor | None = None) -> int:
    """Tokens to keep out of ``n`` for a budget (see :func:`parse_budget`); at least 1.

    ``"adaptive"``: the fewest tokens holding :data:`ADAPTIVE_SHARE` of ``importance`` ``(n,)``.
    """
    budget = parse_budget(budget)
    if budget == "adaptive":
        if importance is None or float(importance.sum()) <= 0:
            return n
        share = torch.cumsum(importance.float().sort(descending=True).values, 0) / importance.float().sum()
        return min(n, int(torch.searchsorted(share, torch.tensor(ADAPTIVE_SHARE))) + 1)
    if isinstance(budget, float):
        return max(1, min(n, math.ceil(budget * n)))
    return min(n, budget)


def _grid_key(positions: torch.Tensor) -> torch.Tensor:
    """A sort key ``(N,)`` that orders positions ``(N, 3)`` by ``t``, then ``y``, then ``x``."""
    span = int(positions.max()) + 1 if len(positions) else 1
    return (positions[:, 0] * span + positions[:, 1]) * span + positions[:, 2]


def _in_grid_order(tokens, positions, index):
    """``tokens[index]``, ``positions[index]`` sorted by ``(t, y, x)``."""
    index = index[torch.argsort(_grid_key(positions[index]))]
    return tokens[index], positions[index]


@register("all", description="every token")
def keep_all(tokens, positions, k, rate=None):
    return tokens, positions


def coarse_shape(h: int, w: int, k: int) -> tuple[int, int]:
    """The ``(h', w')`` grid that ``k <= h * w`` tokens of an ``h x w`` grid are laid on.

    Candidates are the grids of ``w' <= w`` columns and ``h' = ceil(k / w') <= h`` rows (at most
    ``w' - 1`` cells beyond ``k``, cut from the end of the last row).  The ideal shape has the
    picture's aspect, ``sqrt(k h / w) x sqrt(k w / h)``, kept within ``1..h`` rows and ``1..w``
    columns (a one-row grid stays one row).  Preferred, in order: an aspect within a factor 2 of
    the ideal one; the fewest extra cells (none when ``k`` factors into such a grid, e.g. 64
    tokens of a 32 x 48 grid: 8 x 8); the nearest aspect.
    """
    if not 1 <= k <= h * w:
        raise ValueError(f"a budget of {k} tokens does not fit a {h} x {w} grid")
    rows = min(max(math.sqrt(k * h / w), 1.0, k / w), h, float(k))
    target = math.log(rows / (k / rows))
    best = None
    for cols in range(1, w + 1):
        rows = -(-k // cols)
        if rows > h:
            continue
        distortion = abs(math.log(rows / cols) - target)
        key = (distortion > math.log(2) + 1e-9, rows * cols - k, distortion, cols)
        if best is None or key < best[0]:
            best = (key, (rows, cols))
    return best[1]


def coarse_cells(h: int, w: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``(k,)`` and columns ``(k,)`` of the ``h x w`` grid under the first ``k`` cells (raster
    order) of the :func:`coarse_shape` grid: the cell centres of an even partition."""
    out_h, out_w = coarse_shape(h, w, k)
    index = torch.arange(k)
    rows = ((index // out_w + 0.5) * h / out_h).long().clamp(max=h - 1)
    cols = ((index % out_w + 0.5) * w / out_w).long().clamp(max=w - 1)
    return rows, cols


def frame_shares(k: int, frames: int) -> list[int]:
    """``k`` tokens shared out evenly over ``frames`` frames (differing by at most one)."""
    return [(t + 1) * k // frames - t * k // frames for t in range(frames)]


def _grid_shape(positions: torch.Tensor) -> tuple[int, int, int]:
    return tuple(int(positions[:, i].max()) + 1 for i in range(3))


@register("uniform", description="a regular sub-grid")
def uniform(tokens, positions, k, rate=None):
    if k >= len(tokens):
        return tokens, positions
    frames, h, w = _grid_shape(positions)
    wanted = torch.zeros(frames, h, w, dtype=torch.bool)
    for t, share in enumerate(frame_shares(k, frames)):
        if share:
            rows, cols = coarse_cells(h, w, min(share, h * w))
            wanted[t, rows, cols] = True
    keep = wanted[positions[:, 0], positions[:, 1], positions[:, 2]]
    return _in_grid_order(tokens, positions, torch.nonzero(keep).flatten())


def _dct_matrix(n: int, dtype=torch.float32) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(n, n)``: ``X = M @ x``."""
    i = torch.arange(n, dtype=torch.float64)
    m = torch.cos(math.pi / n * (i[None, :] + 0.5) * i[:, None]) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.to(dtype)


def lowpass_grid(grid: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """Fourier-VLM's compression of a feature grid ``(D, h, w)`` to ``(D, out_h, out_w)``.

    The orthonormal 2-D DCT keeps its ``out_h x out_w`` lowest frequencies and is inverted at
    that size, scaled by ``sqrt(out_h * out_w / (h * w))`` so that a constant grid stays constant.
    """
    _, h, w = grid.shape
    ch, cw = _dct_matrix(h, grid.dtype), _dct_matrix(w, grid.dtype)
    spectrum = ch @ grid @ cw.T
    low = spectrum[:, :out_h, :out_w]
    scale = math.sqrt(out_h * out_w / (h * w))
    return _dct_matrix(out_h, grid.dtype).T @ low @ _dct_matrix(out_w, grid.dtype) * scale


@register("dct", description="Fourier-VLM low-pass of the token grid")
def dct(tokens, positions, k, rate=None):
    n = len(tokens)
    if k >= n:
        return tokens, positions
    frames, h, w = _grid_shape(positions)
    if frames * h * w != n:
        raise CodecArgumentError("dct needs the full token grid (apply it first)")
    out_tokens, out_positions = [], []
    for t, share in enumerate(frame_shares(k, frames)):
        if not share:
            continue
        out_h, out_w = coarse_shape(h, w, share)
        grid = tokens[t * h * w : (t + 1) * h * w].T.reshape(-1, h, w)
        low = lowpass_grid(grid.float(), out_h, out_w).to(tokens.dtype)
        out_tokens.append(low.reshape(low.shape[0], -1).T[:share])  # the last row may be cut short
        rows, cols = coarse_cells(h, w, share)
        out_positions.append(torch.stack([torch.full_like(rows, t), rows, cols], -1))
    return torch.cat(out_tokens), torch.cat(out_positions)


@register("kcenter", description="ToDRE stage 1: greedy k-center diversity")
def kcenter(tokens, positions, k, rate=None):
    n = len(tokens)
    if k >= n:
        return tokens, positions
    unit = torch.nn.functional.normalize(tokens.float(), dim=1)
    first = int(torch.argmax((unit @ unit.mean(0)).neg()))  # the token least like the average
    chosen = [first]
    distance = 1 - unit @ unit[first]
    for _ in range(k - 1):
        distance[chosen] = -1
        nxt = int(torch.argmax(distance))
        chosen.append(nxt)
        distance = torch.minimum(distance, 1 - unit @ unit[nxt])
    return _in_grid_order(tokens, positions, torch.tensor(chosen))


@register("tome", description="ToMe bipartite soft matching merge")
def tome(tokens, positions, k, rate=None):
    x, pos = tokens.float(), positions
    size = torch.ones(len(x))
    while len(x) > k:
        r = min(len(x) - k, len(x) // 2)
        a, b = torch.arange(0, len(x), 2), torch.arange(1, len(x), 2)
        unit = torch.nn.functional.normalize(x, dim=1)
        similarity = unit[a] @ unit[b].T
        best, partner = similarity.max(1)
        merged = torch.argsort(best, descending=True)[:r]  # the r most similar a-tokens merge into their b partner
        kept_a = torch.ones(len(a), dtype=torch.bool)
        kept_a[merged] = False
        xb, sb = x[b] * size[b, None], size[b].clone()
        xb.index_add_(0, partner[merged], x[a[merged]] * size[a[merged], None])
        sb.index_add_(0, partner[merged], size[a[merged]])
        x = torch.cat([x[a[kept_a]], xb / sb[:, None]])
        size = torch.cat([size[a[kept_a]], sb])
        pos = torch.cat([pos[a[kept_a]], pos[b]])
        order = torch.argsort(_grid_key(pos))
        x, size, pos = x[order], size[order], pos[order]
    return x.to(tokens.dtype), pos


@register("rate", needs=("rate",), description="ours: the tokens the codec spent the most bits on")
def rate_guided(tokens, positions, k, rate=None):
    if k >= len(tokens):
        return tokens, positions
    order = torch.argsort(rate.float(), descending=True, stable=True)[:k]
    return _in_grid_order(tokens, positions, order)


@register("rate_nms", needs=("rate",), description="ours: rate-guided with non-maximum suppression")
def rate_nms(tokens, positions, k, rate=None):
    n = len(tokens)
    if k >= n:
        return tokens, positions
    radius = int(math.sqrt(n / k) / 2)
    score = rate.float().clone()
    free = torch.ones(n, dtype=torch.bool)
    chosen = torch.zeros(n, dtype=torch.bool)
    for _ in range(k):
        pool = free & ~chosen
        if not bool(pool.any()):  # everything left is suppressed: fall back to the best remaining
            pool = ~chosen
        best = int(torch.argmax(torch.where(pool, score, torch.tensor(-torch.inf))))
        chosen[best] = True
        near = (positions[:, 0] == positions[best, 0]) & ((positions[:, 1:] - positions[best, 1:]).abs().amax(1) <= radius)
        free &= ~near
    return _in_grid_order(tokens, positions, torch.nonzero(chosen).flatten())


@register("keyframe", needs=("rate", "video"), description="KFFocus-style: frames with the most bits")
def keyframe(tokens, positions, k, rate=None):
    if k >= len(tokens):
        return tokens, positions
    frames = positions[:, 0]
    bits = torch.zeros(int(frames.max()) + 1).index_add_(0, frames, rate.float())
    keep = torch.zeros(len(tokens), dtype=torch.bool)
    for t in torch.argsort(bits, descending=True, stable=True).tolist():
        room = k - int(keep.sum())
        in_frame = torch.nonzero(frames == t).flatten()
        if len(in_frame) <= room:
            keep[in_frame] = True
            continue
        # the first frame that does not fit whole: its costliest tokens fill the budget
        keep[in_frame[torch.argsort(rate[in_frame].float(), descending=True, stable=True)[:room]]] = True
        break
    return _in_grid_order(tokens, positions, torch.nonzero(keep).flatten())
