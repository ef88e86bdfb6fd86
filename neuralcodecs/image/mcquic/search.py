"""Encoder effort for ``mcquic``: an entropy-constrained search over the codes of one image.

``fast`` codes, at every level of the cascade, each group vector's nearest codeword.  The
file pays each code under a static prior that training left far from uniform (on the shipped
model a codebook's codewords cost from 1-4 bits to 24 (the dead ones)), so the nearest codeword
can be a costly one when a cheap one is almost as near.  The search makes the classical
entropy-constrained choice (Chou, Lookabaugh & Gray 1989): each code minimizes
``||h - c||^2 + w * s_l * bits(c)`` (:meth:`~.model.McQuicModel.penalized_codes`), level after
level, so that a deeper level codes the residual the cheaper choice left.  The distortion of
that rule is measured in the quantizer's space, not through the decoder, so the weight ``w`` is
not derived but searched: each candidate ``w`` of a geometric grid is decoded and scored by the
true ``lambda * 255**2 MSE + bpp`` of the image, ``lambda`` the image's own slope on the
codebook-set ladder (:func:`~neuralcodecs.fitting.ladder_slope` between the neighbouring
qualities, each coded as ``fast``), and the best codes win; ``w = 0`` (``fast``'s codes) is
always among them, so the search never codes a worse trade-off than ``fast``.  The decoder and
the format do not change.  (A decoder-measured per-position search, as ``vqgan``'s, would need
``m`` groups x 3 levels x its lattice of decodes per round: hundreds of decodes per image.)
"""

from __future__ import annotations

import numpy as np
import torch

from ...entropy.coders import CategoricalCoder
from ...fitting import ladder_slope
from .model import McQuicModel

LIGHTEST, HEAVIEST = 2.0**-20, 2.0**-9  # the grid's rate weights (measured on BSDS500 crops: from no change to a ruined picture)


def weight_grid(candidates: int) -> list[float]:
    """``candidates`` rate weights, geometric from ``LIGHTEST`` to ``HEAVIEST`` (``0``, the nearest
    codewords, is added by the search).  On the shipped model's codebooks (64-dimensional at
    one group) the distances to all codewords are alike, so even 2**-7 of the median distance per
    bit sends every code to the cheapest codeword; up to 2**-15 the picture barely moves while
    the bits fall by a tenth."""
    if candidates <= 0:
        return []
    if candidates == 1:
        return [HEAVIEST]
    return [float(LIGHTEST * (HEAVIEST / LIGHTEST) ** (i / (candidates - 1))) for i in range(candidates)]


def code_bits(priors: list[list[np.ndarray]], quality: int) -> list[torch.Tensor]:
    """Per level, ``(m, k_l)`` float32: every codeword's code length (bits) under the file's prior."""
    return [torch.from_numpy(np.stack([CategoricalCoder.symbol_bits(np.arange(len(p)), p) for p in level])).float()
            for level in priors[quality]]


def _point(model: McQuicModel, codes: list[torch.Tensor], bits: list[torch.Tensor], quality: int,
           x: torch.Tensor, size: tuple[int, int]) -> tuple[float, float]:
    """``(bpp, 255**2 MSE)`` of codes: their ideal code length and their decoded true picture."""
    h, w = size
    total = sum(float(b[torch.arange(b.shape[0])[:, None, None], c[0].cpu()].sum()) for b, c in zip(bits, codes))
    picture = model.decode_codes(codes, quality)
    return total / (h * w), float((((picture - x)[..., :h, :w] * 255) ** 2).mean())


@torch.no_grad()
def quality_lambda(model: McQuicModel, y: torch.Tensor, x: torch.Tensor, quality: int,
                   priors: list[list[np.ndarray]], size: tuple[int, int]) -> float:
    """The image's trade-off at ``quality`` (0-based): the ladder slope of ``(bpp, 255**2 MSE)``
    between its neighbouring qualities, each coded with the nearest codewords."""
    points = []
    for q in (max(0, quality - 1), min(model.num_levels - 1, quality + 1)):
        bits = code_bits(priors, q)
        points.append(_point(model, model.penalized_codes(y, q, 0.0, bits), bits, q, x, size))
    return ladder_slope(*points)


@torch.no_grad()
def search_codes(model: McQuicModel, x: torch.Tensor, quality: int, priors: list[list[np.ndarray]],
                 candidates: int, size: tuple[int, int] | None = None) -> list[torch.Tensor]:
    """Codes per level (as :meth:`~.model.McQuicModel.encode_codes`) of the lowest true
    ``lambda * 255**2 MSE + bpp`` among the nearest codewords and ``candidates`` rate weights.

    ``x`` ``(1, 3, H, W)`` padded, in [0, 1]; ``quality`` 0-based; ``priors[quality]`` the
    integer tables the file codes with; ``size`` ``(h, w)``: the distortion counts only the
    true picture.  Where the ladder gives no trade-off (``lambda = 0``) the nearest codewords
    are returned.
    """
    size = size or tuple(x.shape[2:])
    y = model.analysis(x)
    bits = code_bits(priors, quality)
    best = model.penalized_codes(y, quality, 0.0, bits)
    lam = quality_lambda(model, y, x, quality, priors, size)
    if not lam:
        return best
    rate, distortion = _point(model, best, bits, quality, x, size)
    best_loss = lam * distortion + rate
    for weight in weight_grid(candidates):
        codes = model.penalized_codes(y, quality, weight, bits)
        rate, distortion = _point(model, codes, bits, quality, x, size)
        if lam * distortion + rate < best_loss:
            best, best_loss = codes, lam * distortion + rate
    return best
