"""NIRVANA (Maiya et al., CVPR 2023): a video as a chain of small per-group networks of patch coordinates.

* The clip is cut into groups of ``group`` consecutive frames (3), each frame into ``patch x
  patch`` patches (the frame padded to whole patches).  One network per group maps the
  coordinate of a patch centre ``(y, x)`` in [-1, 1] to that patch in every frame of the group:
  a SIREN MLP (``sin(30 x)`` activations, SIREN's initialisation) ``2 -> hidden -> hidden ->
  C * (patch/2)**2`` gives a feature map ``(C, patch/2, patch/2)``; a fixed sinusoidal encoding of
  the frame's index in the group is added to it; ``conv3x3 (C -> 4C) -> PixelShuffle(2) -> GELU ->
  conv3x3 (C -> 3)`` and ``(tanh + 1) / 2`` give the frame's patch.
* The MLP's weights are **integer latents with a learned per-layer decoder**: ``w = step_l * q``,
  ``q`` trained as floats with straight-through rounding, ``step_l = exp(log_step_l)`` learned (the
  official code's ``scale * q / max|q|`` is the same map).  A **factorized bit estimator** (a
  learned logistic per layer, Balle-style discretization) prices the latents; the loss is
  ``MSE + lambda * mean bits per latent``.
* Group ``g`` starts from group ``g - 1``'s fitted network and optimizer (**autoregressive
  initialisation**: most groups need far fewer steps than the first), and its latents are coded
  as **differences** ``round(q_g) - round(q_{g-1})``.  The bit estimator prices exactly that
  difference (the official code prices ``q`` itself and codes the difference; pricing what is
  coded is our choice).  Biases, steps and the two convolutions (small) are coded at 8 bits per
  group.

The paper's configuration: patch 32, C = 16, hidden 512 (``CONFIGS["paper"]``, ``--recipe
paper``, where every other parameter also trains quantization-aware: ``quantize_all``); the
reduced one fitted on the CPU: patch 16, C = 8, hidden width from the size target.

Shapes: ``forward(coords, frame_codes)`` ``(N, 2)``, ``(F, C)`` -> ``(N, F, 3, patch, patch)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .sizing import nearest_size
from .weight_coding import fake_quantize

SIREN_W0 = 30.0
OTHER_BITS = 8  # bit depth of the biases and convolutions (per output channel)
MAX_LATENT = 2047  # latents stay within 12-bit symbols
QUANTIZED = ("mlp0", "mlp1", "mlp2")  # the MLP layers whose weights are integer latents


@dataclass(frozen=True)
class NirvanaConfig:
    patch: int = 16
    channels: int = 8
    hidden: int = 128
    group: int = 3

    def __post_init__(self):
        if self.patch < 2 or self.patch % 2 or min(self.channels, self.hidden, self.group) < 1:
            raise ValueError(f"invalid NIRVANA configuration {self}")

    def to_json(self) -> dict:
        return asdict(self)


CONFIGS = {"cpu": {"patch": 16, "channels": 8}, "paper": {"patch": 32, "channels": 16, "hidden": 512}}


class QuantizedLinear(nn.Module):
    """``y = x @ (step * round(q)).T + b`` with a straight-through round; ``step = exp(log_step)``."""

    def __init__(self, c_in: int, c_out: int, bound: float):
        super().__init__()
        w = torch.empty(c_out, c_in).uniform_(-bound, bound)
        step = w.abs().max() / 127
        self.log_step = nn.Parameter(step.log().reshape(()))
        self.q = nn.Parameter(w / step)
        self.bias = nn.Parameter(torch.empty(c_out).uniform_(-1 / math.sqrt(c_in), 1 / math.sqrt(c_in)))
        self.decoded: torch.Tensor | None = None  # a decoder's exact ``step * integers`` (float32)

    def integers(self) -> torch.Tensor:
        return torch.round(self.q.detach()).clamp(-MAX_LATENT, MAX_LATENT).to(torch.int64)

    def weight(self) -> torch.Tensor:
        if self.decoded is not None:
            return self.decoded
        q = self.q.clamp(-MAX_LATENT, MAX_LATENT)
        return torch.exp(self.log_step) * (q + (torch.round(q) - q).detach())

    def forward(self, x: torch.Tensor, quantize_bias: bool = False) -> torch.Tensor:
        return F.linear(x, self.weight(), fake_quantize(self.bias, OTHER_BITS) if quantize_bias else self.bias)


class LogisticBits(nn.Module):
    """Factorized bit estimator of one layer: ``-log2 P(v)``, ``P`` a learned logistic integrated over ``[v - 1/2, v + 1/2]``."""

    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(()))
        self.log_scale = nn.Parameter(torch.tensor(1.0))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        s = torch.exp(self.log_scale)
        upper = torch.sigmoid((v - self.loc + 0.5) / s)
        lower = torch.sigmoid((v - self.loc - 0.5) / s)
        return -torch.log2((upper - lower).clamp_min(1e-9))


def frame_codes(group: int, channels: int) -> torch.Tensor:
    """Fixed sinusoidal codes of the frame index in a group: ``(group, channels)``."""
    f = torch.arange(group, dtype=torch.float32)[:, None]
    k = torch.arange(channels, dtype=torch.float32)[None]
    freq = math.pi / 2 ** (k // 2)
    return torch.where(k % 2 == 0, torch.sin(f * freq), torch.cos(f * freq))


class NirvanaGroupNet(nn.Module):
    """One group's network (see the module docstring).

    ``quantize_all``: train every other parameter (biases, convolutions) quantization-aware at
    the ``OTHER_BITS`` they are coded with (:func:`~.weight_coding.fake_quantize`), as the paper
    trains every parameter; off, they are quantized after fitting.  A decoder leaves it off (its
    tensors are already the coded values)."""

    def __init__(self, cfg: NirvanaConfig, quantize_all: bool = False):
        super().__init__()
        self.cfg = cfg
        self.quantize_all = quantize_all
        h, c, half = cfg.hidden, cfg.channels, cfg.patch // 2
        self.mlp0 = QuantizedLinear(2, h, 1 / 2)
        self.mlp1 = QuantizedLinear(h, h, math.sqrt(6 / h) / SIREN_W0)
        self.mlp2 = QuantizedLinear(h, c * half * half, math.sqrt(6 / h) / SIREN_W0)
        self.conv1 = nn.Conv2d(c, 4 * c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, 3, 3, padding=1)
        self.bits = nn.ModuleDict({name: LogisticBits() for name in QUANTIZED})

    def forward(self, coords: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        c, half, p = self.cfg.channels, self.cfg.patch // 2, self.cfg.patch
        qat = self.quantize_all
        x = torch.sin(SIREN_W0 * self.mlp0(coords, qat))
        x = torch.sin(SIREN_W0 * self.mlp1(x, qat))
        base = self.mlp2(x, qat).view(-1, 1, c, half, half)
        maps = (base + codes.view(1, -1, c, 1, 1)).flatten(0, 1)  # (N * F, C, half, half)
        x = F.gelu(F.pixel_shuffle(F.conv2d(maps, *self._coded(self.conv1), padding=1), 2))
        out = (torch.tanh(F.conv2d(x, *self._coded(self.conv2), padding=1)) + 1) / 2
        return out.view(-1, codes.shape[0], 3, p, p)

    def _coded(self, conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
        """A convolution's weight and bias, fake-quantized when training quantization-aware."""
        if not self.quantize_all:
            return conv.weight, conv.bias
        return fake_quantize(conv.weight, OTHER_BITS), fake_quantize(conv.bias, OTHER_BITS)

    def latent_bits(self, previous: dict[str, torch.Tensor] | None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Estimated bits of the coded latents (differences to ``previous`` integers), uniform noise for rounding."""
        total = 0.0
        for name in QUANTIZED:
            q = getattr(self, name).q.clamp(-MAX_LATENT, MAX_LATENT)
            v = q - previous[name].to(q) if previous is not None else q
            total = total + self.bits[name](v + torch.empty_like(v).uniform_(-0.5, 0.5, generator=generator)).sum()
        return total

    def latent_count(self) -> int:
        return sum(getattr(self, name).q.numel() for name in QUANTIZED)


def count_parameters(cfg: NirvanaConfig) -> int:
    """Stored values of one group's network (latents, biases, steps, convolutions)."""
    h, c, half = cfg.hidden, cfg.channels, cfg.patch // 2
    mlp = (2 * h + h + 1) + (h * h + h + 1) + (h * c * half * half + c * half * half + 1)
    return mlp + (9 * c * 4 * c + 4 * c) + (9 * c * 3 + 3)


def macs_per_frame(cfg: NirvanaConfig, patches: int) -> int:
    """Multiply-accumulates of rendering one frame of ``patches`` patches: the MLP per patch, the
    two 3x3 convolutions at half and full patch resolution."""
    h, c, half = cfg.hidden, cfg.channels, cfg.patch // 2
    mlp = 2 * h + h * h + h * c * half * half
    return patches * (mlp + 9 * c * 4 * c * half * half + 9 * c * 3 * cfg.patch * cfg.patch)


def for_size(target: int, recipe: str = "cpu", group: int = 3) -> NirvanaConfig:
    """The configuration of ``recipe`` (:data:`CONFIGS`: its patch and channels) whose group network
    has about ``target`` values (hidden width searched; the paper's 512 is ``--size 2.38M``)."""
    patch, channels = CONFIGS[recipe]["patch"], CONFIGS[recipe]["channels"]
    return nearest_size(lambda h: NirvanaConfig(patch, channels, h, group), count_parameters, target, range(4, 4097, 2))


def patch_grid(height: int, width: int, patch: int) -> tuple[int, int]:
    return math.ceil(height / patch), math.ceil(width / patch)


def patch_coordinates(rows: int, cols: int) -> torch.Tensor:
    """Patch centres in [-1, 1], row-major: ``(rows * cols, 2)`` as ``(y, x)``."""
    ys = (torch.arange(rows, dtype=torch.float32) + 0.5) / rows * 2 - 1
    xs = (torch.arange(cols, dtype=torch.float32) + 0.5) / cols * 2 - 1
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)


def assemble(patches: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """``(rows * cols, F, 3, p, p)`` -> frames ``(F, 3, rows * p, cols * p)``."""
    n, f, _, p, _ = patches.shape
    return patches.view(rows, cols, f, 3, p, p).permute(2, 3, 0, 4, 1, 5).reshape(f, 3, rows * p, cols * p)
