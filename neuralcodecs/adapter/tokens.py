"""The visual tokens that the compressed-domain adapter hands to a vision-language model."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class VisualTokens:
    """Visual tokens of a batch of images (or videos) after a token-budget strategy.

    Attributes:
        tokens: float ``(B, N, D)``; rows where ``mask`` is False are padding (zeros).
        mask: bool ``(B, N)``; True for a real token.  Samples may keep different counts
            (adaptive budgets); real tokens come first in each row.
        positions: long ``(B, N, 3)``: ``(t, y, x)`` of each token on the latent grid (frame
            index, row, column); merged tokens carry the position of their representative.
        grid: ``(T, h, w)``: the full latent grid the tokens were selected from (``T = 1`` for
            images).
        codec: the codec whose latents made the tokens (``"pixels"`` for the teacher's features).
        strategy: the token-budget strategy's name.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    grid: tuple[int, int, int]
    codec: str = ""
    strategy: str = "all"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        b, n, _ = self.tokens.shape
        if self.mask.shape != (b, n) or self.positions.shape != (b, n, 3):
            raise ValueError(f"tokens {tuple(self.tokens.shape)}, mask {tuple(self.mask.shape)} and positions "
                             f"{tuple(self.positions.shape)} disagree")

    @property
    def counts(self) -> list[int]:
        """Real tokens per sample."""
        return [int(c) for c in self.mask.sum(1)]

    def sample(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(tokens (n_i, D), positions (n_i, 3))`` of sample ``i`` without padding."""
        keep = self.mask[i]
        return self.tokens[i][keep], self.positions[i][keep]
