"""Exact coding of the latent pyramid: an integer ARM, Laplace lattice tables and wavefronts.

The fitted float ARM is frozen into an :class:`~neuralcodecs.entropy.exact.IntegerNetwork`
(8-bit weights, calibrated on the image's own contexts) whose integer outputs are a mean with
``MEAN_FRACTION_BITS`` and a log-scale with ``LOG_SCALE_FRACTION_BITS``; the scale index and the
mean's quarter fraction select a row of the stream revision's **Laplace lattice table**:

* revision 3 (written): 88 scales from 0.0067 (the float model's smallest) to 356, rows of
  24-bit probabilities, the 37 smallest scales over ``-NARROW_HALF..NARROW_HALF``, the others over
  ``-TABLE_HALF..TABLE_HALF``, the escape beyond (:func:`build_laplace_rows_r3`);
* revision 2 (still decoded): the Gaussian scale ladder from 0.11, 16-bit CDF rows over
  ``-TABLE_HALF..TABLE_HALF`` (:func:`build_laplace_table`).

Every step is integer arithmetic, so encoder and decoder agree on every machine and thread count;
each table ships as a package asset (built once from float64 Laplace masses) and is checked
against its SHA-256 when loaded.

**Wavefronts.** A latent's context reaches ``r`` columns to the right in the rows above
(``r = max dx`` over the offsets with ``dy < 0``), so position ``(i, j)`` depends only on
positions of smaller ``t = j + (r + 1) i``.  The symbols of all grids are coded in order of ``t``
(then grid, then row-major position, :class:`CodingOrder`); the decoder decodes one wavefront
``t`` of every grid at once: one integer-network call and one coder call per row class.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

import numpy as np
import torch

from ...entropy.coders import RowChunkDecoder, RowCoder
from ...entropy.exact import IntegerNetwork, PointwiseIntegerEvaluator, freeze_conv_stack
from ...entropy.gaussian import LOG_SCALE_FRACTION_BITS, MEAN_FRACTION_BITS, NUM_SCALES, SCALE_BASE, SCALE_STEP
from ...entropy.lattice import FRACTIONS, build_table, probability_rows, table_from_state, table_state
from ...errors import WeightsError
from ...paths import ASSETS_DIR
from .model import LATENT_BOUND

ARM_WEIGHT_MAX = 127  # 8-bit ARM weights: they travel in every file
TABLE_HALF = 96
TABLE_ASSET = ASSETS_DIR / "laplace_lattice.safetensors"
#: SHA-256 of the normative table of revision 2 (``bitstreams/FORMAT.md``, "overfit sections")
TABLE_SHA256 = "a423b6ae1e76c3de2e19339498418c0d29f010a92c3291d81145209cff439630"
#: revision 3's table: 24-bit probabilities at scales down to the float model's smallest
TABLE_ASSET_R3 = ASSETS_DIR / "laplace_rows_r3.safetensors"
TABLE_SHA256_R3 = "d6af4d7a22cc0f847c40cbe4d8ec886e1aea9eae5e262167cc53a782a7ce6595"
#: revision 3's Laplace scale ladder, ``b_k = exp((LAPLACE_SCALE_BASE + k * SCALE_STEP) / 64)``:
#: from ``exp(-5) = 0.0067``, the smallest scale the float model uses while fitting
#: (:func:`~neuralcodecs.inr.overfit.model.laplace_bits` clamps ``log b`` there), to 356.
#: Revision 2 used the Gaussian ladder (:mod:`neuralcodecs.entropy.gaussian`) from 0.11: a latent
#: the fit made certain still cost 0.0157 bits (latent sections 2-8% above the float estimate on Kodak).
LAPLACE_SCALE_BASE = -320
LAPLACE_NUM_SCALES = 88
#: revision 3's rows of the smallest ``NARROW_SCALES`` scales (``b <= 0.61``) span ``-NARROW_HALF..NARROW_HALF``
#: (beyond it a latent's mass is below 1e-9), the others ``-TABLE_HALF..TABLE_HALF``, each plus the
#: escape: a 26-entry row decodes about 5x faster than a 194-entry one, and most latents have small scales
NARROW_SCALES = 37
NARROW_HALF = 12


def laplace_scales() -> list[float]:
    """Revision 3's ``LAPLACE_NUM_SCALES`` Laplace scales ``b``, ascending."""
    unit = 2.0**LOG_SCALE_FRACTION_BITS
    return [math.exp((LAPLACE_SCALE_BASE + k * SCALE_STEP) / unit) for k in range(LAPLACE_NUM_SCALES)]


def build_laplace_table():
    """Revision 2's table from float64 Laplace CDFs (what its asset was made from); every row
    spans ``-TABLE_HALF..TABLE_HALF`` plus the escape, so a chunk decodes in one call."""
    return build_table(distribution="laplace", max_half=TABLE_HALF, equal_rows=True)


def build_laplace_rows_r3() -> dict[str, np.ndarray]:
    """Revision 3's table (what its asset was made from): int64 rows ``"narrow"``
    ``(4 * NARROW_SCALES, 2 * NARROW_HALF + 2)`` and ``"wide"`` ``(4 * (LAPLACE_NUM_SCALES - NARROW_SCALES),
    2 * TABLE_HALF + 2)``; row ``4k + f`` of the table is row ``4k + f`` of ``narrow`` for ``k < NARROW_SCALES``."""
    scales = laplace_scales()
    return {"narrow": probability_rows(scales[:NARROW_SCALES], NARROW_HALF),
            "wide": probability_rows(scales[NARROW_SCALES:], TABLE_HALF)}


def table_digest(table) -> str:
    """SHA-256 of a table as stored end to end (rows, lengths, offsets; int32 little-endian)."""
    state = table_state(table, "t")
    digest = hashlib.sha256()
    for key in ("t.cdf", "t.cdf_length", "t.offset"):
        digest.update(state[key].numpy().astype("<i4").tobytes())
    return digest.hexdigest()


def rows_digest(rows: dict[str, np.ndarray]) -> str:
    """SHA-256 of revision 3's probabilities, ``narrow`` then ``wide``, int32 little-endian, C order."""
    digest = hashlib.sha256()
    for key in ("narrow", "wide"):
        digest.update(np.ascontiguousarray(rows[key]).astype("<i4").tobytes())
    return digest.hexdigest()


def write_table_assets() -> None:
    from safetensors.torch import save_file

    save_file(table_state(build_laplace_table(), "laplace"), str(TABLE_ASSET))
    save_file({k: torch.from_numpy(v.astype(np.int32)) for k, v in build_laplace_rows_r3().items()}, str(TABLE_ASSET_R3))


def laplace_coder(revision: int = 3) -> RowCoder:
    """The Laplace lattice table coder of a stream revision (revision 4 codes its latents as revision 3),
    from the package asset (checked against its SHA-256)."""
    return _laplace_coder(3 if revision >= 3 else 2)


@lru_cache(maxsize=2)
def _laplace_coder(revision: int) -> RowCoder:
    from safetensors.torch import load_file

    asset = TABLE_ASSET_R3 if revision >= 3 else TABLE_ASSET
    try:
        state = load_file(str(asset))
        if revision >= 3:
            rows = {k: state[k].to(torch.int64).numpy() for k in ("narrow", "wide")}
            digest = rows_digest(rows)
        else:
            table = table_from_state(state, "laplace")
            digest = table_digest(table)
    except (OSError, KeyError, ValueError) as exc:
        raise WeightsError(f"{asset} is missing or damaged ({exc}); reinstall neuralcodecs") from None
    if digest != (TABLE_SHA256_R3 if revision >= 3 else TABLE_SHA256):
        raise WeightsError(f"{asset} is not the format's Laplace table (digest mismatch); reinstall neuralcodecs")
    if revision >= 3:
        return RowCoder([(rows["narrow"], np.full(len(rows["narrow"]), -NARROW_HALF)),
                         (rows["wide"], np.full(len(rows["wide"]), -TABLE_HALF))])
    return RowCoder.from_cdf_table(table)


def context_offsets_reach(offsets: list[tuple[int, int]]) -> int:
    """``r``: how far right the context reaches in the rows above (0 if never)."""
    return max([dx for dy, dx in offsets if dy < 0] + [0])


class CodingOrder:
    """Every grid's positions in coding order (wavefront ``t``, then grid, then row-major), as
    indexes into one flat buffer holding all grids, each with ``r`` zero rows above and ``r`` zero
    columns on each side (``r`` the context's radius): a wavefront's contexts are one gather.

    Attributes: ``centre`` int64 ``(N,)`` the buffer index of each position in coding order;
    ``grid`` its grid; ``deltas`` ``(grids, len(offsets))`` each grid's offsets in buffer units;
    ``bounds`` the start of each wavefront in coding order (and ``N``); ``starts`` each grid's
    first buffer index; ``padded`` the padded grid shapes.
    """

    def __init__(self, shapes: list[tuple[int, int]], offsets):
        r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
        reach = context_offsets_reach(offsets)
        self.r, self.shapes = r, shapes
        self.padded = [(h + r, w + 2 * r) for h, w in shapes]
        sizes = [ph * pw for ph, pw in self.padded]
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.buffer_size = int(sum(sizes))
        centres, grids, times = [], [], []
        for g, ((h, w), (_, pw)) in enumerate(zip(shapes, self.padded)):
            i, j = np.divmod(np.arange(h * w, dtype=np.int64), w)
            centres.append(self.starts[g] + (i + r) * pw + (j + r))
            grids.append(np.full(h * w, g, dtype=np.int64))
            times.append(j + (reach + 1) * i)
        times, grids, centres = np.concatenate(times), np.concatenate(grids), np.concatenate(centres)
        order = np.lexsort((centres, grids, times))  # row-major inside a grid = ascending buffer index
        self.centre, self.grid = centres[order], grids[order]
        counts = np.bincount(times, minlength=int(times.max()) + 1 if times.size else 0)
        self.bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.deltas = np.array([[dy * pw + dx for dy, dx in offsets] for _, pw in self.padded], dtype=np.int64)

    def buffer(self, grids: list[np.ndarray] | None = None) -> np.ndarray:
        """The flat buffer (int64), zero, or holding ``grids``."""
        out = np.zeros(self.buffer_size, dtype=np.int64)
        if grids is not None:
            for g, (grid, (h, w)) in enumerate(zip(grids, self.shapes)):
                view = out[self.starts[g] : self.starts[g] + self.padded[g][0] * self.padded[g][1]]
                view.reshape(self.padded[g])[self.r :, self.r : self.r + w] = grid
        return out

    def grids(self, buffer: np.ndarray) -> list[np.ndarray]:
        out = []
        for g, (h, w) in enumerate(self.shapes):
            view = buffer[self.starts[g] : self.starts[g] + self.padded[g][0] * self.padded[g][1]]
            out.append(view.reshape(self.padded[g])[self.r :, self.r : self.r + w].copy())
        return out

    def contexts(self, buffer: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Contexts ``(stop - start, len(offsets))`` of the positions ``start:stop`` in coding order."""
        return buffer[self.centre[start:stop, None] + self.deltas[self.grid[start:stop]]]


def arm_calibration(grids: list[np.ndarray], offsets) -> torch.Tensor:
    """The contexts of every latent of ``grids`` (int arrays) as the ARM's calibration inputs ``(1, N, count, 1)``."""
    order = CodingOrder([g.shape for g in grids], offsets)
    contexts = order.contexts(order.buffer(grids), 0, len(order.centre))
    return torch.from_numpy(contexts).t()[None, :, :, None].float()


def freeze_arm(stack, grids: list[np.ndarray], offsets, weight_max: int = ARM_WEIGHT_MAX,
               calibration: torch.Tensor | None = None) -> IntegerNetwork:
    """The float ARM stack frozen into integers (weights in ``+-weight_max``), calibrated on the contexts
    of ``grids`` (int arrays); ``calibration``: those contexts already gathered (:func:`arm_calibration`)."""
    if calibration is None:
        calibration = arm_calibration(grids, offsets)
    bits = torch.tensor([MEAN_FRACTION_BITS, LOG_SCALE_FRACTION_BITS])
    return freeze_conv_stack(stack, calibration, bits, LATENT_BOUND, weight_max=weight_max)


def arm_rows(arm: PointwiseIntegerEvaluator, contexts: np.ndarray, revision: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(base, row)`` int64 per context row: the symbol is ``value - base`` under table ``row``.

    The lattice rule (:func:`~neuralcodecs.entropy.lattice.lattice_rows`) in integers: with the
    mean ``m`` in units of ``2**-8``, ``q = floor(m / 64 + 1/2)`` (the mean in quarters),
    ``base = floor(q / 4)``, fraction ``q - 4 base``; the scale index is the nearest entry of the
    revision's ladder to the log-scale ``s`` (units of ``2**-6``), ``floor((s - base_s + 4) / 8)``
    clamped to the ladder."""
    out = arm(contexts)
    shift = MEAN_FRACTION_BITS - 2  # FRACTIONS = 4 = 2**2
    q = (out[:, 0] + (1 << (shift - 1))) >> shift
    base = q >> 2
    scale_base, count = (LAPLACE_SCALE_BASE, LAPLACE_NUM_SCALES) if revision >= 3 else (SCALE_BASE, NUM_SCALES)
    index = np.minimum(np.maximum((out[:, 1] - scale_base + SCALE_STEP // 2) // SCALE_STEP, 0), count - 1)
    return base, index * FRACTIONS + (q - 4 * base)


def _symbols_in_order(net: IntegerNetwork, grids: list[np.ndarray], offsets, revision: int):
    """``(order, symbols, rows)``: every latent's symbol and table row, in coding order."""
    order = CodingOrder([g.shape for g in grids], offsets)
    buffer = order.buffer(grids)
    base, rows = arm_rows(PointwiseIntegerEvaluator(net), order.contexts(buffer, 0, len(order.centre)), revision)
    return order, buffer[order.centre] - base, rows


def encode_grids(net: IntegerNetwork, grids: list[np.ndarray], offsets, revision: int = 3) -> bytes:
    """One section holding every grid's values in wavefront order (module docstring)."""
    order, symbols, rows = _symbols_in_order(net, grids, offsets, revision)
    b = order.bounds
    chunks = [(symbols[b[t] : b[t + 1]], rows[b[t] : b[t + 1]]) for t in range(len(b) - 1)]  # one per wavefront
    return laplace_coder(revision).encode_chunks(chunks)


def decode_grids(net: IntegerNetwork, data: bytes, shapes: list[tuple[int, int]], offsets, revision: int = 3) -> list[np.ndarray]:
    """Inverse of :func:`encode_grids`: int64 grids of ``shapes``; :class:`CorruptPayloadError` on damage."""
    order = CodingOrder(shapes, offsets)
    buffer = order.buffer()
    reader, arm = RowChunkDecoder(laplace_coder(revision), data), PointwiseIntegerEvaluator(net)
    bounds = order.bounds.tolist()
    for start, stop in zip(bounds[:-1], bounds[1:]):
        base, rows = arm_rows(arm, order.contexts(buffer, start, stop), revision)
        values = reader.next(rows) + base
        buffer[order.centre[start:stop]] = np.minimum(np.maximum(values, -LATENT_BOUND), LATENT_BOUND)
    reader.finish()
    return order.grids(buffer)


def latent_bits(net: IntegerNetwork, grids: list[np.ndarray], offsets, revision: int = 3) -> list[np.ndarray]:
    """Bits of every latent (float64, each grid's shape) under the integer ARM and the table."""
    order, symbols, rows = _symbols_in_order(net, grids, offsets, revision)
    flat = np.zeros(order.buffer_size)
    flat[order.centre] = laplace_coder(revision).symbol_bits(symbols, rows)
    return order.grids(flat)


def grid_bits(net: IntegerNetwork, grids: list[np.ndarray], offsets, revision: int = 3) -> float:
    """Ideal bits of the grids under the integer ARM and the table (the file's payload, before ANS overhead)."""
    return float(sum(b.sum() for b in latent_bits(net, grids, offsets, revision)))
