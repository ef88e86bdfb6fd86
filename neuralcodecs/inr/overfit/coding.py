"""Exact coding of the latent pyramid: an integer ARM, Laplace lattice tables and wavefronts.

The fitted float ARM is frozen into an :class:`~neuralcodecs.entropy.exact.IntegerNetwork`
(8-bit weights, calibrated on the image's own contexts) whose integer outputs are a mean with
``MEAN_FRACTION_BITS`` and a log-scale with ``LOG_SCALE_FRACTION_BITS``; the scale index and the
mean's quarter fraction select a row of the **Laplace lattice table** (:mod:`neuralcodecs.entropy.lattice`
built with ``distribution="laplace"``, rows of at most ``2 * TABLE_HALF + 1`` symbols, the escape
beyond).  Every step is integer arithmetic, so encoder and decoder agree on every machine and
thread count; the table ships as a package asset (built once from float64 Laplace CDFs) and is
checked against :data:`TABLE_SHA256` when loaded.

**Wavefronts.** A latent's context reaches ``r`` columns to the right in the rows above
(``r = max dx`` over the offsets with ``dy < 0``), so position ``(i, j)`` depends only on
positions of smaller ``t = j + (r + 1) i``.  The symbols of all grids are coded in order of ``t``
(then grid, then row-major position); the decoder decodes one wavefront ``t`` of every grid at
once: one integer-network call and one coder call per wavefront.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import torch

from ...entropy.coders import RowChunkDecoder, RowCoder
from ...entropy.exact import IntegerNetwork, PointwiseIntegerEvaluator, freeze_conv_stack
from ...entropy.gaussian import MEAN_FRACTION_BITS, LOG_SCALE_FRACTION_BITS, scale_indexes
from ...entropy.lattice import build_table, lattice_rows, table_from_state, table_state
from ...errors import WeightsError
from ...paths import ASSETS_DIR
from .model import LATENT_BOUND

ARM_WEIGHT_MAX = 127  # 8-bit ARM weights: they travel in every file
TABLE_HALF = 96
TABLE_ASSET = ASSETS_DIR / "laplace_lattice.safetensors"
#: SHA-256 of the normative table (``bitstreams/FORMAT.md``, "overfit sections")
TABLE_SHA256 = "a423b6ae1e76c3de2e19339498418c0d29f010a92c3291d81145209cff439630"


def build_laplace_table():
    """The table from float64 Laplace CDFs (what the asset was made from: ``write_table_asset``);
    every row spans ``-TABLE_HALF..TABLE_HALF`` plus the escape, so a chunk decodes in one call."""
    return build_table(distribution="laplace", max_half=TABLE_HALF, equal_rows=True)


def table_digest(table) -> str:
    """SHA-256 of a table as stored end to end (rows, lengths, offsets; int32 little-endian)."""
    state = table_state(table, "t")
    digest = hashlib.sha256()
    for key in ("t.cdf", "t.cdf_length", "t.offset"):
        digest.update(state[key].numpy().astype("<i4").tobytes())
    return digest.hexdigest()


def write_table_asset(path=TABLE_ASSET) -> None:
    from safetensors.torch import save_file

    save_file(table_state(build_laplace_table(), "laplace"), str(path))


@lru_cache(maxsize=1)
def laplace_coder() -> RowCoder:
    """The Laplace lattice table coder, from the package asset (checked against :data:`TABLE_SHA256`)."""
    from safetensors.torch import load_file

    try:
        table = table_from_state(load_file(str(TABLE_ASSET)), "laplace")
    except (OSError, KeyError, ValueError) as exc:
        raise WeightsError(f"{TABLE_ASSET} is missing or damaged ({exc}); reinstall neuralcodecs") from None
    if table_digest(table) != TABLE_SHA256:
        raise WeightsError(f"{TABLE_ASSET} is not the format's Laplace table (digest mismatch); reinstall neuralcodecs")
    return RowCoder(table)


def context_offsets_reach(offsets: list[tuple[int, int]]) -> int:
    """``r``: how far right the context reaches in the rows above (0 if never)."""
    return max([dx for dy, dx in offsets if dy < 0] + [0])


def wavefronts(h: int, w: int, reach: int) -> list[np.ndarray]:
    """Flat indexes of a ``h x w`` grid per wavefront ``t = j + (reach + 1) i`` (ascending ``t``, row-major inside)."""
    i, j = np.divmod(np.arange(h * w), w)
    t = j + (reach + 1) * i
    order = np.argsort(t, kind="stable")
    counts = np.bincount(t, minlength=int(t.max()) + 1)
    return np.split(order, np.cumsum(counts)[:-1])


def contexts_at(padded: np.ndarray, flat: np.ndarray, w: int, offsets, r: int) -> np.ndarray:
    """Contexts ``(len(flat), len(offsets))`` int64 of positions ``flat`` of a grid held in ``padded``
    (the grid with ``r`` zero rows above and ``r`` zero columns on each side)."""
    i, j = np.divmod(flat, w)
    stride = padded.shape[1]
    centre = (i + r) * stride + (j + r)
    deltas = np.array([dy * stride + dx for dy, dx in offsets], dtype=np.int64)
    return padded.reshape(-1)[centre[:, None] + deltas[None, :]]


def pad_grid(grid: np.ndarray, r: int) -> np.ndarray:
    return np.pad(grid, ((r, 0), (r, r)))


def freeze_arm(stack, grids: list[np.ndarray], offsets) -> IntegerNetwork:
    """The float ARM stack frozen into integers, calibrated on the contexts of ``grids`` (int arrays)."""
    r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    contexts = []
    for g in grids:
        h, w = g.shape
        contexts.append(contexts_at(pad_grid(g, r), np.arange(h * w), w, offsets, r))
    calibration = torch.from_numpy(np.concatenate(contexts)).t()[None, :, :, None].float()
    bits = torch.tensor([MEAN_FRACTION_BITS, LOG_SCALE_FRACTION_BITS])
    return freeze_conv_stack(stack, calibration, bits, LATENT_BOUND, weight_max=ARM_WEIGHT_MAX)


def arm_rows(arm: PointwiseIntegerEvaluator, contexts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(base, row)`` int64 per context row: the symbol is ``value - base`` under table ``row``."""
    out = torch.from_numpy(arm(contexts))
    means = out[:, 0].to(torch.float64) / 2**MEAN_FRACTION_BITS
    base, rows = lattice_rows(means, scale_indexes(out[:, 1]))
    return base.numpy(), rows.numpy()


def encode_grids(net: IntegerNetwork, grids: list[np.ndarray], offsets) -> bytes:
    """One section holding every grid's values in wavefront order (module docstring)."""
    r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    reach = context_offsets_reach(offsets)
    per_grid, arm = [], PointwiseIntegerEvaluator(net)
    for g in grids:
        h, w = g.shape
        base, rows = arm_rows(arm, contexts_at(pad_grid(g, r), np.arange(h * w), w, offsets, r))
        per_grid.append((g.reshape(-1) - base, rows, wavefronts(h, w, reach)))
    chunks = []  # one chunk per wavefront: the decoder reads them one at a time
    for t in range(max(len(fronts) for _, _, fronts in per_grid)):
        parts = [(sym[fronts[t]], row[fronts[t]]) for sym, row, fronts in per_grid if t < len(fronts)]
        chunks.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    return laplace_coder().encode_chunks(chunks)


def decode_grids(net: IntegerNetwork, data: bytes, shapes: list[tuple[int, int]], offsets) -> list[np.ndarray]:
    """Inverse of :func:`encode_grids`: int64 grids of ``shapes``; :class:`CorruptPayloadError` on damage."""
    r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    reach = context_offsets_reach(offsets)
    padded = [np.zeros((h + r, w + 2 * r), dtype=np.int64) for h, w in shapes]
    fronts = [wavefronts(h, w, reach) for h, w in shapes]
    reader, arm = RowChunkDecoder(laplace_coder(), data), PointwiseIntegerEvaluator(net)
    for t in range(max(len(f) for f in fronts)):
        active = [k for k in range(len(shapes)) if t < len(fronts[k])]
        contexts = [contexts_at(padded[k], fronts[k][t], shapes[k][1], offsets, r) for k in active]
        base, rows = arm_rows(arm, np.concatenate(contexts))
        values = reader.next(rows) + base
        start = 0
        for k, ctx in zip(active, contexts):
            flat = fronts[k][t]
            i, j = np.divmod(flat, shapes[k][1])
            padded[k][i + r, j + r] = np.clip(values[start : start + len(flat)], -LATENT_BOUND, LATENT_BOUND)
            start += len(flat)
    reader.finish()
    return [p[r:, r : r + w] for p, (h, w) in zip(padded, shapes)]


def latent_bits(net: IntegerNetwork, grids: list[np.ndarray], offsets) -> list[np.ndarray]:
    """Bits of every latent (float64, each grid's shape) under the integer ARM and the table."""
    r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    out, arm = [], PointwiseIntegerEvaluator(net)
    for g in grids:
        h, w = g.shape
        base, rows = arm_rows(arm, contexts_at(pad_grid(g, r), np.arange(h * w), w, offsets, r))
        out.append(laplace_coder().symbol_bits(g.reshape(-1) - base, rows).reshape(h, w))
    return out


def grid_bits(net: IntegerNetwork, grids: list[np.ndarray], offsets) -> float:
    """Ideal bits of the grids under the integer ARM and the table (the file's payload, before ANS overhead)."""
    return float(sum(b.sum() for b in latent_bits(net, grids, offsets)))
