"""Exact integer twins of the context networks (:mod:`neuralcodecs.entropy.context_blocks`).

The hyper-synthesis of a mean-scale model is a plain convolution stack, frozen by
:mod:`neuralcodecs.entropy.exact`.  Context models add grouped and strided convolutions,
sigmoid gates, average pooling, products, softmax attention and bilinear sampling; this module
gives each an integer evaluation that is the same on every device and thread count:

* every tensor is int64 with a power-of-two scale: a value ``v`` with ``F`` fraction bits
  means ``v / 2**F``.  Tensors passed between blocks use ``FEATURE_FRACTION_BITS``; inside a
  block each activation gets the ``F`` that maps its calibrated range onto 12 bits;
* a convolution (:class:`FixedConv`) is an ``unfold`` and a float64 matrix product whose every
  partial sum is an integer below ``2**53`` (proved per layer when built, as in ``exact``),
  then ``(acc * m + 2**(s - 1)) >> s`` per output channel;
* the sigmoid and the exponential are table lookups; the tables are integers stored in the
  weights file (so they cannot differ between machines): ``sigmoid_table[i] =
  round(4096 * sigmoid((i - 512) / 64))``, ``exp_table[i] = round(32768 * exp(-i / 16))``;
* products of a 12-bit gate and an activation, averages (``floor((2 * sum + n) / (2 * n))``),
  attention normalization (the same rounding division) and bilinear sampling (positions with
  4 fraction bits, weights ``16 - f`` and ``f`` per axis, a rounding shift by 8) are int64.

``bitstreams/FORMAT.md`` ("Exact context networks") is the normative description.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import WeightsError
from .context_blocks import (
    ATTENTION_LOGIT_LIMIT,
    SIGMOID_INPUT_LIMIT,
    AdaptiveChannelContext,
    ConvContext,
    GlobalInterSliceAttention,
    bilinear_sample,
)
from .exact import ACTIVATION_MAX, EXACT_FLOAT_LIMIT, INT64_LIMIT, WEIGHT_MAX, _multiplier_and_shift

FEATURE_FRACTION_BITS = 6  # tensors between blocks: value / 64
FEATURE_BOUND = 2**20  # and clamped to +-2**20 (+-16384.0)
GATE_INPUT_BITS = 6  # sigmoid inputs: value / 64, table over +-SIGMOID_INPUT_LIMIT
GATE_BITS = 12  # sigmoid outputs: value / 4096
EXP_INPUT_BITS = 4  # attention logit gaps: value / 16, table over [0, ATTENTION_LOGIT_LIMIT]
EXP_BITS = 15  # exponentials: value / 32768
OFFSET_BITS = 4  # sampling positions: value / 16 latents
SIGMOID_TABLE_SIZE = int(2 * SIGMOID_INPUT_LIMIT * 2**GATE_INPUT_BITS) + 1  # 1025
EXP_TABLE_SIZE = int(ATTENTION_LOGIT_LIMIT * 2**EXP_INPUT_BITS) + 1  # 257
QUERY_CHUNK = 4096  # attention queries evaluated at once (bounds memory, not results)


def sigmoid_table() -> torch.Tensor:
    """int64 ``(SIGMOID_TABLE_SIZE,)``; computed once at export and stored with the weights."""
    half = SIGMOID_TABLE_SIZE // 2
    x = (torch.arange(SIGMOID_TABLE_SIZE, dtype=torch.float64) - half) / 2**GATE_INPUT_BITS
    return torch.round(torch.sigmoid(x) * 2**GATE_BITS).to(torch.int64)


def exp_table() -> torch.Tensor:
    """int64 ``(EXP_TABLE_SIZE,)``; computed once at export and stored with the weights."""
    x = torch.arange(EXP_TABLE_SIZE, dtype=torch.float64) / 2**EXP_INPUT_BITS
    return torch.round(torch.exp(-x) * 2**EXP_BITS).to(torch.int64)


def fraction_bits(t: torch.Tensor, limit: int = ACTIVATION_MAX) -> int:
    """The largest ``F`` with ``max|t| * 2**F <= limit`` (clamped to [-8, 24])."""
    peak = float(t.detach().abs().max()) if t.numel() else 0.0
    if peak <= 0:
        return 12
    return int(max(-8, min(24, math.floor(math.log2(limit / peak)))))


def shift_round(x: torch.Tensor, bits: int) -> torch.Tensor:
    """``x / 2**bits`` rounded half up (int64); a left shift for negative ``bits``."""
    if bits <= 0:
        return x * (1 << -bits)
    return torch.bitwise_right_shift(x + (1 << (bits - 1)), bits)


def div_round(num: torch.Tensor, den: torch.Tensor | int) -> torch.Tensor:
    """``floor((2 num + den) / (2 den))`` for positive ``den`` (int64)."""
    return torch.div(2 * num + den, 2 * den, rounding_mode="floor")


@dataclass
class FixedConv:
    """A frozen convolution: ``clamp((conv(x, W) + b) * m >> s)`` per output channel.

    int64 tensors: ``weight (O, C/groups, k, k)``, ``bias``, ``multiplier``, ``shift`` ``(O,)``.
    ``relu``: clamp to ``[0, bound]``, else ``[-bound, bound]``.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    multiplier: torch.Tensor
    shift: torch.Tensor
    stride: int
    groups: int
    relu: bool
    bound: int
    in_bound: int

    def __post_init__(self):
        w = self.weight
        if int(w.abs().max()) > WEIGHT_MAX:
            raise WeightsError(f"integer convolution weights exceed +-{WEIGHT_MAX}")
        if torch.any(self.shift < 1) or torch.any(self.shift > 62) or torch.any(self.multiplier < 0):
            raise WeightsError("integer convolution shifts must lie in [1, 62], multipliers be >= 0")
        acc = w.abs().flatten(1).sum(1) * self.in_bound + self.bias.abs()
        if int(acc.max()) >= EXACT_FLOAT_LIMIT or int((acc * self.multiplier).max()) >= INT64_LIMIT:
            raise WeightsError("an integer convolution could leave the exact range")
        self._device_tensors: dict = {}

    def _on(self, device: torch.device) -> tuple:
        """Weights as float64 ``(groups, O/groups, C/groups*k*k)``, bias, multiplier and rounding term, on ``device``."""
        key = str(device)
        if key not in self._device_tensors:
            O, cg, k, _ = self.weight.shape
            weight = self.weight.to(device=device, dtype=torch.float64).reshape(self.groups, O // self.groups, cg * k * k)
            m, s = self.multiplier.to(device)[:, None], self.shift.to(device)[:, None]
            half = torch.bitwise_left_shift(torch.ones_like(s), s - 1)
            self._device_tensors[key] = (weight, self.bias.to(device)[:, None] * m + half, m, s)
        return self._device_tensors[key]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        B, C, h, w = x.shape
        O, cg, k, _ = self.weight.shape
        weight, offset, m, s = self._on(x.device)
        x = x.to(torch.float64).clamp_(-self.in_bound, self.in_bound)
        cols = F.unfold(x, kernel_size=k, padding=k // 2, stride=self.stride) if k > 1 or self.stride > 1 else x.reshape(B, C, h * w)
        L = cols.shape[-1]
        cols = cols.reshape(B, self.groups, cg * k * k, L)
        acc = torch.matmul(weight, cols).reshape(B, O, L).to(torch.int64)  # exact: integers < 2**53
        out = torch.bitwise_right_shift(acc * m + offset, s)  # (acc + b) * m + 2**(s-1), then >> s
        out = out.clamp_(0, self.bound) if self.relu else out.clamp_(-self.bound, self.bound)
        h_out = (h + 2 * (k // 2) - k) // self.stride + 1
        return out.reshape(B, O, h_out, -1)

    @classmethod
    def freeze(cls, conv: nn.Conv2d, in_bits: int, out_bits: int | torch.Tensor, relu: bool, bound: int,
               in_bound: int, weight_scale: float = 1.0) -> "FixedConv":
        """Freeze ``conv`` (times ``weight_scale``) for inputs with ``in_bits`` and outputs with ``out_bits``."""
        w = conv.weight.detach().to(torch.float64).cpu() * weight_scale
        b = (conv.bias.detach().to(torch.float64).cpu() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)) * weight_scale
        w_max = w.abs().flatten(1).amax(1)
        w_scale = torch.where(w_max > 0, w_max, torch.ones_like(w_max)) / WEIGHT_MAX  # an all-zero row: any scale
        w_int = torch.round(w / w_scale[:, None, None, None]).to(torch.int64)
        acc_scale = w_scale * 2.0**-in_bits
        b_int = torch.round(b / acc_scale).to(torch.int64)
        out = torch.as_tensor(out_bits, dtype=torch.float64).expand(w.shape[0])
        multiplier, shift = _multiplier_and_shift(acc_scale * torch.pow(2.0, out))
        return cls(w_int, b_int, multiplier, shift, conv.stride[0], conv.groups, relu, bound, in_bound)

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        meta = torch.tensor([self.stride, self.groups, int(self.relu), self.bound, self.in_bound], dtype=torch.int64)
        return {f"{prefix}.weight": self.weight.to(torch.int16), f"{prefix}.bias": self.bias,
                f"{prefix}.multiplier": self.multiplier, f"{prefix}.shift": self.shift, f"{prefix}.meta": meta}

    @classmethod
    def load(cls, tensors: dict, prefix: str) -> "FixedConv":
        try:
            meta = tensors[f"{prefix}.meta"].tolist()
            return cls(tensors[f"{prefix}.weight"].to(torch.int64), tensors[f"{prefix}.bias"].to(torch.int64),
                       tensors[f"{prefix}.multiplier"].to(torch.int64), tensors[f"{prefix}.shift"].to(torch.int64),
                       int(meta[0]), int(meta[1]), bool(meta[2]), int(meta[3]), int(meta[4]))
        except KeyError as exc:
            raise WeightsError(f"weights file lacks integer tensor {exc.args[0]!r}") from None
        except (ValueError, RuntimeError, IndexError) as exc:
            raise WeightsError(f"integer convolution {prefix} is malformed: {exc}") from None


class FrozenBlock:
    """Base of the frozen blocks: named :class:`FixedConv` s and integer bit widths, saved and loaded."""

    convs: dict[str, FixedConv]
    bits: dict[str, int]

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        out = {}
        for name, conv in self.convs.items():
            out.update(conv.state(f"{prefix}.{name}"))
        names = sorted(self.bits)
        out[f"{prefix}.bits"] = torch.tensor([self.bits[n] for n in names], dtype=torch.int64)
        return out

    def load_state(self, tensors: dict, prefix: str, conv_names: list[str], bit_names: list[str]) -> None:
        self.convs = {name: FixedConv.load(tensors, f"{prefix}.{name}") for name in conv_names}
        try:
            values = tensors[f"{prefix}.bits"].tolist()
        except KeyError:
            raise WeightsError(f"weights file lacks {prefix}.bits") from None
        if len(values) != len(bit_names):
            raise WeightsError(f"{prefix}.bits has {len(values)} entries, expected {len(bit_names)}")
        self.bits = dict(zip(sorted(bit_names), (int(v) for v in values)))


def _gate(tables: dict, x: torch.Tensor) -> torch.Tensor:
    """12-bit sigmoid of ``x`` (``GATE_INPUT_BITS`` fraction bits) by table lookup."""
    half = SIGMOID_TABLE_SIZE // 2
    return tables["sigmoid"].to(x.device)[x.clamp(-half, half) + half]


def _mean_hw(x: torch.Tensor) -> torch.Tensor:
    n = x.shape[2] * x.shape[3]
    return div_round(x.sum(dim=(2, 3), keepdim=True), n)


def _mix(a, a_bits, gate_a, b, b_bits, gate_b, out_bits) -> torch.Tensor:
    """``a * gate_a + b * gate_b`` at ``out_bits`` (gates at ``GATE_BITS``)."""
    return shift_round(a * gate_a, GATE_BITS + a_bits - out_bits) + shift_round(b * gate_b, GATE_BITS + b_bits - out_bits)


class FrozenConvContext(FrozenBlock):
    """Twin of :class:`ConvContext` (and of a ReLU 1x1 stack): features in, ``out_bits`` out."""

    def __init__(self, convs: dict, bits: dict):
        self.convs, self.bits = convs, bits

    @classmethod
    @torch.no_grad()
    def freeze(cls, module: nn.Module, x: torch.Tensor, out_bits, out_bound: int = FEATURE_BOUND) -> "FrozenConvContext":
        layers = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
        convs, bits = {}, {}
        in_bits, in_bound = FEATURE_FRACTION_BITS, FEATURE_BOUND
        h = x
        for i, conv in enumerate(layers):
            h = conv(h)
            last = i == len(layers) - 1
            if last:
                convs[str(i)] = FixedConv.freeze(conv, in_bits, out_bits, False, out_bound, in_bound)
            else:
                h = F.relu(h)
                b = fraction_bits(h)
                convs[str(i)] = FixedConv.freeze(conv, in_bits, b, True, ACTIVATION_MAX, in_bound)
                bits[str(i)] = b
                in_bits, in_bound = b, ACTIVATION_MAX
        return cls(convs, bits)

    def __call__(self, x: torch.Tensor, tables: dict | None = None) -> torch.Tensor:
        for i in range(len(self.convs)):
            x = self.convs[str(i)](x)
        return x

    @classmethod
    def load(cls, tensors: dict, prefix: str, layers: int) -> "FrozenConvContext":
        block = cls({}, {})
        block.load_state(tensors, prefix, [str(i) for i in range(layers)], [str(i) for i in range(layers - 1)])
        return block


class FrozenAdaptiveChannelContext(FrozenBlock):
    """Twin of :class:`AdaptiveChannelContext`."""

    CONVS = ["project", "a0", "a1", "b", "s0", "s1", "c0", "c1", "out"]
    BITS = ["p", "a0", "a", "b", "s0", "c0", "mix"]

    def __init__(self, convs=None, bits=None):
        self.convs, self.bits = convs or {}, bits or {}

    @classmethod
    @torch.no_grad()
    def freeze(cls, m: AdaptiveChannelContext, x: torch.Tensor) -> "FrozenAdaptiveChannelContext":
        A, FB = ACTIVATION_MAX, FEATURE_BOUND
        bits, convs = {}, {}
        p = F.relu(m.project(x))
        bits["p"] = fraction_bits(p)
        convs["project"] = FixedConv.freeze(m.project, FEATURE_FRACTION_BITS, bits["p"], True, A, FB)
        a0 = F.relu(m.branch_a[0](p))
        bits["a0"] = fraction_bits(a0)
        convs["a0"] = FixedConv.freeze(m.branch_a[0], bits["p"], bits["a0"], True, A, A)
        a = F.relu(m.branch_a[1](a0))
        bits["a"] = fraction_bits(a)
        convs["a1"] = FixedConv.freeze(m.branch_a[1], bits["a0"], bits["a"], True, A, A)
        b = F.relu(m.branch_b(p))
        bits["b"] = fraction_bits(b)
        convs["b"] = FixedConv.freeze(m.branch_b, bits["p"], bits["b"], True, A, A)
        s0 = F.relu(m.spatial_map[0](b))
        bits["s0"] = fraction_bits(s0)
        convs["s0"] = FixedConv.freeze(m.spatial_map[0], bits["b"], bits["s0"], True, A, A)
        convs["s1"] = FixedConv.freeze(m.spatial_map[1], bits["s0"], GATE_INPUT_BITS, False, 2**20, A)
        c0 = F.relu(m.channel_map[0](a.mean(dim=(2, 3), keepdim=True)))
        bits["c0"] = fraction_bits(c0)
        convs["c0"] = FixedConv.freeze(m.channel_map[0], bits["a"], bits["c0"], True, A, A)
        convs["c1"] = FixedConv.freeze(m.channel_map[1], bits["c0"], GATE_INPUT_BITS, False, 2**20, A)
        bits["mix"] = min(bits["a"], bits["b"])
        convs["out"] = FixedConv.freeze(m.out, bits["mix"], FEATURE_FRACTION_BITS, False, FEATURE_BOUND, 2 * A)
        return cls(convs, bits)

    def __call__(self, x: torch.Tensor, tables: dict) -> torch.Tensor:
        c, bits = self.convs, self.bits
        p = c["project"](x)
        a = c["a1"](c["a0"](p))
        b = c["b"](p)
        s = _gate(tables, c["s1"](c["s0"](b)))
        g = _gate(tables, c["c1"](c["c0"](_mean_hw(a))))
        return c["out"](_mix(a, bits["a"], s, b, bits["b"], g, bits["mix"]))

    @classmethod
    def load(cls, tensors: dict, prefix: str) -> "FrozenAdaptiveChannelContext":
        block = cls()
        block.load_state(tensors, prefix, cls.CONVS, cls.BITS)
        return block


def integer_bilinear(x: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Samples of int64 ``x`` ``(B, C, h, w)`` at positions with ``OFFSET_BITS`` fraction bits ``(B, h', w')``."""
    B, C, h, w = x.shape
    one = 1 << OFFSET_BITS
    px = px.clamp(0, (w - 1) * one)
    py = py.clamp(0, (h - 1) * one)
    x0, y0 = torch.div(px, one, rounding_mode="floor"), torch.div(py, one, rounding_mode="floor")
    fx, fy = (px - x0 * one)[:, None], (py - y0 * one)[:, None]
    x1, y1 = (x0 + 1).clamp_max(w - 1), (y0 + 1).clamp_max(h - 1)
    flat = x.reshape(B, C, h * w)

    def at(yy, xx):
        index = (yy * w + xx).reshape(B, 1, -1).expand(B, C, -1)
        return flat.gather(2, index).reshape(B, C, *yy.shape[1:])

    top = at(y0, x0) * (one - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (one - fx) + at(y1, x1) * fx
    return shift_round(top * (one - fy) + bottom * fy, 2 * OFFSET_BITS)


class FrozenGlobalAttention(FrozenBlock):
    """Twin of :class:`GlobalInterSliceAttention` (the query scale ``1/sqrt(d)`` is folded into the query weights)."""

    CONVS = ["project", "off0", "off1", "q", "k", "v", "re", "b", "s0", "s1", "c0", "c1", "out"]
    BITS = ["p", "off0", "q", "k", "v", "g", "b", "s0", "c0", "mix"]

    def __init__(self, convs=None, bits=None, stride: int = 2, heads: int = 1):
        self.convs, self.bits = convs or {}, bits or {}
        self.stride, self.heads = stride, heads

    @classmethod
    @torch.no_grad()
    def freeze(cls, m: GlobalInterSliceAttention, x: torch.Tensor) -> "FrozenGlobalAttention":
        A, FB = ACTIVATION_MAX, FEATURE_BOUND
        bits, convs = {}, {}
        p = F.relu(m.project(x))
        bits["p"] = fraction_bits(p)
        convs["project"] = FixedConv.freeze(m.project, FEATURE_FRACTION_BITS, bits["p"], True, A, FB)
        o0 = F.relu(m.offset_dw(p))
        bits["off0"] = fraction_bits(o0)
        convs["off0"] = FixedConv.freeze(m.offset_dw, bits["p"], bits["off0"], True, A, A)
        convs["off1"] = FixedConv.freeze(m.offset_out, bits["off0"], OFFSET_BITS, False, m.stride << OFFSET_BITS, A)
        sampled = bilinear_sample(p, m.sample_points(p))
        head_dim = m.width // m.heads
        scale = head_dim**-0.5
        q = m.query(p) * scale
        bits["q"] = fraction_bits(q)
        convs["q"] = FixedConv.freeze(m.query, bits["p"], bits["q"], False, A, A, weight_scale=scale)
        for name, conv in (("k", m.key), ("v", m.value)):
            t = conv(sampled)
            bits[name] = fraction_bits(t)
            convs[name] = FixedConv.freeze(conv, bits["p"], bits[name], False, A, A)
        g = m.reproject(_float_attention(m, p, sampled))
        bits["g"] = fraction_bits(g)
        convs["re"] = FixedConv.freeze(m.reproject, bits["v"], bits["g"], False, A, A)
        b = F.relu(m.branch_b(p))
        bits["b"] = fraction_bits(b)
        convs["b"] = FixedConv.freeze(m.branch_b, bits["p"], bits["b"], True, A, A)
        s0 = F.relu(m.spatial_map[0](g))
        bits["s0"] = fraction_bits(s0)
        convs["s0"] = FixedConv.freeze(m.spatial_map[0], bits["g"], bits["s0"], True, A, A)
        convs["s1"] = FixedConv.freeze(m.spatial_map[1], bits["s0"], GATE_INPUT_BITS, False, 2**20, A)
        c0 = F.relu(m.channel_map[0](b.mean(dim=(2, 3), keepdim=True)))
        bits["c0"] = fraction_bits(c0)
        convs["c0"] = FixedConv.freeze(m.channel_map[0], bits["b"], bits["c0"], True, A, A)
        convs["c1"] = FixedConv.freeze(m.channel_map[1], bits["c0"], GATE_INPUT_BITS, False, 2**20, A)
        bits["mix"] = min(bits["g"], bits["b"])
        convs["out"] = FixedConv.freeze(m.out, bits["mix"], FEATURE_FRACTION_BITS, False, FEATURE_BOUND, 2 * A)
        return cls(convs, bits, m.stride, m.heads)

    def __call__(self, x: torch.Tensor, tables: dict) -> torch.Tensor:
        c, bits = self.convs, self.bits
        p = c["project"](x)
        B, C, h, w = p.shape
        offsets = c["off1"](c["off0"](p))  # (B, 2, h', w'), OFFSET_BITS
        _, _, hk, wk = offsets.shape
        one = 1 << OFFSET_BITS
        ref_x = (torch.arange(wk, device=p.device) * self.stride * one)[None, None, :]
        ref_y = (torch.arange(hk, device=p.device) * self.stride * one)[None, :, None]
        sampled = integer_bilinear(p, ref_x + offsets[:, 0], ref_y + offsets[:, 1])
        q, k, v = c["q"](p), c["k"](sampled), c["v"](sampled)
        attended = _integer_attention(q, k, v, self.heads, bits["q"] + bits["k"], tables["exp"])
        g = c["re"](attended)
        b = c["b"](p)
        s = _gate(tables, c["s1"](c["s0"](g)))
        ch = _gate(tables, c["c1"](c["c0"](_mean_hw(b))))
        return c["out"](_mix(g, bits["g"], ch, b, bits["b"], s, bits["mix"]))

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        out = super().state(prefix)
        out[f"{prefix}.shape"] = torch.tensor([self.stride, self.heads], dtype=torch.int64)
        return out

    @classmethod
    def load(cls, tensors: dict, prefix: str) -> "FrozenGlobalAttention":
        block = cls()
        block.load_state(tensors, prefix, cls.CONVS, cls.BITS)
        try:
            block.stride, block.heads = (int(v) for v in tensors[f"{prefix}.shape"].tolist())
        except (KeyError, ValueError):
            raise WeightsError(f"weights file lacks a valid {prefix}.shape") from None
        return block


def _float_attention(m: GlobalInterSliceAttention, p: torch.Tensor, sampled: torch.Tensor) -> torch.Tensor:
    B, C, h, w = p.shape
    d = C // m.heads
    q = m.query(p).reshape(B, m.heads, d, h * w)
    k = m.key(sampled).reshape(B, m.heads, d, -1)
    v = m.value(sampled).reshape(B, m.heads, d, -1)
    logits = torch.einsum("bncq,bnck->bnqk", q, k) / d**0.5
    logits = logits - logits.amax(-1, keepdim=True)
    weights = torch.exp(logits.clamp_min(-ATTENTION_LOGIT_LIMIT))
    weights = weights / weights.sum(-1, keepdim=True)
    return torch.einsum("bnqk,bnck->bncq", weights, v).reshape(B, C, h, w)


def _integer_attention(q, k, v, heads: int, logit_bits: int, exp_tab: torch.Tensor) -> torch.Tensor:
    """Softmax attention in integers; ``q`` ``(B, C, h, w)``, ``k``/``v`` ``(B, C, h', w')``; result at ``v``'s bits."""
    B, C, h, w = q.shape
    d = C // heads
    keys = k.shape[2] * k.shape[3]
    if keys * (ACTIVATION_MAX * 2**EXP_BITS) >= EXACT_FLOAT_LIMIT:
        raise ValueError("too many attention keys for exact integer attention")
    qf = q.reshape(B, heads, d, h * w).to(torch.float64)
    kf = k.reshape(B, heads, d, keys).to(torch.float64)
    vf = v.reshape(B, heads, d, keys).to(torch.float64)
    exp_tab = exp_tab.to(q.device)
    out = torch.empty(B, heads, d, h * w, dtype=torch.int64, device=q.device)
    for start in range(0, h * w, QUERY_CHUNK):
        qc = qf[..., start : start + QUERY_CHUNK]
        logits = torch.matmul(qc.transpose(2, 3), kf).to(torch.int64)  # (B, n, Q, K): exact, |.| < 2**30
        gap = logits.amax(-1, keepdim=True) - logits  # >= 0
        index = shift_round(gap, logit_bits - EXP_INPUT_BITS).clamp_(0, EXP_TABLE_SIZE - 1)
        e = exp_tab[index]  # (B, n, Q, K)
        num = torch.matmul(e.to(torch.float64), vf.transpose(2, 3)).to(torch.int64)  # (B, n, Q, d): exact
        den = e.sum(-1, keepdim=True)
        out[..., start : start + QUERY_CHUNK] = div_round(num, den).transpose(2, 3)
    return out.reshape(B, C, h, w)


def freeze_context(module: nn.Module, x: torch.Tensor):
    """The frozen twin of a context block given float calibration inputs ``x`` (real values)."""
    if isinstance(module, AdaptiveChannelContext):
        return FrozenAdaptiveChannelContext.freeze(module, x)
    if isinstance(module, GlobalInterSliceAttention):
        return FrozenGlobalAttention.freeze(module, x)
    if isinstance(module, ConvContext):
        return FrozenConvContext.freeze(module, x, FEATURE_FRACTION_BITS)
    raise TypeError(f"no integer twin for {type(module).__name__}")
