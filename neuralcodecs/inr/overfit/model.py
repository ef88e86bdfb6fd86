"""The overfitted image model (Cool-chic 3 / C3 style), in float: what fitting trains.

An image is represented by a **latent pyramid** of ``levels`` one-channel grids, grid ``l`` of
``ceil(H / 2**l) x ceil(W / 2**l)`` values (the image padded to a multiple of ``2**(levels-1)``),
a **learned upsampling** and a small **synthesis** network:

* upsampling (coarsest first): ``u = grid[L-1]``; for ``l = L-2 .. 0``:
  ``u = cat(grid[l], up(u))`` where ``up`` is a stride-2 transposed convolution with one learned
  8x8 kernel shared by every channel (initialised to the bicubic filter), so the full-resolution
  tensor has ``L`` channels, channel ``c`` coming from grid ``c``;
* synthesis: ``conv1x1 (L -> hidden) -> ReLU -> conv1x1 (hidden -> 3) -> conv3x3 residual ->
  ReLU -> conv3x3 residual`` (Cool-chic's "hidden-1-linear-relu, X-1-linear-none,
  X-3-residual-relu, X-3-residual-none"), output clamped to [0, 1] at decode.  The second linear
  layer's bias starts at 1/2 (mid-grey), so that no colour channel starts negative at every pixel
  (the latents start at zero) and dies in the ReLU of the first residual layer.

The **auto-regressive model** (ARM) gives every latent value a Laplace distribution from its
``context`` causal neighbours in the same grid (:data:`CONTEXT_OFFSETS`, nearest first; zero
outside the grid): ``MLP(context) -> (mu, log_b)``, two hidden ReLU layers of ``arm_hidden``
units.  The rate of integer latents ``v`` is ``-log2 (F(v + 1/2) - F(v - 1/2))``, ``F`` the
Laplace CDF.  While fitting, rounding is replaced by C3's soft rounding with noise (phase 1,
:func:`soft_quantize`) or a straight-through round (phase 2).

Multiply-accumulates per decoded pixel (:func:`macs_per_pixel`): the ARM on about ``4/3`` latents
per pixel, the upsampling and the synthesis; about 1.3k for the default configuration.

Shapes: ``grids`` a list of ``(1, 1, h_l, w_l)``; ``synthesize(grids) -> (1, 3, H', W')``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...entropy.exact import IntegerReadyConvStack

UPSAMPLING_KERNEL = 8
LATENT_BOUND = 255  # |latent value|: the exact ARM's input bound (coding.py)


def causal_offsets(radius: int = 4) -> list[tuple[int, int]]:
    """Causal neighbours ``(dy, dx)`` (rows above within ``radius``, or the same row to the left),
    nearest first, ties by row then column."""
    cells = [(dy, dx) for dy in range(-radius, 1) for dx in range(-radius, radius + 1) if dy < 0 or dx < 0]
    return sorted(cells, key=lambda c: (c[0] ** 2 + c[1] ** 2, c[0], c[1]))


CONTEXT_OFFSETS = causal_offsets()


@dataclass(frozen=True)
class OverfitConfig:
    levels: int = 7
    hidden: int = 40  # synthesis width (16 lost 4 dB at equal steps on a BSDS crop)
    context: int = 16  # ARM causal neighbours
    arm_hidden: int = 16

    def __post_init__(self):
        if not (1 <= self.levels <= 12 and 1 <= self.hidden <= 256 and 1 <= self.context <= len(CONTEXT_OFFSETS)
                and 1 <= self.arm_hidden <= 256):
            raise ValueError(f"invalid overfitted-codec configuration {self}")

    @property
    def offsets(self) -> list[tuple[int, int]]:
        return CONTEXT_OFFSETS[: self.context]

    @property
    def pad(self) -> int:
        return 2 ** (self.levels - 1)

    def to_json(self) -> dict:
        return asdict(self)


#: decoder presets by name (``--preset``), cheapest first, with their multiply-accumulates per
#: pixel (:func:`macs_per_pixel`): ``lop`` / ``mop`` / ``hop`` take the widths of Cool-chic 5's
#: intra presets of those names (ARM of 6 / 10 / 14 neighbours and as many hidden units,
#: synthesis of 8 / 16 / 48 hidden units; Orange-OpenSource/Cool-Chic ``cfg/dec/intra``) on this
#: model's layout (two residual layers, two ARM hidden layers, 7 latent levels): about 370 / 630 /
#: 1,220 MAC/px.  ``cpu``, the default (1,300 MAC/px): a 16-neighbour ARM of 16 units, which fitted
#: as well as ``paper``'s in 1,000 steps on a BSDS crop at 70% of the time.  ``paper``: Cool-chic
#: 3's larger ARM (24 neighbours, 2 x 24 hidden; 2,180 MAC/px).  ``benchmarks/fit_step.py``
#: measures each one's step time, ``benchmarks/fit_recipe.py`` its quality at equal steps.
PRESETS = {
    "lop": {"context": 6, "arm_hidden": 6, "hidden": 8},
    "mop": {"context": 10, "arm_hidden": 10, "hidden": 16},
    "hop": {"context": 14, "arm_hidden": 14, "hidden": 48},
    "cpu": {},
    "paper": {"context": 24, "arm_hidden": 24},
}


def preset_config(name: str) -> "OverfitConfig":
    """The configuration of preset ``name`` (:data:`PRESETS`)."""
    return OverfitConfig(**PRESETS[name])


#: below this many pixels an image gets :data:`SMALL_IMAGE` widths: on two 96x128 BSDS crops the
#: default widths (about 1.1 k parameters, 8.8 kbit per file) cost 126% / 91% more bits than WebP
#: at equal PSNR, these widths 60% / 29% (effort fast; benchmarks/overfit_small.py)
SMALL_IMAGE_PIXELS = 65_536
SMALL_IMAGE = {"hidden": 8, "context": 8, "arm_hidden": 8, "levels": 5}


def sized_config(cfg: OverfitConfig, height: int, width: int) -> OverfitConfig:
    """``cfg`` fitted to the picture: a small image gets :data:`SMALL_IMAGE` widths (never wider
    than ``cfg``), and no grid level coarser than the picture (``2**(levels-1)`` at most its
    shorter side rounded up to a power of two), so that a 1x1 image is one level of one latent."""
    sized = dict(cfg.to_json())
    if height * width < SMALL_IMAGE_PIXELS:
        sized.update({k: min(v, sized[k]) for k, v in SMALL_IMAGE.items()})
    sized["levels"] = min(sized["levels"], max(1, math.ceil(math.log2(min(height, width))) + 1))
    return OverfitConfig(**sized)


def grid_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Grid ``l``: the padded image ``/ 2**l`` (the image is padded to a multiple of ``2**(levels-1)``)."""
    pad = 2 ** (levels - 1)
    H, W = -(-height // pad) * pad, -(-width // pad) * pad
    return [(H >> l, W >> l) for l in range(levels)]


def bicubic_kernel() -> torch.Tensor:
    """The 8x8 separable kernel of 2x bicubic (Keys, a = -0.5) upsampling for a stride-2 transposed convolution."""
    def cubic(x):
        x = abs(x)
        a = -0.5  # Keys: reproduces linear ramps exactly
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0

    taps = torch.tensor([cubic((i - 3.5) / 2) for i in range(UPSAMPLING_KERNEL)], dtype=torch.float32)
    return taps[:, None] * taps[None, :]


class Upsampler(nn.Module):
    """One learned 8x8 transposed-convolution kernel, stride 2, applied to every channel alike."""

    def __init__(self):
        super().__init__()
        self.kernel = nn.Parameter(bicubic_kernel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        pad = UPSAMPLING_KERNEL // 2 - 1
        x = F.pad(x.reshape(b * c, 1, h, w), (1, 1, 1, 1), mode="replicate")  # channels as a batch: one kernel
        out = F.conv_transpose2d(x, self.kernel[None, None], stride=2)
        out = out[:, :, 2 + pad : -(2 + pad), 2 + pad : -(2 + pad)]
        return out.reshape(b, c, 2 * h, 2 * w)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """The same function for decoding as elementwise multiply-adds in a fixed order (a library
        transposed convolution may split its sums by thread count).  Output ``(2m + p, 2n + q)``
        takes the 16 taps ``K[ky, kx]`` with ``ky = 1 - p (mod 2)``, ``kx = 1 - q (mod 2)``, from the
        edge-replicated input at row ``m + (5 + p - ky) / 2`` (column likewise), zero beyond it."""
        b, c, h, w = x.shape
        kernel = self.kernel.float()
        padded = F.pad(F.pad(x.float(), (1, 1, 1, 1), mode="replicate"), (1, 1, 1, 1))  # replicate, then zeros
        out = x.new_zeros(b, c, 2 * h, 2 * w, dtype=torch.float32)
        for p in range(2):
            for q in range(2):
                phase = out[:, :, p::2, q::2]
                for ky in range(1 - p, UPSAMPLING_KERNEL, 2):
                    row = (5 + p - ky) // 2 + 1  # + 1: the zero border
                    for kx in range(1 - q, UPSAMPLING_KERNEL, 2):
                        col = (5 + q - kx) // 2 + 1
                        phase += kernel[ky, kx] * padded[:, :, row : row + h, col : col + w]
        return out


class Synthesis(nn.Module):
    def __init__(self, levels: int, hidden: int):
        super().__init__()
        self.linear1 = nn.Conv2d(levels, hidden, 1)
        self.linear2 = nn.Conv2d(hidden, 3, 1)
        self.residual1 = nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")
        self.residual2 = nn.Conv2d(3, 3, 3, padding=1, padding_mode="replicate")
        for conv in (self.residual1, self.residual2):
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.linear2.bias, 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the 1x1 layers as matrix products over channels-last pixels: the same function as the
        # convolutions, 2-3x faster to train on a CPU in bf16 (forward + backward at 512x768)
        h = x.permute(0, 2, 3, 1)
        h = F.linear(F.relu(F.linear(h, self.linear1.weight.flatten(1), self.linear1.bias)), self.linear2.weight.flatten(1),
                     self.linear2.bias)
        x = h.permute(0, 3, 1, 2)
        x = F.relu(x + self.residual1(x))
        return x + self.residual2(x)

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """The same function for decoding, every output a fixed sequence of elementwise multiply-adds
        (inputs and taps in a fixed order), so the pixels do not depend on the thread count (a
        library convolution may split its sums differently with more threads)."""
        x = _ordered_pointwise(x, (self.linear1, self.linear2))
        x = F.relu(x + _ordered_conv(x, self.residual1))
        return x + _ordered_conv(x, self.residual2)


#: image rows the decoding synthesis runs at a time (16: 76 ms at 768x512 and 40 hidden channels on one
#: core, against 110 ms for 8; the same arithmetic per pixel)
DECODE_ROWS = 16


def _ordered_pointwise(x: torch.Tensor, layers: tuple[nn.Conv2d, ...], rows: int = DECODE_ROWS) -> torch.Tensor:
    """``layers[-1](relu(...relu(layers[0](x))...))`` of 1x1 layers by :func:`_ordered_conv`, ``rows`` image rows
    at a time so that the wide hidden tensor stays in the cache (the same arithmetic per pixel)."""
    _, _, H, W = x.shape
    out = x.new_empty(1, layers[-1].out_channels, H, W)
    for r in range(0, H, rows):
        t = x[:, :, r : r + rows]
        for i, layer in enumerate(layers):
            t = _ordered_conv(t, layer)
            if i < len(layers) - 1:
                t = F.relu(t)
        out[:, :, r : r + rows] = t
    return out


def _ordered_conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` (stride 1, 1x1 or 3x3 with edge-replicated padding) as elementwise multiply-adds
    over input channels and taps in a fixed order; ``x`` ``(1, C, H, W)``."""
    k = conv.kernel_size[0]
    w = conv.weight.float()
    _, c_in, H, W = x.shape
    padded = F.pad(x, (k // 2,) * 4, mode="replicate") if k > 1 else x
    out = conv.bias.float().reshape(-1, 1, 1).expand(-1, H, W).clone()
    for c in range(c_in):
        for dy in range(k):
            for dx in range(k):
                out += w[:, c, dy, dx].reshape(-1, 1, 1) * padded[0, c, dy : dy + H, dx : dx + W]
    return out[None]


class AutoRegressiveModel(nn.Module):
    """Context ``(N, context)`` -> ``(mu, log_b)`` each ``(N,)``: 1x1 convolutions over the ``N``
    positions laid out as ``(1, context, N, 1)``, an :class:`~neuralcodecs.entropy.exact.IntegerReadyConvStack`
    so that it freezes into the exact integer network the file's coding uses."""

    def __init__(self, context: int, hidden: int):
        super().__init__()
        self.stack = IntegerReadyConvStack([context, hidden, hidden, 2], [1, 1, 1], [1, 1, 1])
        nn.init.zeros_(self.stack.convs[-1].weight)
        nn.init.zeros_(self.stack.convs[-1].bias)

    def forward(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # the stack's 1x1 convolutions as matrix products over the N contexts (the same parameters and
        # arithmetic as ``self.stack``, without the slow path of a (1, C, N, 1) convolution)
        x = ctx
        last = len(self.stack.convs) - 1
        for i, conv in enumerate(self.stack.convs):
            x = F.linear(x, conv.weight.flatten(1), conv.bias)
            if i < last:
                x = F.relu(x)
        return x[:, 0], x[:, 1]


def gather_context(grid: torch.Tensor, offsets: list[tuple[int, int]]) -> torch.Tensor:
    """``(1, 1, h, w)`` -> ``(h * w, len(offsets))``: each position's causal neighbours (zero outside)."""
    _, _, h, w = grid.shape
    r = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    padded = F.pad(grid, (r, r, r, 0))
    columns = [padded[0, 0, r + dy : r + dy + h, r + dx : r + dx + w].reshape(-1) for dy, dx in offsets]
    return torch.stack(columns, 1)


def soft_round(x: torch.Tensor, temperature: float) -> torch.Tensor:
    """Agustsson & Theis' soft rounding: ``floor(x) + 1/2 + tanh(d / T) / (2 tanh(1 / (2T)))`` with
    ``d = x - floor(x) - 1/2``; the identity as ``T -> inf``, rounding as ``T -> 0``; continuous and
    differentiable everywhere (its derivative is what the fitting's phase 1 learns through)."""
    floor = torch.floor(x)
    delta = x - floor - 0.5
    return floor + 0.5 + 0.5 * torch.tanh(delta / temperature) / math.tanh(0.5 / temperature)


def soft_quantize(x: torch.Tensor, temperature: float, noise: float, gaussian: bool = False) -> torch.Tensor:
    """C3's training-time stand-in for rounding: ``soft_round(soft_round(x, T) + n, T)``, ``n``
    uniform in ``[-noise, noise]`` (the noise keeps the synthesis from learning the inverse of the
    soft rounding; the outer soft rounding pulls the values back towards integers).  C3's long
    schedules use Gaussian noise of standard deviation 0.25 -> 0.1; at 1,000 steps on a BSDS image
    that fitted 2.2 dB worse at equal lambda than uniform noise of half-width 1/2 (revision 1's synthesis).
    ``gaussian``: the noise is Gaussian of standard deviation ``noise`` (Cool-chic 5's 0.22 -> 0.15)."""
    y = soft_round(x, temperature)
    n = torch.randn_like(y).mul_(noise) if gaussian else torch.empty_like(y).uniform_(-noise, noise)
    return soft_round(y + n, temperature)


def laplace_bits(v: torch.Tensor, mu: torch.Tensor, log_b: torch.Tensor) -> torch.Tensor:
    """``-log2 P(v)`` of integers (or noisy values) ``v`` under ``Laplace(mu, exp(log_b))`` integrated over ``v +- 1/2``."""
    b = torch.exp(log_b.clamp(-5.0, 6.0))
    x = v - mu

    def cdf(t):
        return 0.5 + 0.5 * torch.sign(t) * (1 - torch.exp(-t.abs() / b))

    p = cdf(x + 0.5) - cdf(x - 0.5)
    return -torch.log2(p.clamp_min(2**-30))


class OverfitModel(nn.Module):
    """Latent grids + upsampler + synthesis + ARM, fitted to one image."""

    def __init__(self, cfg: OverfitConfig, height: int, width: int):
        super().__init__()
        self.cfg = cfg
        self.shapes = grid_shapes(height, width, cfg.levels)
        self.grids = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, h, w)) for h, w in self.shapes)
        self.upsampler = Upsampler()
        self.synthesis = Synthesis(cfg.levels, cfg.hidden)
        self.arm = AutoRegressiveModel(cfg.context, cfg.arm_hidden)

    def quantized_grids(self, mode: str, temperature: float = 0.3, noise: float = 0.5,
                        gaussian: bool = False) -> list[torch.Tensor]:
        """``"soft"``: :func:`soft_quantize` at ``temperature`` and ``noise`` (``gaussian`` noise or uniform); ``"noise"``:
        ``g + U(-1/2, 1/2)``; ``"ste"``: straight-through rounding; ``"round"``: rounded."""
        out = []
        for g in self.grids:
            g = g.clamp(-LATENT_BOUND, LATENT_BOUND)
            if mode == "soft":
                out.append(soft_quantize(g, temperature, noise, gaussian))
            elif mode == "noise":
                out.append(g + torch.empty_like(g).uniform_(-0.5, 0.5))
            elif mode == "ste":
                out.append(g + (torch.round(g) - g).detach())
            else:
                out.append(torch.round(g))
        return out

    def synthesize(self, grids: list[torch.Tensor], decoding: bool = False, bf16: bool = False) -> torch.Tensor:
        """``decoding``: upsampling and synthesis in their thread-count-independent forms
        (:meth:`Upsampler.decode`, :meth:`Synthesis.decode`).  ``bf16`` (fitting on a CPU): the
        synthesis under bf16 autocast; the upsampling stays float32, which was faster (its
        one-channel transposed convolution gains nothing from bf16 on this CPU)."""
        u = grids[-1]
        up = self.upsampler.decode if decoding else self.upsampler
        for g in reversed(grids[:-1]):
            u = torch.cat([g, up(u)], 1)
        if decoding:
            return self.synthesis.decode(u)
        with torch.autocast(u.device.type, dtype=torch.bfloat16, enabled=bf16):
            return self.synthesis(u).float()

    def rate_bits(self, grids: list[torch.Tensor], bf16: bool = False) -> torch.Tensor:
        """Estimated bits of all latent values (ARM contexts from the same, quantized grids): one
        ARM evaluation over the contexts of every grid at once.  ``bf16`` (fitting): the ARM's
        layers under bf16 autocast, the Laplace integral in float32."""
        contexts = torch.cat([gather_context(g, self.cfg.offsets) for g in grids])
        values = torch.cat([g.reshape(-1) for g in grids])
        with torch.autocast(values.device.type, dtype=torch.bfloat16, enabled=bf16):
            mu, log_b = self.arm(contexts)
        return laplace_bits(values, mu.float(), log_b.float()).sum()


def macs_per_pixel(cfg: OverfitConfig) -> float:
    """Multiply-accumulates per pixel of the decoder (ARM on every latent, upsampling, synthesis)."""
    latents_per_pixel = sum(4.0 ** -l for l in range(cfg.levels))
    arm = cfg.context * cfg.arm_hidden + cfg.arm_hidden * cfg.arm_hidden + cfg.arm_hidden * 2
    # upsampling: a transposed 8x8 kernel at stride 2 costs 16 MACs per output sample, per channel
    upsampling = sum(16 * (cfg.levels - 1 - l) * 4.0 ** -l for l in range(cfg.levels - 1))
    synthesis = cfg.levels * cfg.hidden + cfg.hidden * 3 + 2 * 27
    return latents_per_pixel * arm + upsampling + synthesis
