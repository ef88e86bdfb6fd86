"""Integer networks: entropy parameters that are bit-identical on every device.

A learned codec desynchronizes when the encoder and the decoder compute a slightly
different entropy parameter (a scale index, a mean) from the same side information: float
convolutions sum in an order that depends on the device, the thread count, fused
multiply-adds and TF32.  This module removes that freedom.  A network that produces
entropy parameters is trained in float (:class:`IntegerReadyConvStack`), then frozen into
an :class:`IntegerNetwork` whose weights, biases and activations are integers:

* weights are integers in ``[-WEIGHT_MAX, WEIGHT_MAX]`` (per-output-channel scale),
* activations are integers in ``[0, ACTIVATION_MAX]`` (a clipped, quantized ReLU),
* each convolution is evaluated in float64 as an explicit ``unfold`` + matrix product.
  Every product and every partial sum is an integer below ``2**53`` (checked when the
  network is built), so float64 represents all of them exactly and the result does not
  depend on summation order, FMA or the BLAS in use;
* rescaling between layers is an int64 multiply by a per-channel integer multiplier and a
  rounding right shift: ``(acc * m + 2**(s-1)) >> s``.

The outputs are fixed-point integers (``output_fraction_bits`` per channel).  The format
(bitstreams/FORMAT.md, "Exact entropy parameters") specifies this computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import WeightsError

WEIGHT_BITS = 12
WEIGHT_MAX = 2 ** (WEIGHT_BITS - 1) - 1  # 2047
ACTIVATION_BITS = 12
ACTIVATION_MAX = 2**ACTIVATION_BITS - 1  # 4095
MULTIPLIER_BITS = 16  # multipliers lie in [2**15, 2**16)
EXACT_FLOAT_LIMIT = 2**53  # every partial sum of a float64 dot product stays below this
INT64_LIMIT = 2**62  # headroom for int64 products in the requantization


class IntegerReadyConvStack(nn.Module):
    """A small convolution stack that can be frozen into an :class:`IntegerNetwork`.

    Layer ``i`` is ``Conv2d(k_i)`` followed by ``pixel_shuffle(r_i)`` (when ``r_i > 1``) and
    a ReLU on every layer but the last.  Shapes: input ``(B, C_in, h, w)``, output
    ``(B, C_out, h * prod(r), w * prod(r))``.

    Args:
        channels: ``[C_in, C_1, ..., C_out]``: channels *after* each pixel shuffle.
        kernel_sizes: odd kernel size of each convolution.
        upscales: pixel-shuffle factor after each convolution (1 = none).
    """

    def __init__(self, channels: Sequence[int], kernel_sizes: Sequence[int], upscales: Sequence[int]):
        super().__init__()
        if not (len(channels) - 1 == len(kernel_sizes) == len(upscales)):
            raise ValueError("channels must have one entry more than kernel_sizes and upscales")
        self.kernel_sizes = list(kernel_sizes)
        self.upscales = list(upscales)
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out * r * r, k, padding=k // 2)
            for c_in, c_out, k, r in zip(channels[:-1], channels[1:], kernel_sizes, upscales)
        )

    def forward(self, x: torch.Tensor, return_activations: bool = False):
        activations = []
        last = len(self.convs) - 1
        for i, (conv, r) in enumerate(zip(self.convs, self.upscales)):
            x = conv(x)
            if i < last:
                x = F.relu(x)
                activations.append(x)
            if r > 1:
                x = F.pixel_shuffle(x, r)
        return (x, activations) if return_activations else x


@dataclass
class IntegerLayer:
    """One frozen layer: ``out = clamp((conv(x, weight) + bias) * multiplier >> shift)``.

    Tensors (all int64, CPU): ``weight (C_out, C_in, k, k)``, ``bias (C_out,)``,
    ``multiplier (C_out,)``, ``shift (C_out,)``.  ``clamp_max`` is ``ACTIVATION_MAX`` for
    hidden layers and ``None`` for the output layer (whose outputs are fixed-point values).
    """

    weight: torch.Tensor
    bias: torch.Tensor
    multiplier: torch.Tensor
    shift: torch.Tensor
    upscale: int
    clamp_max: int | None

    @property
    def kernel_size(self) -> int:
        return int(self.weight.shape[-1])


class IntegerNetwork:
    """A frozen integer network; :meth:`__call__` is bit-exact on any device.

    Args:
        layers: the frozen layers, first to last.
        input_bound: largest absolute value an input may hold (inputs are clamped to it).
    """

    def __init__(self, layers: list[IntegerLayer], input_bound: int):
        self.layers = layers
        self.input_bound = int(input_bound)
        self.output_bound = check_exact_bounds(self.layers, self.input_bound)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run the network.

        Args:
            x: integer-valued tensor ``(B, C_in, h, w)`` (any dtype); values beyond
               ``input_bound`` are clamped.
        Returns:
            int64 tensor ``(B, C_out, h * R, w * R)`` of fixed-point outputs.
        """
        device = x.device
        x = torch.round(x.to(torch.float64)).clamp_(-self.input_bound, self.input_bound).to(torch.int64)
        for layer in self.layers:
            x = _integer_layer_forward(layer, x, device)
        return x

    def state_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors to store in a weights file, named ``{prefix}.{i}.{field}``."""
        out = {}
        for i, layer in enumerate(self.layers):
            out[f"{prefix}.{i}.weight"] = layer.weight.to(torch.int16)  # |w| <= 2047
            out[f"{prefix}.{i}.bias"] = layer.bias.to(torch.int64)
            out[f"{prefix}.{i}.multiplier"] = layer.multiplier.to(torch.int64)
            out[f"{prefix}.{i}.shift"] = layer.shift.to(torch.int64)
        return out

    @classmethod
    def from_state_tensors(
        cls,
        tensors: dict[str, torch.Tensor],
        prefix: str,
        upscales: Sequence[int],
        input_bound: int,
    ) -> "IntegerNetwork":
        """Rebuild a network stored by :meth:`state_tensors`; raises :class:`WeightsError`."""
        layers = []
        for i, upscale in enumerate(upscales):
            try:
                weight = tensors[f"{prefix}.{i}.weight"].to(torch.int64)
                bias = tensors[f"{prefix}.{i}.bias"].to(torch.int64)
                multiplier = tensors[f"{prefix}.{i}.multiplier"].to(torch.int64)
                shift = tensors[f"{prefix}.{i}.shift"].to(torch.int64)
            except KeyError as exc:
                raise WeightsError(f"weights file lacks integer-network tensor {exc.args[0]!r}") from None
            if not (bias.shape == multiplier.shape == shift.shape == (weight.shape[0],)):
                raise WeightsError(f"integer layer {prefix}.{i} has inconsistent tensor shapes")
            last = i == len(upscales) - 1
            layers.append(IntegerLayer(weight, bias, multiplier, shift, int(upscale), None if last else ACTIVATION_MAX))
        return cls(layers, input_bound)

    def to(self, device: torch.device | str) -> "IntegerNetwork":
        """Move the tensors to ``device`` (results stay bit-identical)."""
        for layer in self.layers:
            for name in ("weight", "bias", "multiplier", "shift"):
                setattr(layer, name, getattr(layer, name).to(device))
        return self


class PointwiseIntegerEvaluator:
    """An :class:`IntegerNetwork` of 1x1 layers as numpy arrays, for many small calls over ``(N, C)``
    rows (an auto-regressive model decoded in wavefronts).

    The same integers as :meth:`IntegerNetwork.__call__`: every product sum is an integer below
    ``2**53`` (the network's checked bounds), so the float64 matrix product is exact whatever its
    summation order; then the same bias, multiplier, rounding term and arithmetic shift per output
    channel, and the same clamp.  Where a layer's requantized sums ``acc * multiplier + rounding``
    also stay below ``2**53`` (small networks, such as an overfitted codec's ARM, always), the layer
    runs in float64 end to end: ``floor(x @ (W * m * 2**-shift) + (b * m + rounding) * 2**-shift)``
    is the same integer (every product and partial sum an integer below ``2**53`` times a power of
    two, so exact), in three numpy calls instead of seven and no conversions.  A numpy call costs a
    few microseconds against torch's tens, which is most of a wavefront's time."""

    def __init__(self, net: IntegerNetwork):
        self.bound = net.input_bound
        self.layers = []
        bound = float(net.input_bound)
        for layer in net.layers:
            if layer.kernel_size != 1 or layer.upscale != 1:
                raise ValueError("PointwiseIntegerEvaluator takes 1x1 layers without upscaling")
            shift = layer.shift.to(torch.int64)
            rounding = torch.bitwise_left_shift(torch.ones_like(shift), shift - 1)  # as IntegerNetwork computes it
            weight = layer.weight.to(torch.int64).reshape(layer.weight.shape[0], -1)
            multiplier, bias = layer.multiplier.to(torch.int64), layer.bias.to(torch.int64)
            acc_bound = weight.abs().sum(1) * int(bound) + bias.abs()
            if int((acc_bound * multiplier + rounding).max()) < EXACT_FLOAT_LIMIT:
                scale = torch.pow(2.0, -shift.to(torch.float64))
                scaled = ((weight * multiplier[:, None]).to(torch.float64) * scale[:, None]).t().contiguous().numpy()
                offset = ((bias * multiplier + rounding).to(torch.float64) * scale).numpy()
                self.layers.append(("float", scaled, offset, layer.clamp_max))
            else:
                self.layers.append(("int", weight.t().to(torch.float64).contiguous().numpy(), bias.numpy(), multiplier.numpy(),
                                    rounding.numpy(), shift.numpy(), layer.clamp_max))
            bound = layer.clamp_max if layer.clamp_max is not None else float(((acc_bound * multiplier) >> shift).max() + 1)

    def __call__(self, contexts: np.ndarray) -> np.ndarray:
        """``(N, C_in)`` integers -> ``(N, C_out)`` int64 fixed-point outputs."""
        x = np.minimum(np.maximum(contexts, -self.bound), self.bound).astype(np.float64)  # np.clip, without its overhead
        for kind, *terms in self.layers:
            if kind == "float":
                scaled, offset, clamp_max = terms
                x = x @ scaled
                x += offset
                np.floor(x, out=x)
            else:
                weight, bias, multiplier, rounding, shift, clamp_max = terms
                acc = (x @ weight).astype(np.int64)
                acc += bias
                acc *= multiplier
                acc += rounding
                x = (acc >> shift).astype(np.float64)
            if clamp_max is not None:
                np.clip(x, 0, clamp_max, out=x)
        return x.astype(np.int64)


def _integer_layer_forward(layer: IntegerLayer, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    b, c, h, w = x.shape
    k = layer.kernel_size
    weight = layer.weight.to(device=device, dtype=torch.float64).reshape(layer.weight.shape[0], -1)
    if k == 1:  # a 1x1 convolution is the product itself (same integers, same exact sums)
        columns = x.to(torch.float64).reshape(b, c, h * w)
    else:
        columns = F.unfold(x.to(torch.float64), kernel_size=k, padding=k // 2)  # (B, C*k*k, h*w)
    acc = torch.matmul(weight, columns)  # exact: integers below 2**53
    acc = acc.to(torch.int64) + layer.bias.to(device)[:, None]
    multiplier = layer.multiplier.to(device)[:, None]
    shift = layer.shift.to(device)[:, None]
    out = torch.bitwise_right_shift(acc * multiplier + torch.bitwise_left_shift(torch.ones_like(shift), shift - 1), shift)
    if layer.clamp_max is not None:
        out = out.clamp_(0, layer.clamp_max)
    out = out.reshape(b, -1, h, w)
    if layer.upscale > 1:
        out = F.pixel_shuffle(out, layer.upscale)
    return out


def check_exact_bounds(layers: Sequence[IntegerLayer], input_bound: int) -> int:
    """Prove that no partial sum can leave the exactly representable range.

    For each output channel, ``sum|w| * max|x| + |b|`` bounds every partial sum of the
    convolution; it must stay below ``2**53`` (float64) and, times the multiplier, below
    ``2**62`` (int64).  Raises :class:`WeightsError` when a layer could lose exactness.
    Returns a bound on the absolute value of the network's outputs.
    """
    bound = int(input_bound)
    for i, layer in enumerate(layers):
        if torch.any(layer.shift < 1) or torch.any(layer.shift > 62) or torch.any(layer.multiplier < 0):
            raise WeightsError(f"integer layer {i}: shifts must lie in [1, 62] and multipliers be >= 0")
        if int(layer.weight.abs().max()) > WEIGHT_MAX:
            raise WeightsError(f"integer layer {i}: weights exceed +-{WEIGHT_MAX}")
        abs_sum = layer.weight.abs().flatten(1).sum(1)
        acc_bound = abs_sum * bound + layer.bias.abs()
        if int(acc_bound.max()) >= EXACT_FLOAT_LIMIT:
            raise WeightsError(f"integer layer {i}: partial sums may exceed 2**53; not exact in float64")
        if int((acc_bound * layer.multiplier).max()) >= INT64_LIMIT:
            raise WeightsError(f"integer layer {i}: requantization may overflow int64")
        if layer.clamp_max is not None:
            bound = layer.clamp_max
        else:
            bound = int(((acc_bound * layer.multiplier) >> layer.shift).max()) + 1
    return bound


def _multiplier_and_shift(scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Write each positive float ``scale`` as ``m / 2**s`` with ``m`` in [2**15, 2**16)."""
    scale = scale.to(torch.float64)
    if torch.any(scale <= 0):
        raise ValueError("requantization scales must be positive")
    exponent = torch.floor(torch.log2(scale))
    shift = (MULTIPLIER_BITS - 1 - exponent).to(torch.int64)
    multiplier = torch.round(scale * torch.pow(2.0, shift.to(torch.float64))).to(torch.int64)
    overflow = multiplier >= 2**MULTIPLIER_BITS  # rounding up to 2**16
    multiplier = torch.where(overflow, multiplier // 2, multiplier)
    shift = torch.where(overflow, shift - 1, shift)
    if torch.any(shift < 1) or torch.any(shift > 62):
        raise ValueError("requantization scale out of the representable range")
    return multiplier, shift


@torch.no_grad()
def freeze_conv_stack(
    stack: IntegerReadyConvStack,
    calibration_inputs: torch.Tensor,
    output_fraction_bits: torch.Tensor,
    input_bound: int,
    activation_quantile: float = 1.0,
    weight_max: int = WEIGHT_MAX,
) -> IntegerNetwork:
    """Freeze a float stack into an :class:`IntegerNetwork`.

    Args:
        stack: the trained float network.  Its inputs must be integers (e.g. quantized
            hyper-latents), which the integer network receives unscaled.
        calibration_inputs: integer-valued inputs ``(B, C_in, h, w)`` from training data;
            they set each hidden layer's activation range.
        output_fraction_bits: ``(C_out,)`` fixed-point fraction bits of each output channel
            (an output ``v`` is returned as ``round(v * 2**bits)``).
        input_bound: largest absolute input value the network will be given.
        activation_quantile: quantile of the calibration activations taken as the clip
            range of each hidden layer (1.0 = the maximum).
        weight_max: largest integer weight (per output channel, the largest weight maps to
            it); below ``WEIGHT_MAX`` for networks whose weights travel in the stream.
    """
    stack = stack.float().cpu().eval()
    _, activations = stack(calibration_inputs.float().cpu(), return_activations=True)
    act_scale_in = torch.ones((), dtype=torch.float64)  # inputs are integers: scale 1
    layers = []
    last = len(stack.convs) - 1
    for i, (conv, upscale) in enumerate(zip(stack.convs, stack.upscales)):
        w = conv.weight.detach().to(torch.float64)
        b = conv.bias.detach().to(torch.float64)
        w_scale = w.abs().flatten(1).amax(1).clamp_min(1e-12) / weight_max  # per output channel
        w_int = torch.round(w / w_scale[:, None, None, None]).to(torch.int64)
        acc_scale = w_scale * act_scale_in  # real value of one accumulator unit
        b_int = torch.round(b / acc_scale).to(torch.int64)
        if i < last:
            act = activations[i].detach().to(torch.float64)
            flat = act.transpose(0, 1).reshape(act.shape[1], -1)
            if activation_quantile < 1.0:
                clip = torch.quantile(flat.flatten()[: 2**24], activation_quantile)
            else:
                clip = flat.max()
            act_scale_out = clip.clamp_min(1e-6) / ACTIVATION_MAX
            multiplier, shift = _multiplier_and_shift(acc_scale / act_scale_out)
            clamp_max = ACTIVATION_MAX
            act_scale_in = act_scale_out
        else:
            frac = output_fraction_bits.to(torch.float64)
            multiplier, shift = _multiplier_and_shift(acc_scale * torch.pow(2.0, frac))
            clamp_max = None
        layers.append(IntegerLayer(w_int, b_int, multiplier, shift, int(upscale), clamp_max))
    return IntegerNetwork(layers, input_bound)
