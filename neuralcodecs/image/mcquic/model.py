"""The trainable McQuic model (Zhu et al., CVPR 2022): transforms, residual cascade, codebooks.

``g_a``: 3x3/2 conv -> residual -> residual/2 -> attention -> residual -> residual/2 -> residual
to ``y`` ``(B, C, H/8, W/8)``; ``g_s`` mirrors it with sub-pixel up-sampling.  The blocks are
CompressAI's (``ResidualBlock``, ``ResidualBlockWithStride`` with GDN,
``ResidualBlockUpsample`` with inverse GDN, Cheng et al.'s ``AttentionBlock``); the released
code uses pre-activation SiLU blocks with reflect padding -- a difference of detail.

The residual cascade over ``L`` levels (``x_0 = y``):

* encoder, level ``l``: ``z_l = stage_l(x_l)`` (stride 2), the quantizer codes
  ``quant_head_l(z_l)``, and ``x_{l+1} = latent_head_l(z_l) - q_l`` for the next level (the
  codewords, not the head output, are subtracted), so level ``l`` codes sit at ``H / (16 * 2**l)``;
* decoder, deepest level first: ``u_l = dequant_head_l(q_l) + side_head_l(r_{l+1})`` (no side
  term at the deepest level) and ``r_l = restore_head_l(u_l)`` (up x2); ``y_hat = r_0``.

One network serves a ladder of qualities: the quality picks the codebooks (``m`` groups, ``k_l``
codewords per level) and their priors; the transforms and heads are shared.  Pixels are in
[0, 1] outside, [-1, 1] inside (the released code's normalization).  ``H, W`` multiples of
``pad_multiple`` (``8 * 2**L``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from compressai.layers import (
    AttentionBlock,
    ResidualBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride,
    conv3x3,
    subpel_conv3x3,
)

from .quantizer import MultiCodebookQuantizer

REASSIGN_EVERY = 200  # default training steps between dead-codeword reassignments


def _analysis(C: int) -> nn.Sequential:
    return nn.Sequential(
        conv3x3(3, C, stride=2), ResidualBlock(C, C), ResidualBlockWithStride(C, C), AttentionBlock(C),
        ResidualBlock(C, C), ResidualBlockWithStride(C, C), ResidualBlock(C, C),
    )


def _synthesis(C: int) -> nn.Sequential:
    return nn.Sequential(
        ResidualBlock(C, C), ResidualBlockUpsample(C, C), AttentionBlock(C), ResidualBlock(C, C),
        ResidualBlockUpsample(C, C), ResidualBlock(C, C), subpel_conv3x3(C, 3, 2),
    )


class CascadeLevel(nn.Module):
    """The six networks of one level of the residual cascade (``last``: no latent/side heads)."""

    def __init__(self, C: int, last: bool):
        super().__init__()
        self.stage = nn.Sequential(ResidualBlockWithStride(C, C), ResidualBlock(C, C), AttentionBlock(C))
        self.quant_head = nn.Sequential(ResidualBlock(C, C), AttentionBlock(C), conv3x3(C, C))
        self.latent_head = None if last else nn.Sequential(ResidualBlock(C, C), AttentionBlock(C), conv3x3(C, C))
        self.dequant_head = nn.Sequential(AttentionBlock(C), conv3x3(C, C), ResidualBlock(C, C))
        self.side_head = None if last else nn.Sequential(AttentionBlock(C), conv3x3(C, C), ResidualBlock(C, C))
        self.restore_head = nn.Sequential(AttentionBlock(C), ResidualBlock(C, C), ResidualBlockUpsample(C, C))


class McQuicModel(nn.Module):
    """McQuic with a ladder of codebook sets.

    Args:
        channels: ``C``, the latent channels (divisible by every ``m`` of the ladder).
        ladder: per quality ``(m, (k_0, ..., k_{L-1}))``; every quality has the same ``L``.
        reassign_every: training steps between dead-codeword reassignments (0: never; the
            released code reassigns every 10 epochs).
        noise_anneal_steps: 0 keeps the paper's Gumbel sampling throughout training; ``S > 0``
            scales the Gumbel noise by ``(1 + cos(pi * min(1, step / S))) / 2``, so that after
            ``S`` steps training decodes the nearest codewords, as coding does.  The released
            code never anneals and relies on ~1000 epochs for the logits to sharpen; after 600
            CPU steps its first-level samples were the nearest codeword only 11-40% of the time
            (the inverse temperatures had not moved) and nearest-codeword PSNR fell as ``m``
            grew, so the ``cpu`` configuration anneals.
    """

    def __init__(self, channels: int = 128, ladder=((1, (1024, 256, 64)),), reassign_every: int = REASSIGN_EVERY,
                 noise_anneal_steps: int = 0):
        super().__init__()
        self.noise_anneal_steps = int(noise_anneal_steps)
        ladder = [(int(m), tuple(int(k) for k in ks)) for m, ks in ladder]
        if not ladder or len({len(ks) for _, ks in ladder}) != 1:
            raise ValueError("every quality of the ladder needs the same number of levels")
        self.channels, self.ladder, self.reassign_every = channels, ladder, int(reassign_every)
        self.num_levels = len(ladder)  # qualities (the training loop's "levels" of rate)
        self.depth = len(ladder[0][1])
        self.pad_multiple = 8 * 2**self.depth
        self.g_a, self.g_s = _analysis(channels), _synthesis(channels)
        self.levels = nn.ModuleList(CascadeLevel(channels, l == self.depth - 1) for l in range(self.depth))
        self.quantizers = nn.ModuleList(
            nn.ModuleList(MultiCodebookQuantizer(m, k, channels) for k in ks) for m, ks in ladder
        )
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    # ------------------------------------------------------------------ encoder side
    def _cascade(self, y: torch.Tensor, quality: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        quantized, codes = [], []
        x = y
        noise = self.gumbel_noise()
        for level, quantizer in zip(self.levels, self.quantizers[quality]):
            z = level.stage(x)
            q, c = quantizer(level.quant_head(z), noise)
            quantized.append(q)
            codes.append(c)
            if level.latent_head is not None:
                x = level.latent_head(z) - q.to(z.dtype)
        return quantized, codes

    def gumbel_noise(self) -> float:
        """The scale of the Gumbel noise at the current training step (see ``noise_anneal_steps``)."""
        if not self.noise_anneal_steps:
            return 1.0
        progress = min(1.0, int(self.steps) / self.noise_anneal_steps)
        return 0.5 * (1 + math.cos(math.pi * progress))

    def encode_codes(self, x: torch.Tensor, quality: int) -> list[torch.Tensor]:
        """Codes per level, ``(B, m, H/(16*2**l), W/(16*2**l))`` int64 (nearest codewords; eval mode)."""
        return self._cascade(self.g_a(x * 2 - 1), quality)[1]

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """``y`` ``(B, C, H/8, W/8)``: the cascade's input for pixels ``x`` in [0, 1]."""
        return self.g_a(x * 2 - 1)

    @torch.no_grad()
    def penalized_codes(self, y: torch.Tensor, quality: int, rate_weight: float,
                        bits: list[torch.Tensor]) -> list[torch.Tensor]:
        """Codes per level chosen by ``argmin ||h - c||^2 + rate_weight * s_l * bits_l[c]`` through the
        cascade (each level codes the residual its predecessors' choices leave).  ``bits`` per
        level ``(m, k_l)``: each codeword's code length under the file's prior; ``s_l``: the
        median nearest-codeword distance at level ``l``, so that ``rate_weight`` reads as the
        part of a typical quantization error one bit is worth.  ``rate_weight = 0``: the nearest
        codewords (:meth:`encode_codes`)."""
        codes = []
        x = y
        for level, quantizer, level_bits in zip(self.levels, self.quantizers[quality], bits):
            z = level.stage(x)
            h = level.quant_head(z)
            penalty = None
            if rate_weight:
                with torch.autocast(h.device.type, enabled=False):
                    scale = quantizer.distances(h).amin(-1).median()
                penalty = rate_weight * scale * level_bits
            c = quantizer.nearest(h, penalty)
            codes.append(c)
            if level.latent_head is not None:
                x = level.latent_head(z) - quantizer.lookup(c).to(z.dtype)
        return codes

    # ------------------------------------------------------------------ decoder side
    def dequantize(self, quantized: list[torch.Tensor]) -> torch.Tensor:
        """``y_hat`` ``(B, C, H/8, W/8)`` from the codewords of every level."""
        restored = None
        for level, q in reversed(list(zip(self.levels, quantized))):
            u = level.dequant_head(q)
            if level.side_head is not None:
                u = u + level.side_head(restored)
            restored = level.restore_head(u)
        return restored

    def codewords(self, codes: list[torch.Tensor], quality: int) -> list[torch.Tensor]:
        return [quantizer.lookup(c) for quantizer, c in zip(self.quantizers[quality], codes)]

    def decode_codes(self, codes: list[torch.Tensor], quality: int) -> torch.Tensor:
        """Pixels ``(B, 3, H, W)`` in [0, 1] (clamped) from the codes of every level."""
        y_hat = self.dequantize(self.codewords(codes, quality))
        return ((self.g_s(y_hat) + 1) / 2).clamp(0, 1)

    # ------------------------------------------------------------------ training
    def forward(self, x: torch.Tensor, quality: int) -> dict:
        """``x`` ``(B, 3, H, W)`` in [0, 1] -> ``x_hat`` (unclamped), ``codes``, ``bpp`` (prior estimate)."""
        quantized, codes = self._cascade(self.g_a(x * 2 - 1), quality)
        x_hat = (self.g_s(self.dequantize(quantized)) + 1) / 2
        if self.training:
            self.steps += 1
            if self.reassign_every and int(self.steps) % self.reassign_every == 0:
                for quantizer in self.quantizers[quality]:
                    quantizer.reassign_dead()
        return {"x_hat": x_hat, "codes": codes, "bpp": self.estimated_bits(codes, quality) / (x.shape[0] * x.shape[2] * x.shape[3])}

    @torch.no_grad()
    def estimated_bits(self, codes: list[torch.Tensor], quality: int) -> torch.Tensor:
        """``-sum(log2 p)`` of the codes under the current usage priors (a scalar tensor)."""
        total = torch.zeros((), device=codes[0].device)
        for quantizer, c in zip(self.quantizers[quality], codes):
            p = quantizer.usage / quantizer.usage.sum(1, keepdim=True)  # (m, k)
            picked = p[torch.arange(c.shape[1], device=c.device).reshape(1, -1, 1, 1), c]
            total = total - torch.log2(picked.clamp_min(2.0**-24)).sum()
        return total

    @torch.no_grad()
    def codebook_usage(self, threshold: float = 1e-6) -> list[list[float]]:
        """Per quality and level: the fraction of codewords whose normalized usage is at least ``threshold``."""
        return [[float((q.usage / q.usage.sum(1, keepdim=True) >= threshold).float().mean()) for q in row]
                for row in self.quantizers]
