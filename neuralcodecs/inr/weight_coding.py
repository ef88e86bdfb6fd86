"""The parameters of an overfitted network as bytes: pruning, quantization, entropy coding.

An implicit neural representation's file *is* its parameters, so how they are coded sets the
rate.  This module is shared by every overfitted codec:

* :func:`prune` -- global magnitude pruning (NeRV): the smallest ``fraction`` of the weights of
  every multi-dimensional tensor become exactly zero (biases and norms are kept);
* :func:`quantize` -- symmetric per-output-channel quantization to ``b`` bits: channel ``c`` of a
  tensor of 2+ dimensions gets the step ``s_c = max|w_c| / (2**(b-1) - 1)`` (stored as float32)
  and the integers ``round(w / s_c)`` in ``[-(2**(b-1) - 1), 2**(b-1) - 1]``; a channel of zeros
  gets step 0; a tensor of 0 or 1 dimensions (a bias, a scale) is one channel;
* :func:`encode` / :func:`decode` -- the integers of all tensors of one bit depth under one
  static categorical model, coded with constriction's ANS
  (:class:`~neuralcodecs.entropy.coders.CategoricalCoder`).  The model travels in the bytes as
  one byte per symbol, its log-count: ``k = min(LOG_CODE_MAX, round(4 * log2(count)) + 1)`` (0 for an
  absent symbol), whose integer weight is ``POW4[k - 1] = round(2**((k - 1) / 4))`` from a fixed
  table -- as cheap as a Huffman table and within a quarter octave of the true frequencies.

Byte layout (little-endian), for a layout ``[(name, shape, bits), ...]`` that the decoder knows
from the stream's header (the architecture): the steps of every tensor in layout order
(float32: ``shape[0]`` of them for a tensor of 2+ dimensions, else one); then, per bit depth ``b`` in ascending order, ``2**b - 1`` log-count
bytes; then, per bit depth, the number of values of that depth as a ``u32`` (a check); then one
ANS section holding, per bit depth ascending, the symbols
``q + 2**(b-1) - 1`` of every tensor of that depth in layout order (C order), then the sentinel.

:func:`code_lengths` compares the coded size with Huffman codes of the same histograms and with
fixed-length ``b``-bit words (the issue's "saving over Huffman").
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch

from ..entropy.coders import CategoricalCoder
from ..errors import CorruptPayloadError

MAX_BITS = 12  # 4095 symbols: log-count tables of at most 4 KB
LOG_CODE_MAX = 117  # weights up to 2**29: a row of 4095 stays below the coder's 2**38 total
POW4 = np.array([int(round(2 ** (k / 4))) for k in range(LOG_CODE_MAX)], dtype=np.int64)


@dataclass
class QuantizedTensors:
    """Quantized parameters: per tensor its name, shape, bit depth, int64 values and float32 steps."""

    names: list[str]
    shapes: list[tuple[int, ...]]
    bits: list[int]
    values: list[np.ndarray]
    steps: list[np.ndarray]

    @property
    def layout(self) -> list[tuple[str, tuple[int, ...], int]]:
        return list(zip(self.names, self.shapes, self.bits))

    def count(self) -> int:
        return sum(int(v.size) for v in self.values)


def prune(tensors: dict[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Zero the smallest ``fraction`` (0..1) of all weights of tensors with 2+ dimensions, by magnitude, jointly."""
    if not 0 <= fraction < 1:
        raise ValueError(f"prune fraction must lie in [0, 1), got {fraction}")
    weights = [t.detach().abs().flatten() for t in tensors.values() if t.dim() >= 2]
    if fraction == 0 or not weights:
        return {k: v.detach().clone() for k, v in tensors.items()}
    everything = torch.cat(weights)
    k = int(fraction * everything.numel())
    threshold = everything.kthvalue(max(k, 1)).values if k else everything.min() - 1
    return {name: torch.where(t.abs() <= threshold, torch.zeros_like(t), t).detach() if t.dim() >= 2 else t.detach().clone()
            for name, t in tensors.items()}


def step_count(shape: tuple[int, ...]) -> int:
    """Quantization steps of a tensor: one per output channel (2+ dimensions), else one."""
    return shape[0] if len(shape) >= 2 else 1


def quantize(tensors: dict[str, torch.Tensor], bits: int | dict[str, int] = 8) -> QuantizedTensors:
    """Per-output-channel symmetric quantization (see the module docstring); ``bits`` per tensor or for all."""
    names, shapes, depths, values, steps = [], [], [], [], []
    for name, t in tensors.items():
        b = bits[name] if isinstance(bits, dict) else bits
        if not 2 <= b <= MAX_BITS:
            raise ValueError(f"{name}: bit depth must lie in 2..{MAX_BITS}, got {b}")
        w = t.detach().float().cpu().reshape(step_count(tuple(t.shape)), -1).double()
        levels = 2 ** (b - 1) - 1
        peak = w.abs().amax(1)
        step = (peak / levels).float()  # float32, as stored
        safe = torch.where(step > 0, step.double(), torch.ones_like(peak))
        q = torch.round(w / safe[:, None]).clamp(-levels, levels).to(torch.int64)
        q[step == 0] = 0
        names.append(name)
        shapes.append(tuple(t.shape))
        depths.append(b)
        values.append(q.reshape(t.shape).numpy())
        steps.append(step.numpy().astype(np.float32))
    return QuantizedTensors(names, shapes, depths, values, steps)


def fake_quantize(t: torch.Tensor, bits: int) -> torch.Tensor:
    """``t`` with the values :func:`quantize` then :func:`dequantize` give it (per output channel,
    symmetric, ``bits`` bits) in the forward pass and an identity gradient (straight through):
    quantization-aware training of a tensor that will be coded that way."""
    w = t.reshape(step_count(tuple(t.shape)), -1)
    levels = 2 ** (bits - 1) - 1
    step = w.detach().abs().amax(1, keepdim=True) / levels
    safe = torch.where(step > 0, step, torch.ones_like(step))
    coded = torch.round(w / safe).clamp(-levels, levels) * step
    return (w + (coded - w).detach()).reshape(t.shape)


def dequantize(q: QuantizedTensors) -> dict[str, torch.Tensor]:
    """float32 tensors ``step_c * value`` (computed in float32, so encoder and decoder agree bit for bit)."""
    out = {}
    for name, shape, v, s in zip(q.names, q.shapes, q.values, q.steps):
        flat = v.reshape(len(s), -1).astype(np.float32) * s[:, None]
        out[name] = torch.from_numpy(flat.reshape(shape).copy())
    return out


def _histograms(q: QuantizedTensors) -> dict[int, np.ndarray]:
    hist = {}
    for b, v in zip(q.bits, q.values):
        offset = 2 ** (b - 1) - 1
        counts = hist.setdefault(b, np.zeros(2**b - 1, dtype=np.int64))
        counts += np.bincount((v.reshape(-1) + offset), minlength=2**b - 1)
    return dict(sorted(hist.items()))


def log_codes(counts: np.ndarray) -> np.ndarray:
    """uint8 log-count of each symbol (0: absent), see the module docstring."""
    with np.errstate(divide="ignore"):
        k = np.round(4 * np.log2(np.maximum(counts, 1))).astype(np.int64) + 1
    return np.where(counts > 0, np.minimum(k, LOG_CODE_MAX), 0).astype(np.uint8)


def model_weights(codes: np.ndarray) -> np.ndarray:
    """Integer weights of the categorical model from log-count bytes (absent symbols weigh 0)."""
    codes = codes.astype(np.int64)
    return np.where(codes > 0, POW4[np.clip(codes - 1, 0, LOG_CODE_MAX - 1)], 0)


def encode(q: QuantizedTensors) -> bytes:
    """The bytes of quantized parameters (module docstring layout)."""
    head = b"".join(s.astype("<f4").tobytes() for s in q.steps)
    hist = _histograms(q)
    codes = {b: log_codes(counts) for b, counts in hist.items()}
    head += b"".join(c.tobytes() for c in codes.values())
    head += b"".join(int(counts.sum()).to_bytes(4, "little") for counts in hist.values())
    groups = []
    for b in hist:
        offset = 2 ** (b - 1) - 1
        symbols = np.concatenate([v.reshape(-1) + offset for v, vb in zip(q.values, q.bits) if vb == b])
        groups.append((symbols, model_weights(codes[b])))
    return head + CategoricalCoder.encode_groups(groups)


def decode(data: bytes, layout: list[tuple[str, tuple[int, ...], int]]) -> QuantizedTensors:
    """Inverse of :func:`encode` for a known layout; :class:`CorruptPayloadError` on damaged bytes."""
    pos, steps = 0, []
    for name, shape, b in layout:
        channels = step_count(tuple(shape))
        end = pos + 4 * channels
        if end > len(data):
            raise CorruptPayloadError(f"parameter section ends inside the steps of {name}")
        step = np.frombuffer(data[pos:end], "<f4").astype(np.float32)
        if not np.all(np.isfinite(step)) or np.any(step < 0):
            raise CorruptPayloadError(f"{name}: quantization steps must be finite and nonnegative")
        steps.append(step)
        pos = end
    depths = sorted({b for _, _, b in layout})
    weights = {}
    for b in depths:
        end = pos + 2**b - 1
        if end > len(data):
            raise CorruptPayloadError(f"parameter section ends inside the {b}-bit model")
        codes = np.frombuffer(data[pos:end], np.uint8)
        if codes.max(initial=0) > LOG_CODE_MAX or not codes.any():
            raise CorruptPayloadError(f"{b}-bit model has invalid log-counts")
        weights[b] = model_weights(codes)
        pos = end
    sizes = {b: sum(int(np.prod(shape)) for _, shape, vb in layout if vb == b) for b in depths}
    for b in depths:
        if pos + 4 > len(data) or int.from_bytes(data[pos : pos + 4], "little") != sizes[b]:
            raise CorruptPayloadError(f"the {b}-bit parameters do not match the layout's {sizes[b]} values")
        pos += 4
    try:
        symbols = CategoricalCoder.decode_groups(data[pos:], [(sizes[b], weights[b]) for b in depths])
    except ValueError as exc:
        raise CorruptPayloadError(f"parameter section is damaged ({exc})") from None
    by_depth = dict(zip(depths, symbols))
    taken = {b: 0 for b in depths}
    values = []
    for _, shape, b in layout:
        n = int(np.prod(shape))
        flat = by_depth[b][taken[b] : taken[b] + n] - (2 ** (b - 1) - 1)
        taken[b] += n
        values.append(flat.reshape(shape))
    return QuantizedTensors([n for n, _, _ in layout], [tuple(s) for _, s, _ in layout], [b for _, _, b in layout], values, steps)


def huffman_lengths(counts: np.ndarray) -> np.ndarray:
    """Code length of each symbol of a Huffman code for ``counts`` (0 for absent symbols; 1 if only one is present)."""
    lengths = np.zeros(len(counts), dtype=np.int64)
    heap = [(int(c), i, [i]) for i, c in enumerate(counts) if c > 0]
    if len(heap) == 1:
        lengths[heap[0][2][0]] = 1
        return lengths
    heapq.heapify(heap)
    tie = len(counts)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for i in s1 + s2:
            lengths[i] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def code_lengths(q: QuantizedTensors) -> dict:
    """Bits of the same quantized parameters three ways (steps excluded from all three, they are equal):

    ``entropy_coded``: this module's bytes minus the steps (its model bytes included);
    ``huffman``: a Huffman code per bit depth plus its table (5 bits per symbol's code length);
    ``fixed``: ``b`` bits per value.
    """
    data = encode(q)
    step_bytes = sum(4 * len(s) for s in q.steps)
    huffman = 0
    for b, counts in _histograms(q).items():
        huffman += int((counts * huffman_lengths(counts)).sum()) + 5 * len(counts)
    fixed = sum(b * int(v.size) for b, v in zip(q.bits, q.values))
    return {"values": q.count(), "entropy_coded_bits": 8 * (len(data) - step_bytes), "huffman_bits": huffman,
            "fixed_bits": fixed, "step_bits": 8 * step_bytes}
