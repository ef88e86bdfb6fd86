"""Section 0 of stream revision 4: the networks' quantized parameters under one small model each.

Revisions 2 and 3 coded the parameters with :mod:`~neuralcodecs.inr.weight_coding`'s histogram
models, one per bit depth, each sent as ``2**b - 1`` log-count bytes: 255 bytes for the 8-bit
model alone, about a fifth of a low-rate Kodak file's parameters, and a reason the depth search
kept every module at 8 bits (a second depth cost a second table).  Revision 4 gives every tensor
a **two-sided geometric model** (a discretized Laplace of mean 0) described by one 16-bit integer
``theta``, and its integer weights are computed in integer arithmetic only, so encoder and
decoder agree exactly on every machine:

    g_0 = 2**24,   g_k = floor(g_{k-1} * theta / 2**16)   (k >= 1)
    weight of value v (|v| <= 2**(b-1) - 1) = max(1, g_|v|)

turned into the format's 24-bit probabilities by :func:`~neuralcodecs.entropy.coders.integer_table`.
The encoder picks each tensor's ``theta`` to minimize its coded size (:func:`best_theta`).

Byte layout (little-endian) for a layout ``[(name, shape, bits, stepped), ...]`` the decoder knows
from the header: the float32 step of every ``stepped`` tensor (one per tensor: the overfitted
codec's tensors are 1-D) in layout order; then one ``u16`` theta per tensor in layout order; then
one ANS section holding every tensor's symbols ``v + 2**(b-1) - 1`` in layout order under its own
row, then the sentinel (:meth:`~neuralcodecs.entropy.coders.CategoricalCoder.encode_groups`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ...entropy.coders import PROBABILITY_BITS, CategoricalCoder, integer_table
from ...errors import CorruptPayloadError
from ..weight_coding import QuantizedTensors

THETA_ONE = 2**16  # theta is a fraction of this
GEOMETRIC_TOP = 2**24  # the weight of value 0


@lru_cache(maxsize=256)  # a row is at most 4,095 int64 (32 KB): at most 8 MB held, whatever files a process decodes
def geometric_probabilities(theta: int, bits: int) -> np.ndarray:
    """The 24-bit probabilities ``(2**b - 1,)`` of values ``-(2**(b-1) - 1) .. 2**(b-1) - 1`` under ``theta``
    (module docstring), as integers; read-only."""
    half = 2 ** (bits - 1) - 1
    g = np.empty(half + 1, dtype=np.int64)
    g[0] = GEOMETRIC_TOP
    for k in range(1, half + 1):
        g[k] = (int(g[k - 1]) * theta) >> 16
        if g[k] == 0:
            g[k:] = 0
            break
    weights = np.maximum(np.concatenate([g[:0:-1], g]), 1)
    table = integer_table(weights)
    table.setflags(write=False)
    return table


def coded_bits(values: np.ndarray, theta: int, bits: int) -> float:
    """Ideal bits of integer ``values`` (``|v| <= 2**(b-1) - 1``) under ``theta``."""
    half = 2 ** (bits - 1) - 1
    counts = np.bincount(np.asarray(values, dtype=np.int64).reshape(-1) + half, minlength=2 * half + 1)
    used = counts > 0
    p = geometric_probabilities(theta, bits)[used].astype(np.float64)
    return float((counts[used] * (PROBABILITY_BITS - np.log2(p))).sum())


def best_theta(values: np.ndarray, bits: int) -> int:
    """The ``theta`` (0 .. 2**16 - 1) that codes ``values`` in the fewest bits: a scan of 64
    candidates spaced evenly in ``log(1 - theta)``, then a local refinement."""
    measured: dict[int, float] = {}

    def cost(t: int) -> float:  # each candidate measured once
        if t not in measured:
            measured[t] = coded_bits(values, t, bits)
        return measured[t]

    candidates = sorted({min(THETA_ONE - 1, max(0, round(THETA_ONE * (1 - 2.0 ** (-x / 4))))) for x in range(64)})
    best = min(candidates, key=cost)
    step = max(1, (THETA_ONE - best) // 8)
    while step >= 1:
        moved = min((t for t in (best - step, best + step) if 0 <= t < THETA_ONE), key=cost, default=best)
        if cost(moved) < cost(best):
            best = moved
        else:
            step //= 2
    return best


def encode_parameters(q: QuantizedTensors, stepped: list[bool]) -> bytes:
    """Section 0 of revision 4 (module docstring) for quantized tensors; ``stepped[i]``: tensor ``i``'s
    step travels (the float tensors), or not (the ARM's integer weights)."""
    thetas = [best_theta(v, b) for v, b in zip(q.values, q.bits)]
    head = b"".join(s.astype("<f4").tobytes() for s, keep in zip(q.steps, stepped) if keep)
    head += np.asarray(thetas, dtype="<u2").tobytes()
    groups = [(v.reshape(-1) + 2 ** (b - 1) - 1, geometric_probabilities(t, b)) for v, b, t in zip(q.values, q.bits, thetas)]
    return head + CategoricalCoder.encode_groups(groups)


def decode_parameters(data: bytes, layout: list[tuple[str, tuple[int, ...], int, bool]]) -> QuantizedTensors:
    """Inverse of :func:`encode_parameters` for a known layout (unstepped tensors get step 1);
    :class:`~neuralcodecs.errors.CorruptPayloadError` on damaged bytes."""
    pos, steps = 0, []
    for name, _, _, stepped in layout:
        if not stepped:
            steps.append(np.ones(1, np.float32))
            continue
        if pos + 4 > len(data):
            raise CorruptPayloadError(f"parameter section ends inside the step of {name}")
        step = np.frombuffer(data[pos : pos + 4], "<f4").astype(np.float32)
        if not np.all(np.isfinite(step)) or np.any(step < 0):
            raise CorruptPayloadError(f"{name}: quantization steps must be finite and nonnegative")
        steps.append(step)
        pos += 4
    end = pos + 2 * len(layout)
    if end > len(data):
        raise CorruptPayloadError("parameter section ends inside the tensors' models")
    thetas = np.frombuffer(data[pos:end], "<u2").astype(np.int64).tolist()
    sizes = [int(np.prod(shape)) for _, shape, _, _ in layout]
    try:
        symbols = CategoricalCoder.decode_groups(
            data[end:], [(n, geometric_probabilities(t, b)) for n, t, (_, _, b, _) in zip(sizes, thetas, layout)])
    except ValueError as exc:
        raise CorruptPayloadError(f"parameter section is damaged ({exc})") from None
    values = [s.reshape(shape) - (2 ** (b - 1) - 1) for s, (_, shape, b, _) in zip(symbols, layout)]
    return QuantizedTensors([n for n, _, _, _ in layout], [tuple(s) for _, s, _, _ in layout], [b for _, _, b, _ in layout],
                            values, steps)
