"""The trainable WaLLoC model (Jacobellis & Yadwadkar, DCC 2025): wavelet packet, linear encoder,
Gaussian-CDF companding to 8-bit integers, a convolutional decoder, inverse wavelet packet.

Per quality (one entry of ``latent_channels``):

* encoder: ``x - 0.5`` (pixels in [-0.5, 0.5]) -> J-level wavelet packet (``3 * 4**J`` channels
  at ``H / 2**J``) -> one 1x1 convolution to ``C`` channels -> companding
  ``u = 2 L (Phi(z / s) - 0.5)`` (``Phi`` the standard normal CDF, ``s = 127 / 1.85``,
  ``L = 127.499``) -> ``round`` (uniform noise while training) -> integers in [-127, 127];
* decoder: the inverse companding ``s * Phi^-1(clamp(y / 2L + 1/2, 1e-4, 1 - 1e-4))`` -> 3x3
  convolution to ``width`` -> residual block, one-head self-attention (in windows of 64 x 64
  positions beyond that size), residual block ->
  ``blocks`` residual blocks -> GroupNorm, SiLU, 3x3 convolution to ``3 * 4**J`` coefficients ->
  inverse wavelet packet -> ``+ 0.5``.  All of it at ``H / 2**J``: no up-sampling layer (the
  diffusers KL-VAE decoder with a single block, as the authors use it).

No rate term: the rate is set by ``C`` (and the 8 bits); the loss is the pixel MSE of the
unclamped reconstruction.  Shapes: ``x`` ``(B, 3, H, W)`` in [0, 1], ``H, W`` multiples of
``2**J``; latents ``(B, C, H / 2**J, W / 2**J)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .wavelets import WaveletPacket2D

LATENT_BITS = 8
LATENT_MAX = 2 ** (LATENT_BITS - 1) - 1  # integers in [-127, 127]
COMPAND_SCALE = LATENT_MAX / 1.85
COMPAND_LIMIT = LATENT_MAX + 0.5 - 1e-3
SYMBOLS = 2 * LATENT_MAX + 1  # alphabet of one latent: 255 values
HISTOGRAM_DECAY = 0.99
ATTENTION_WINDOW = 64  # latent positions per side of an attention window (512 pixels at J = 3)


def compand(z: torch.Tensor) -> torch.Tensor:
    """Encoder outputs -> (-127.499, 127.499): ``2 L (Phi(z / s) - 1/2)``."""
    return 2 * COMPAND_LIMIT * (0.5 * torch.erfc(-z / (COMPAND_SCALE * math.sqrt(2))) - 0.5)


def expand(y: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`compand` (clamped away from the tails): ``s Phi^-1(y / 2L + 1/2)``."""
    t = (y / (2 * COMPAND_LIMIT) + 0.5).clamp(1e-4, 1 - 1e-4)
    return COMPAND_SCALE * math.sqrt(2) * torch.erfinv(2 * t - 1)


class ResidualBlock(nn.Module):
    """GroupNorm(32), SiLU, 3x3 convolution, twice, plus the input."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(32, width, eps=1e-6), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
            nn.GroupNorm(32, width, eps=1e-6), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SelfAttention(nn.Module):
    """One-head self-attention (GroupNorm first, residual) within windows of ``window x window``
    positions: over all positions for grids up to ``window`` on a side (every training crop:
    256 pixels are 32 positions), so that decoding stays linear in the picture size (global
    attention over a 12-megapixel picture's 190k positions would take minutes)."""

    def __init__(self, width: int, window: int = ATTENTION_WINDOW):
        super().__init__()
        self.window = int(window)
        self.norm = nn.GroupNorm(32, width, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def _attend(self, tile: torch.Tensor) -> torch.Tensor:
        B, C, h, w = tile.shape
        q, k, v = self.qkv(tile.flatten(2).transpose(1, 2)).chunk(3, dim=-1)  # (B, hw, C) each
        attended = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None])[:, 0]
        return self.out(attended).transpose(1, 2).reshape(B, C, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.norm(x)
        h, w = x.shape[-2:]
        if h <= self.window and w <= self.window:
            return x + self._attend(normed)
        rows = [torch.cat([self._attend(normed[..., i : i + self.window, j : j + self.window])
                           for j in range(0, w, self.window)], dim=-1) for i in range(0, h, self.window)]
        return x + torch.cat(rows, dim=-2)


class Decoder(nn.Module):
    """Latents ``(B, C, h, w)`` (expanded) -> wavelet coefficients ``(B, out, h, w)``."""

    def __init__(self, latent_channels: int, out_channels: int, width: int, blocks: int, attention: bool):
        super().__init__()
        middle = [ResidualBlock(width)] + ([SelfAttention(width)] if attention else []) + [ResidualBlock(width)]
        self.layers = nn.Sequential(
            nn.Conv2d(latent_channels, width, 3, padding=1), *middle, *[ResidualBlock(width) for _ in range(blocks)],
            nn.GroupNorm(32, width, eps=1e-6), nn.SiLU(), nn.Conv2d(width, out_channels, 3, padding=1),
        )

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.layers(y)


class WaLLoCModel(nn.Module):
    """WaLLoC with one (encoder, decoder) pair per quality; the wavelet packet is shared.

    Args:
        latent_channels: ``C`` per quality (the ladder).
        levels, wavelet: the packet transform (J, PyWavelets name).
        width, blocks, attention: the decoder (see the module docstring).
        encoder_gain: a constant factor on the encoder's output.  With PyTorch's default
            initialization the encoder's outputs have a standard deviation of about 0.16 on
            natural images, which companding maps to integers of about +-0.3 -- the 8-bit range
            unused -- and Adam grows the weights by about ``lr`` per step: a first CPU run (gain
            1, 3,600 steps) still had latents of standard deviation 0.3-0.9, nearly ternary.
            A gain of 100 starts them at a standard deviation of ~23 and lets Adam move the
            weights at their own scale; ``paper`` keeps the authors' gain of 1.
    """

    def __init__(self, latent_channels=(12,), levels: int = 3, wavelet: str = "bior4.4", width: int = 96,
                 blocks: int = 3, attention: bool = True, encoder_gain: float = 1.0):
        super().__init__()
        self.latent_channels = tuple(int(c) for c in latent_channels)
        if not self.latent_channels:
            raise ValueError("WaLLoC needs at least one latent channel count")
        if width % 32 or width < 64:  # GroupNorm(32): one channel per group cannot normalize a 1x1 grid
            raise ValueError(f"decoder width must be a multiple of 32 and at least 64, not {width}")
        self.width, self.encoder_gain = int(width), float(encoder_gain)
        self.wpt = WaveletPacket2D(wavelet, levels)
        coefficients = 3 * 4**levels
        self.num_levels = len(self.latent_channels)  # qualities (the training loop's "levels" of rate)
        self.pad_multiple = self.wpt.factor
        self.encoders = nn.ModuleList(nn.Conv2d(coefficients, c, 1) for c in self.latent_channels)
        self.decoders = nn.ModuleList(Decoder(c, coefficients, width, blocks, attention) for c in self.latent_channels)
        self.register_buffer("histograms", torch.cat([torch.full((c, SYMBOLS), 1.0 / SYMBOLS) for c in self.latent_channels]))

    # ------------------------------------------------------------------ transforms
    def companded(self, x: torch.Tensor, quality: int) -> torch.Tensor:
        """Continuous companded latents ``(B, C, h, w)`` in (-127.5, 127.5) (before rounding)."""
        return compand(self.encoder_gain * self.encoders[quality](self.wpt.analysis(x.float() - 0.5)).float())

    def encode_latents(self, x: torch.Tensor, quality: int) -> torch.Tensor:
        """Integer latents ``(B, C, h, w)`` int64 in [-127, 127] (round half to even)."""
        return torch.round(self.companded(x, quality)).to(torch.int64)

    def reconstruct(self, y: torch.Tensor, quality: int) -> torch.Tensor:
        """Unclamped pixels ``(B, 3, H, W)`` from (integer or noisy) latents ``(B, C, h, w)``."""
        coefficients = self.decoders[quality](expand(y.float()))
        return self.wpt.synthesis(coefficients.float()) + 0.5

    def decode_latents(self, y: torch.Tensor, quality: int) -> torch.Tensor:
        """Pixels ``(B, 3, H, W)`` in [0, 1] from integer latents."""
        return self.reconstruct(y, quality).clamp(0, 1)

    # ------------------------------------------------------------------ statistics
    def histogram(self, quality: int) -> torch.Tensor:
        """The running symbol histogram ``(C, 255)`` of one quality (rows sum to 1)."""
        start = sum(self.latent_channels[:quality])
        return self.histograms[start : start + self.latent_channels[quality]]

    @torch.no_grad()
    def estimated_bits(self, latents: torch.Tensor, quality: int) -> torch.Tensor:
        """``-sum(log2 p)`` of integer latents under the running per-channel histograms."""
        p = self.histogram(quality)
        symbols = (latents + LATENT_MAX).clamp(0, SYMBOLS - 1)
        channels = torch.arange(p.shape[0], device=latents.device).reshape(1, -1, 1, 1)
        return -torch.log2(p[channels, symbols].clamp_min(2.0**-24)).sum()

    @torch.no_grad()
    def _update_histogram(self, latents: torch.Tensor, quality: int) -> None:
        C = latents.shape[1]
        symbols = (latents + LATENT_MAX).clamp(0, SYMBOLS - 1).transpose(0, 1).reshape(C, -1)
        counts = F.one_hot(symbols, SYMBOLS).sum(1).float()
        self.histogram(quality).mul_(HISTOGRAM_DECAY).add_(counts / counts.sum(1, keepdim=True), alpha=1 - HISTOGRAM_DECAY)

    # ------------------------------------------------------------------ training
    def forward(self, x: torch.Tensor, quality: int) -> dict:
        """``x_hat`` (unclamped; uniform noise on the latents while training, rounding otherwise),
        ``latents`` (rounded), ``bpp`` (estimate under the running histograms)."""
        u = self.companded(x, quality)
        rounded = torch.round(u.detach()).to(torch.int64)
        y = u + torch.rand_like(u) - 0.5 if self.training else torch.round(u)
        if self.training:
            self._update_histogram(rounded, quality)
        x_hat = self.reconstruct(y, quality)
        bpp = self.estimated_bits(rounded, quality) / (x.shape[0] * x.shape[2] * x.shape[3])
        return {"x_hat": x_hat, "latents": rounded, "bpp": bpp}
