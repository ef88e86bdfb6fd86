"""Mean-scale hyperprior (Minnen et al. 2018, without the autoregressive context) with
gain units for variable rate (Cui et al. 2021) and exact entropy parameters.

Shapes for an input ``x`` of ``(B, 3, H, W)`` (``H, W`` multiples of 64), floats in [0, 1]:
``y``: ``(B, M, H/16, W/16)``; ``z``: ``(B, N, H/64, W/64)``.

Variable rate: quality level ``l`` (1..L, one per training lambda) owns a gain vector
``g_l`` (``M`` channels) applied to ``y`` before quantization and an inverse gain applied to
``y_hat`` before synthesis.  The hyper-synthesis predicts a mean and a log-scale per latent
in gain-free units; the gain then multiplies the mean and adds to the log-scale.  Fractional
qualities interpolate neighbouring gains.

Exactness: at inference the hyper-synthesis is an :class:`IntegerNetwork` and gains are
fixed-point integers, so the decoder derives bit-identical means and scale indexes on any
device (see :mod:`neuralcodecs.entropy.exact` and :mod:`neuralcodecs.entropy.gaussian`).
"""

from __future__ import annotations

import math
import numpy as np
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN
from compressai.models import CompressionModel
from compressai.models.utils import conv, deconv

from ..entropy.coders import CdfTable, TableCoder, SYMBOL_LIMIT
from .base import tensor_to_pixels
from .variable_rate import initial_gain_logs, rate_distortion
from ..entropy.exact import IntegerNetwork, IntegerReadyConvStack, freeze_conv_stack
from ..entropy.gaussian import (
    GAIN_FRACTION_BITS,
    LOG_SCALE_FRACTION_BITS,
    MEAN_FRACTION_BITS,
    SCALE_MIN,
    gained_means,
    interpolate_fixed,
    interpolate_gain_geometric,
    ladder_position,
    scale_indexes,
    scale_table,
)

DEFAULT_LAMBDAS = (0.0016, 0.0032, 0.0064, 0.0128, 0.025, 0.05, 0.1, 0.2)
HYPER_UPSCALES = (1, 2, 2, 1)
LOG_SCALE_CLAMP = (math.log(SCALE_MIN) - 1.0, math.log(290.0) + 1.0)
Z_INPUT_BOUND = 4096  # |z| fed to the integer hyper-synthesis


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


class GainedMeanScaleHyperprior(CompressionModel):
    """The trainable model (CompressAI contract: ``forward`` -> x_hat + likelihoods).

    Args:
        N: channels of the transforms and of ``z``.
        M: channels of ``y``.
        lambdas: rate-distortion trade-off of each quality level (MSE on [0, 255]
            pixel values is weighted by ``lambda * 255**2``, rate in bits per pixel).
    """

    def __init__(self, N: int = 128, M: int = 192, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS):
        super().__init__()
        self.N, self.M = N, M
        self.lambdas = tuple(float(v) for v in lambdas)
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3), nn.ReLU(inplace=True),
            conv(N, N), nn.ReLU(inplace=True), conv(N, N),
        )
        self.h_s = IntegerReadyConvStack([N, N, N, N, 2 * M], [3, 3, 3, 1], HYPER_UPSCALES)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(scale_table(), scale_bound=SCALE_MIN)
        gain_log, inv_gain_log = initial_gain_logs(self.lambdas, M)
        self.gain_log = nn.Parameter(gain_log)
        self.inv_gain_log = nn.Parameter(inv_gain_log)

    @property
    def num_levels(self) -> int:
        return len(self.lambdas)

    def hyper_parameters(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float hyper-synthesis: gain-free means and natural-log scales, ``(B, M, h, w)`` each."""
        params = self.h_s(z_hat)
        return params[:, : self.M], params[:, self.M :]

    def forward(self, x: torch.Tensor, levels: torch.Tensor) -> dict:
        """Training/evaluation pass with the continuous relaxation.

        Args:
            x: ``(B, 3, H, W)`` in [0, 1], ``H, W`` multiples of 64.
            levels: ``(B,)`` int64 quality levels, 0-based.
        """
        gain = torch.exp(self.gain_log[levels])[:, :, None, None]
        inv_gain = torch.exp(self.inv_gain_log[levels])[:, :, None, None]
        # Under a bf16 autocast only g_a and g_s (nearly all the work) run in bf16; the
        # hyper transforms, gains, rounding and entropy models stay float32.
        device = x.device.type
        y = self.g_a(x)
        with torch.autocast(device_type=device, enabled=False):
            y = y.float() * gain
            z = self.h_a(y)
            z_noisy, z_likelihoods = self.entropy_bottleneck(z)
            z_hat = _round_ste(z) if self.training else z_noisy
            mean, log_scale = self.hyper_parameters(z_hat)
            means = mean * gain
            scales = torch.exp(log_scale.clamp(*LOG_SCALE_CLAMP)) * gain
            _, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
            y_hat = _round_ste(y - means) + means
        x_hat = self.g_s(y_hat * inv_gain).float()
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def rd_loss(self, x: torch.Tensor, levels: torch.Tensor) -> dict:
        """Per-sample ``lambda * 255**2 * MSE + bpp``, averaged over the batch."""
        return rate_distortion(self(x, levels), x, self.lambdas, levels)


class FrozenHyperprior:
    """Inference-time model: float transforms plus exact integer entropy parameters.

    Built from a trained :class:`GainedMeanScaleHyperprior` by :meth:`from_trained` (which
    freezes the hyper-synthesis and the CDF tables), or from a weights file by
    :func:`neuralcodecs.image.hyperprior_codec.load_frozen`.
    """

    def __init__(
        self,
        model: GainedMeanScaleHyperprior,
        hyper_synthesis: IntegerNetwork,
        z_medians: torch.Tensor,
        z_table: CdfTable,
        y_table: CdfTable,
        gain_fixed: torch.Tensor,
        log_gain_fixed: torch.Tensor,
    ):
        # channels-last convolutions are about 1.5x faster on CPUs (oneDNN); the float
        # transforms may use any layout, only the integer entropy parameters must be exact.
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.hyper_synthesis = hyper_synthesis
        self.z_medians = z_medians.to(torch.int64)  # (N,)
        self.z_table, self.y_table = z_table, y_table
        self.z_coder, self.y_coder = TableCoder(z_table), TableCoder(y_table)
        self.gain_fixed = gain_fixed.to(torch.int64)  # (L, M)
        self.log_gain_fixed = log_gain_fixed.to(torch.int64)  # (L, M)
        self._gain_cache: dict = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    @torch.no_grad()
    def from_trained(cls, model: GainedMeanScaleHyperprior, calibration: torch.Tensor) -> "FrozenHyperprior":
        """Freeze a trained model.

        Args:
            model: trained model (any device; it is moved to the CPU).
            calibration: ``(B, 3, h, w)`` training crops in [0, 1] that set the integer
                network's activation ranges (never evaluation images).
        """
        model = model.cpu().eval()
        eb = model.entropy_bottleneck
        eb.quantiles.data[:, 0, 1] = torch.round(eb.quantiles.data[:, 0, 1])
        eb.update(force=True)
        model.gaussian_conditional.update_scale_table(scale_table(), force=True)
        z_all = []
        for level in range(model.num_levels):
            gain = torch.exp(model.gain_log[level])[None, :, None, None]
            z_all.append(torch.round(model.h_a(model.g_a(calibration) * gain)))
        z_cal = torch.cat(z_all).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND)
        frac = torch.tensor([MEAN_FRACTION_BITS] * model.M + [LOG_SCALE_FRACTION_BITS] * model.M)
        network = freeze_conv_stack(model.h_s, z_cal, frac, Z_INPUT_BOUND)
        gain_fixed = torch.round(torch.exp(model.gain_log.detach().double()) * 2**GAIN_FRACTION_BITS)
        log_gain_fixed = torch.round(model.gain_log.detach().double() * 2**LOG_SCALE_FRACTION_BITS)
        return cls(
            model,
            network,
            eb.quantiles.detach()[:, 0, 1].to(torch.int64),
            CdfTable.from_compressai(eb),
            CdfTable.from_compressai(model.gaussian_conditional),
            gain_fixed.to(torch.int64),
            log_gain_fixed.to(torch.int64),
        )

    # ------------------------------------------------------------------ quality
    @property
    def num_levels(self) -> int:
        return int(self.gain_fixed.shape[0])

    def gains(self, quality_x256: int, version: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Fixed-point gain, fixed-point log-gain and float inverse gain at a quality.

        Format version 2 interpolates the mean gain geometrically, like the log-gain and the
        inverse gain; version 1 streams interpolate it linearly (kept so they still decode).
        Returns int64 ``(M,)``, int64 ``(M,)``, float32 ``(M,)``.
        """
        key = (quality_x256, version)
        cached = self._gain_cache.get(key)
        if cached is not None:
            return cached
        if version == 1:
            gain = interpolate_fixed(self.gain_fixed, quality_x256)
        else:
            gain = interpolate_gain_geometric(self.gain_fixed, quality_x256)
        log_gain = interpolate_fixed(self.log_gain_fixed, quality_x256)
        low, high, frac = ladder_position(self.num_levels, quality_x256)
        t = frac / 256.0
        inv_log = self.model.inv_gain_log.detach().double()
        inv_gain = torch.exp(inv_log[low] * (1 - t) + inv_log[high] * t).float()
        self._gain_cache[key] = (gain, log_gain, inv_gain)
        return gain, log_gain, inv_gain

    # ------------------------------------------------------------------ entropy parameters
    def entropy_parameters(self, z_int: torch.Tensor, quality_x256: int, version: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact means (float64) and scale indexes (int64) of ``y``, ``(B, M, 4h, 4w)``."""
        gain, log_gain, _ = self.gains(quality_x256, version)
        params = self.hyper_synthesis(z_int)
        M = self.model.M
        mean_fixed, log_scale_fixed = params[:, :M], params[:, M:]
        device = params.device
        means = gained_means(mean_fixed, gain.to(device))
        indexes = scale_indexes(log_scale_fixed + log_gain.to(device).reshape(1, -1, 1, 1))
        return means, indexes

    # ------------------------------------------------------------------ coding
    def gain_float(self, quality_x256: int, version: int = 2) -> torch.Tensor:
        """The analysis-side gain ``(1, M, 1, 1)`` float32 (the fixed-point gain as a float)."""
        gain, _, _ = self.gains(quality_x256, version)
        return (gain.double() / 2**GAIN_FRACTION_BITS).float().reshape(1, -1, 1, 1)

    @torch.no_grad()
    def analyze(self, x: torch.Tensor, quality_x256: int, version: int = 2, latents: tuple | None = None) -> dict:
        """Encoder side up to the integer symbols.

        Args:
            x: ``(1, 3, H, W)`` in [0, 1], ``H, W`` multiples of 64.
            latents: ``(y, z_int)`` to code instead of the analysis transforms' (refined for
                this image: :mod:`neuralcodecs.image.hyperprior_refine`); ``y`` gained, float.
        Returns:
            dict with ``z_symbols`` ``(1, N, H/64, W/64)`` and ``y_symbols``
            ``(1, M, H/16, W/16)`` (int64), ``y_indexes`` (int64) and ``means`` (float64).
        """
        if latents is None:
            y = self.model.g_a(x.contiguous(memory_format=torch.channels_last)) * self.gain_float(quality_x256, version).to(x.device)
            z = self.model.h_a(y)
            z_int = torch.round(z).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)
        else:
            y, z_int = latents
        means, indexes = self.entropy_parameters(z_int, quality_x256, version)
        y_symbols = torch.round(y.double() - means).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT).to(torch.int64)
        z_symbols = z_int - self.z_medians.to(x.device).reshape(1, -1, 1, 1)
        return {"z_symbols": z_symbols, "y_symbols": y_symbols, "y_indexes": indexes, "means": means}

    def z_indexes(self, shape: tuple[int, ...]) -> np.ndarray:
        """Table index of every ``z`` element: its channel.  ``shape = (1, N, h, w)``."""
        return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape)

    @torch.no_grad()
    def compress(self, x: torch.Tensor, quality_x256: int, version: int = 2, latents: tuple | None = None) -> dict:
        """CompressAI contract: ``{"strings": [z_bytes, y_bytes], "shape": (h, w) of z}``
        (``latents``: as for :meth:`analyze`)."""
        sym = self.analyze(x, quality_x256, version, latents)
        z_symbols = sym["z_symbols"].cpu().numpy()
        z_bytes = self.z_coder.encode(z_symbols, self.z_indexes(z_symbols.shape))
        y_bytes = self.y_coder.encode(sym["y_symbols"].cpu().numpy(), sym["y_indexes"].cpu().numpy())
        return {"strings": [z_bytes, y_bytes], "shape": tuple(z_symbols.shape[2:]), "symbols": sym}

    @torch.no_grad()
    def decode_symbols(self, strings: list[bytes], shape: tuple[int, int], quality_x256: int, device="cpu", version: int = 2) -> dict:
        """Entropy-decode both sections; returns the symbols, means and integer ``z``."""
        z_shape = (1, self.model.N, *shape)
        z_symbols = torch.from_numpy(self.z_coder.decode(strings[0], self.z_indexes(z_shape))).to(device)
        z_int = z_symbols + self.z_medians.to(device).reshape(1, -1, 1, 1)
        means, indexes = self.entropy_parameters(z_int, quality_x256, version)
        y_symbols = torch.from_numpy(self.y_coder.decode(strings[1], indexes.cpu().numpy())).to(device)
        return {"z_symbols": z_symbols, "y_symbols": y_symbols, "y_indexes": indexes, "means": means}

    @torch.no_grad()
    def dequantize(self, y_symbols: torch.Tensor, means: torch.Tensor, quality_x256: int, version: int = 2) -> torch.Tensor:
        """``y_hat`` in the synthesis transform's units (gain undone), float32 ``(1, M, h, w)``."""
        _, _, inv_gain = self.gains(quality_x256, version)
        return (y_symbols.to(torch.float64) + means).float() * inv_gain.to(means.device).reshape(1, -1, 1, 1)

    @torch.no_grad()
    def synthesize(self, y_symbols: torch.Tensor, means: torch.Tensor, quality_x256: int, version: int = 2) -> torch.Tensor:
        """``x_hat`` ``(1, 3, H, W)`` in [0, 1] from the decoded symbols."""
        y_hat = self.dequantize(y_symbols, means, quality_x256, version)
        return self.model.g_s(y_hat.contiguous(memory_format=torch.channels_last)).clamp_(0, 1)

    @torch.no_grad()
    def synthesize_pixels(self, y_hat: torch.Tensor, height: int, width: int, tile: int, halo: int) -> np.ndarray:
        """uint8 ``(height, width, 3)`` from ``y_hat`` ``(1, M, h, w)``, tile by tile.

        Tiles of ``tile x tile`` latents are synthesized with ``halo`` latents of context
        on each side (the receptive field of ``g_s`` is under 2 latents), so peak memory is
        that of one tile whatever the picture size.  A picture of at most one tile is
        synthesized whole.
        """
        scale = 16
        h, w = -(-height // scale), -(-width // scale)  # tiles over the picture, not its padding
        _, _, h_all, w_all = y_hat.shape
        out = np.empty((height, width, 3), dtype=np.uint8)
        for top in range(0, h, tile):
            for left in range(0, w, tile):
                t0, l0 = max(0, top - halo), max(0, left - halo)
                t1, l1 = min(h_all, top + tile + halo), min(w_all, left + tile + halo)
                x = self.model.g_s(y_hat[:, :, t0:t1, l0:l1].contiguous(memory_format=torch.channels_last))
                rows = min(tile * scale, height - top * scale)
                cols = min(tile * scale, width - left * scale)
                inner = x[:, :, (top - t0) * scale :, (left - l0) * scale :]
                out[top * scale : top * scale + rows, left * scale : left * scale + cols] = tensor_to_pixels(inner, rows, cols)
                del x, inner
        return out

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: tuple[int, int], quality_x256: int, device="cpu", version: int = 2) -> dict:
        """CompressAI contract: ``{"x_hat": (1, 3, H, W)}``."""
        dec = self.decode_symbols(strings, shape, quality_x256, device, version)
        return {"x_hat": self.synthesize(dec["y_symbols"], dec["means"], quality_x256, version)}

    # ------------------------------------------------------------------ rate estimates
    @torch.no_grad()
    def estimated_bits(self, symbols: dict) -> float:
        """Bits the coded symbols cost under the coder's own tables (ideal code length)."""
        z = symbols["z_symbols"].cpu().numpy()
        bits = self.z_coder.ideal_bits(z, self.z_indexes(z.shape))
        bits += self.y_coder.ideal_bits(symbols["y_symbols"].cpu().numpy(), symbols["y_indexes"].cpu().numpy())
        return bits
