"""McQuic's multi-codebook quantizer (one level): ``m`` groups, each with its own codebook.

The input ``(B, C, h, w)`` is split into ``m`` groups of ``d = C / m`` channels (group ``g`` is
channels ``g*d .. (g+1)*d - 1``); each group vector is replaced by a codeword of its group's
codebook ``(k, d)``.  Training (Zhu et al. 2022): logits ``-||x - c||^2 / sqrt(k) * t_g`` with a
learnable per-group inverse temperature ``t_g >= 1e-6`` (initially 1), a hard Gumbel-softmax
sample (temperature 1) with a straight-through gradient gives the codeword, so the codebook
learns from the distortion alone (no commitment loss).  Coding and the usage statistics take
the nearest codeword.  ``forward(x, noise)`` scales the Gumbel noise: 1 is the paper's sampling,
0 picks the nearest codeword with the same softmax gradient (the ``cpu`` recipe anneals it,
:class:`~neuralcodecs.image.mcquic.model.McQuicModel`).  An exponential average of per-step usage (decay 0.9) is both the dead
codeword detector and, frozen, the static prior the file is coded with.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

DEAD_FREQUENCY = 1e-6  # usage below this (normalized average) marks a codeword dead
USAGE_DECAY = 0.9


def hard_gumbel_sample(logits: torch.Tensor, noise: float = 1.0) -> torch.Tensor:
    """One-hot ``argmax(logits + noise * g)`` (``g`` standard Gumbel) over the last axis, with the
    gradient of ``softmax(logits + noise * g)`` (straight-through; Gumbel temperature 1).
    ``noise = 1`` is ``F.gumbel_softmax(logits, hard=True)``."""
    if noise:
        u = torch.rand_like(logits).clamp(1e-10, 1 - 1e-7)
        logits = logits - noise * torch.log(-torch.log(u))
    soft = logits.softmax(-1)
    hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard - soft.detach() + soft


class MultiCodebookQuantizer(nn.Module):
    """Product quantization of ``channels`` into ``groups`` codebooks of ``codewords`` entries.

    Shapes: input ``(B, C, h, w)``; codes ``(B, m, h, w)`` int64; output ``(B, C, h, w)``.
    """

    def __init__(self, groups: int, codewords: int, channels: int):
        super().__init__()
        if channels % groups:
            raise ValueError(f"{channels} channels do not split into {groups} groups")
        self.groups, self.codewords, self.dim = groups, codewords, channels // groups
        self.codebook = nn.Parameter(torch.randn(groups, codewords, self.dim) * math.sqrt(2 / (5 * self.dim)))
        self.inverse_temperature = nn.Parameter(torch.ones(groups))
        self.register_buffer("usage", torch.full((groups, codewords), 1.0 / codewords))

    def _grouped(self, x: torch.Tensor) -> torch.Tensor:
        B, C, h, w = x.shape
        return x.float().reshape(B, self.groups, self.dim, h, w).permute(0, 1, 3, 4, 2)  # (B, m, h, w, d)

    def distances(self, x: torch.Tensor) -> torch.Tensor:
        """Squared L2 distances ``(B, m, h, w, k)`` of each group vector to its codewords (float32)."""
        xg = self._grouped(x)
        cb = self.codebook.float()
        cross = torch.einsum("bmhwd,mkd->bmhwk", xg, cb)
        return xg.pow(2).sum(-1, keepdim=True) + cb.pow(2).sum(-1)[None, :, None, None, :] - 2 * cross

    @torch.no_grad()
    def nearest(self, x: torch.Tensor, penalty: torch.Tensor | None = None) -> torch.Tensor:
        """Codes ``(B, m, h, w)``: the nearest codeword of each group (ties: the lowest index).

        ``penalty`` ``(m, k)`` (squared-distance units) is added to each codeword's distance:
        the entropy-constrained choice ``argmin ||x - c||^2 + penalty[c]`` of the encoder's
        index search (:mod:`neuralcodecs.image.mcquic.search`)."""
        with torch.autocast(x.device.type, enabled=False):
            distances = self.distances(x)
            if penalty is not None:
                distances = distances + penalty.to(distances)[None, :, None, None, :]
            return distances.argmin(-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Codewords of ``codes`` ``(B, m, h, w)`` as ``(B, C, h, w)``."""
        B, m, h, w = codes.shape
        groups = torch.arange(m, device=codes.device).reshape(1, m, 1, 1)
        picked = self.codebook[groups, codes]  # (B, m, h, w, d)
        return picked.permute(0, 1, 4, 2, 3).reshape(B, m * self.dim, h, w)

    def forward(self, x: torch.Tensor, noise: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(quantized (B, C, h, w), codes (B, m, h, w))``; while training, the codeword of
        ``argmax(logits + noise * Gumbel)`` with the straight-through softmax gradient."""
        if not self.training:
            codes = self.nearest(x)
            return self.lookup(codes).to(x.dtype), codes
        with torch.autocast(x.device.type, enabled=False):
            dist = self.distances(x)
            scale = self.inverse_temperature.clamp_min(1e-6)[None, :, None, None, None] / math.sqrt(self.codewords)
            logits = -dist * scale
            sample = hard_gumbel_sample(logits, noise)
            quantized = torch.einsum("bmhwk,mkd->bmhwd", sample, self.codebook.float())
            codes = logits.detach().argmax(-1)
            self._update_usage(codes)
        B, m, h, w, d = quantized.shape
        return quantized.permute(0, 1, 4, 2, 3).reshape(B, m * d, h, w), codes

    @torch.no_grad()
    def _update_usage(self, codes: torch.Tensor) -> None:
        counts = F.one_hot(codes.transpose(0, 1).reshape(self.groups, -1), self.codewords).sum(1).float()
        self.usage.mul_(USAGE_DECAY).add_(counts / counts.sum(1, keepdim=True), alpha=1 - USAGE_DECAY)

    @torch.no_grad()
    def reassign_dead(self, generator: torch.Generator | None = None) -> float:
        """Overwrite dead codewords with copies of random live ones (at most ``k/2`` per group).

        The released code's rule: a codeword whose normalized usage average is below
        ``DEAD_FREQUENCY`` is dead; if more than half are dead, a random half of them is left
        alone; each revived codeword becomes an exact copy of a distinct donor drawn from the
        most used ones.  Returns the fraction of codewords changed.
        """
        k = self.codewords
        changed = 0
        for g in range(self.groups):
            usage = self.usage[g] / self.usage[g].sum()
            dead = torch.nonzero(usage < DEAD_FREQUENCY).flatten()
            if dead.numel() == 0:
                continue
            if dead.numel() > k // 2:
                dead = dead[torch.randperm(dead.numel(), generator=generator)[: k // 2]]
            alive = torch.argsort(usage, descending=True)[: k - dead.numel()]
            donors = alive[torch.randperm(alive.numel(), generator=generator)[: dead.numel()]]
            self.codebook.data[g, dead] = self.codebook.data[g, donors]
            changed += dead.numel()
        return changed / (self.groups * k)

    def prior_weights(self, total: int = 2**24) -> torch.Tensor:
        """The static prior as integer weights ``(m, k)`` (int64, rows summing to about ``total``)."""
        usage = self.usage.double() / self.usage.double().sum(1, keepdim=True)
        return torch.round(usage * total).to(torch.int64)
