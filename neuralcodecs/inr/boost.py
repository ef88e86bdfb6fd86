"""Boosting-NeRV's conditional decoder (Zhang et al., CVPR 2024), shared by ``nerv-boost`` and ``hnerv-boost``.

The paper boosts an implicit video representation by conditioning every stage of its decoder
on the frame index and by balancing its parameters across the stages:

* **temporal condition** ``z_t`` (:class:`TemporalCondition`): the frame time ``t`` through
  NeRV's positional encoding (``b = 1.25``, 80 levels: 160 values) and a two-layer MLP with
  ``sin`` activations, ``160 -> 2c -> c`` (``c = 32``); shared by every stage;
* **temporal-aware affine transform** (TAT, :class:`TemporalAffine`): a per-channel scale and
  shift of a feature map from ``z_t``, ``F * (1 + gamma(z_t)) + beta(z_t)``, each of ``gamma``,
  ``beta`` a ``c -> c -> C`` MLP with ReLU; no normalisation (the paper drops AdaIN's instance
  normalisation, which hurts overfitting);
* **TAT residual block** (:class:`TemporalResidualBlock`): ``x + conv3x3(TAT(GELU(conv3x3(TAT(x)))))``;
* **sinusoidal NeRV-like block** (SNeRV, one :class:`BoostStage` step): ``conv k x k ->
  PixelShuffle(s) -> sin`` followed by its TAT residual block, kernels at most 3x3 (HNeRV's
  5x5 convolutions move into the residual blocks), and one extra stride-1 step in every stage
  after the second (the official ``--dec_blks 1 1 2 2 2`` at five stages).

Parameter counts (closed form, :func:`stage_parameters`, checked against the modules by the
tests): the condition ``(2L + 1) 2c + (2c + 1) c`` (12,384 at ``L = 80``, ``c = 32``); a TAT layer
``2 (c + 1) c + 2 (c + 1) C``; a TAT residual block ``18 C^2 + 2 C + 2 TAT``.

The loss the paper fits with (:func:`boost_loss`): ``60 (0.7 L1 + 0.3 (1 - MS-SSIM)) +`` the L1
distance of the unnormalised 2-D Fourier transforms (real and imaginary parts), which keeps the
high frequencies an L2 or L1 fit blurs.  MS-SSIM needs frames longer than 160 pixels a side; on
smaller frames SSIM stands in.

Deviations from the official code (``Xinjie-Q/Boosting-NeRV``), stated: the frame time is
``k / (T - 1)`` (the library's NeRV), not ``(k + 1) / T``; Adam replaces Adan (not a dependency);
the consistent entropy minimisation of the weights is not here (the weights are coded as NeRV's
and HNeRV's are, 8 bits per output channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .nerv import positional_encoding

CONDITION_CHANNELS = 32
ENCODING_LEVELS = 80
ENCODING_BASE = 1.25
MAX_KERNEL = 3
FIDELITY_WEIGHT = 60.0  # weight of 0.7 L1 + 0.3 (1 - MS-SSIM) beside the Fourier term
MS_SSIM_MIN_SIDE = 161  # pytorch_msssim's five scales of an 11-tap window


@dataclass(frozen=True)
class BoostLayout:
    """The fixed widths of a boosted network: the stem MLP's hidden width (NeRV-Boost), the
    condition's channels, the narrowest stage."""

    mlp_hidden: int
    condition: int
    lower_width: int


#: the official layout, then a reduced one for networks too small for it (the paper's smallest
#: NeRV-Boost, with the 256-wide stem MLP and 32-channel condition, holds over 100k values)
LAYOUTS = (BoostLayout(256, 32, 12), BoostLayout(32, 8, 4))


def layout_for(smallest: Callable[[BoostLayout], int], target: int) -> BoostLayout:
    """The first of :data:`LAYOUTS` whose smallest network (``smallest(layout)`` values) fits in
    ``target``; the last one otherwise."""
    for layout in LAYOUTS:
        if smallest(layout) <= target:
            return layout
    return LAYOUTS[-1]


class Sine(nn.Module):
    """``sin(x)`` (no frequency factor: the official code's ``Sin``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


class TemporalCondition(nn.Module):
    """Frame times ``(B,)`` in [0, 1] -> the condition ``z_t`` ``(B, channels)``."""

    def __init__(self, channels: int = CONDITION_CHANNELS, levels: int = ENCODING_LEVELS, base: float = ENCODING_BASE):
        super().__init__()
        self.levels, self.base = levels, base
        self.mlp = nn.Sequential(nn.Linear(2 * levels, 2 * channels), Sine(), nn.Linear(2 * channels, channels), Sine())

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(positional_encoding(t, self.levels, self.base).to(self.mlp[0].weight.dtype))


class TemporalAffine(nn.Module):
    """TAT: ``x (B, C, H, W)``, ``z (B, c)`` -> ``x * (1 + gamma(z)) + beta(z)`` (per channel)."""

    def __init__(self, channels: int, condition: int = CONDITION_CHANNELS):
        super().__init__()
        self.scale = nn.Sequential(nn.Linear(condition, condition), nn.ReLU(), nn.Linear(condition, channels))
        self.shift = nn.Sequential(nn.Linear(condition, condition), nn.ReLU(), nn.Linear(condition, channels))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return x * (1 + self.scale(z)[:, :, None, None]) + self.shift(z)[:, :, None, None]


class TemporalResidualBlock(nn.Module):
    """``x + conv3x3(TAT_b(GELU(conv3x3(TAT_a(x, z))), z))``, ``C -> C``."""

    def __init__(self, channels: int, condition: int = CONDITION_CHANNELS):
        super().__init__()
        self.affine_a, self.affine_b = TemporalAffine(channels, condition), TemporalAffine(channels, condition)
        self.conv_a = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        u = self.act(self.conv_a(self.affine_a(x, z)))
        return x + self.conv_b(self.affine_b(u, z))


class BoostStage(nn.Module):
    """One decoder stage: ``1 + extra`` SNeRV steps, each ``conv -> PixelShuffle -> sin -> TAT
    residual block``; the first step ``c_in -> c_out`` at ``stride`` with a ``kernel`` convolution,
    the extra ones ``c_out -> c_out`` at stride 1 with 3x3 convolutions."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, extra: int, condition: int = CONDITION_CHANNELS):
        super().__init__()
        self.strides = (stride,) + (1,) * extra
        self.convs = nn.ModuleList([nn.Conv2d(c_in, c_out * stride * stride, kernel, padding=kernel // 2)]
                                   + [nn.Conv2d(c_out, c_out, 3, padding=1) for _ in range(extra)])
        self.refine = nn.ModuleList(TemporalResidualBlock(c_out, condition) for _ in self.strides)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        for conv, stride, refine in zip(self.convs, self.strides, self.refine):
            x = conv(x)
            if stride > 1:
                x = F.pixel_shuffle(x, stride)
            x = refine(torch.sin(x), z)
        return x


def boost_kernels(count: int, first: int) -> tuple[int, ...]:
    """The stages' first-step kernels: ``first`` for stage 0, then 3 (the official code caps
    every kernel at 3: NeRV-Boost 3, 3, 3, ...; HNeRV-Boost 1, 3, 3, ...)."""
    return tuple(min(first, MAX_KERNEL) if i == 0 else MAX_KERNEL for i in range(count))


def default_extra_blocks(count: int) -> tuple[int, ...]:
    """One extra step in every stage after the second (``1 1 2 2 2`` blocks at five stages)."""
    return tuple(int(i >= 2) for i in range(count))


def condition_parameters(condition: int = CONDITION_CHANNELS, levels: int = ENCODING_LEVELS) -> int:
    return (2 * levels + 1) * 2 * condition + (2 * condition + 1) * condition


def affine_parameters(channels: int, condition: int = CONDITION_CHANNELS) -> int:
    return 2 * (condition + 1) * condition + 2 * (condition + 1) * channels


def residual_parameters(channels: int, condition: int = CONDITION_CHANNELS) -> int:
    return 2 * (9 * channels * channels + channels) + 2 * affine_parameters(channels, condition)


def stage_parameters(c_in: int, c_out: int, stride: int, kernel: int, extra: int, condition: int = CONDITION_CHANNELS) -> int:
    """Parameters of a :class:`BoostStage`."""
    total = (kernel * kernel * c_in + 1) * c_out * stride * stride + residual_parameters(c_out, condition)
    return total + extra * ((9 * c_out + 1) * c_out + residual_parameters(c_out, condition))


def stage_macs(c_in: int, c_out: int, stride: int, kernel: int, extra: int, h: int, w: int) -> int:
    """Multiply-accumulates of a stage on an ``h x w`` input (convolutions; the affine MLPs are
    per frame, not per pixel, and counted by :func:`condition_macs`)."""
    H, W = h * stride, w * stride
    first = kernel * kernel * c_in * c_out * stride * stride * h * w
    residual = 18 * c_out * c_out * H * W
    return first + residual + extra * (9 * c_out * c_out * H * W + residual)


def condition_macs(widths, extra, condition: int = CONDITION_CHANNELS, levels: int = ENCODING_LEVELS) -> int:
    """The condition MLP and every TAT layer's two MLPs, once per frame."""
    total = 2 * levels * 2 * condition + 2 * condition * condition
    for c, e in zip(widths, extra):
        total += (1 + e) * 2 * 2 * (condition * condition + condition * c)
    return total


def boost_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Boosting-NeRV's loss of frames ``(B, 3, H, W)`` in [0, 1] (see the module docstring)."""
    from pytorch_msssim import ms_ssim, ssim

    similarity = ms_ssim if min(out.shape[-2:]) >= MS_SSIM_MIN_SIDE else ssim
    fidelity = 0.7 * F.l1_loss(out, target) + 0.3 * (1 - similarity(out, target, data_range=1.0, size_average=True))
    spectrum = torch.view_as_real(torch.fft.fft2(out.float())) - torch.view_as_real(torch.fft.fft2(target.float()))
    return FIDELITY_WEIGHT * fidelity + spectrum.abs().mean()


class FramesAndTimes:
    """What a conditional HNeRV takes for frames ``pick``: their inputs and their times.

    Behaves as the ``inputs`` tensor of :func:`~neuralcodecs.inr.fitting.fit` (``len``, indexing,
    ``to``); indexing gives the pair ``(inputs[pick], times[pick])``."""

    def __init__(self, inputs: torch.Tensor, times: torch.Tensor):
        if len(inputs) != len(times):
            raise ValueError(f"{len(inputs)} inputs for {len(times)} times")
        self.inputs, self.times = inputs, times

    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, pick) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs[pick], self.times[pick]

    def to(self, device) -> "FramesAndTimes":
        return FramesAndTimes(self.inputs.to(device), self.times.to(device))
