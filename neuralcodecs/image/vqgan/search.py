"""Encoder effort for ``vqgan``: a rate-distortion search over the code indices of one image.

``fast`` codes each position's nearest codeword to the encoder's features.  That choice is
blind to the two things the file is judged by: the picture the decoder makes of the whole
index map and the bits of each index under the static prior of codebook ``K``.  The search
picks, per position, the codeword that minimizes ``lambda * distortion + bits``, the
distortion measured through the decoder, in rounds:

1. candidates: each position's ``CANDIDATES`` next-nearest codewords to the encoder's features;
2. the positions are split into ``SPACING x SPACING`` interleaved lattices; one decode per
   lattice and candidate rank switches every position of that lattice to its candidate, and
   each position's change of squared error is read in its own neighbourhood (its ``f x f``
   pixel block and one block around it): positions of one lattice are ``SPACING`` blocks
   apart, so their neighbourhoods do not overlap;
3. each position takes the candidate of lowest ``lambda * delta distortion + delta bits``
   where that is negative; the whole new map is decoded, and kept if its true loss is lower
   (else the better-scoring half of the changes is tried, twice, before the search stops).

Measured changes are local, and the decoder's receptive field (and its attention) reach
further, which is why every round ends with the true loss of the whole map; a later round
starts from the new map.  ``lambda`` is the image's own trade-off on the codebook ladder
(:func:`~neuralcodecs.fitting.ladder_slope` between the neighbouring codebook sizes, each coded
as ``fast``).  The decoder and the format do not change.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ...entropy.coders import CategoricalCoder
from ...fitting import ladder_slope
from .model import VQGANModel

CANDIDATES = 2  # next-nearest codewords tried per position and round
SPACING = 3  # positions between two that change in the same decode (their 3x3-block neighbourhoods touch, never overlap)
BATCH = 4  # decodes at once
HALVINGS = 2  # retries with the better half of the changes when a round's map does not improve


def _pictures(model: VQGANModel, maps: torch.Tensor, codebook: torch.Tensor, K: int) -> torch.Tensor:
    """Decoded pictures ``(B, 3, H, W)`` of index maps ``(B, h, w)``, ``BATCH`` at a time."""
    with torch.no_grad():
        return torch.cat([model.decode_codewords(codebook[m].permute(0, 3, 1, 2), K).clamp(0, 1)
                          for m in maps.split(BATCH)])


def _block_errors(picture: torch.Tensor, x: torch.Tensor, f: int, size: tuple[int, int]) -> torch.Tensor:
    """Sum of squared errors (in 255 units) of each position's neighbourhood -- its ``f x f`` block
    and the 8 blocks around it -- within the true picture: ``(B, h, w)``."""
    h, w = size
    err = ((picture - x) * 255) ** 2
    err[..., h:, :] = 0
    err[..., :, w:] = 0
    blocks = F.avg_pool2d(err.sum(1, keepdim=True), f, f, divisor_override=1)  # (B, 1, h', w') per block
    return F.avg_pool2d(blocks, 3, 1, 1, divisor_override=1)[:, 0]


def _distortion(picture: torch.Tensor, x: torch.Tensor, size: tuple[int, int]) -> float:
    """``255**2 MSE`` of a decoded picture over the true picture ``size``."""
    h, w = size
    return float((((picture - x)[..., :h, :w] * 255) ** 2).mean())


def _loss(model, codebook, bits, indices, x, K, size, lam) -> tuple[float, torch.Tensor]:
    """``(lam * 255**2 MSE + bpp, decoded picture)`` of an index map ``(1, h, w)`` (``255**2 MSE``
    alone when ``lam`` is 0)."""
    picture = _pictures(model, indices, codebook, K)
    distortion = _distortion(picture, x, size)
    if lam == 0.0:
        return distortion, picture
    return lam * distortion + float(bits[indices].sum()) / (size[0] * size[1]), picture


@torch.no_grad()
def codebook_lambda(model: VQGANModel, x: torch.Tensor, K: int, priors: dict[int, np.ndarray], size: tuple[int, int]) -> float:
    """The image's trade-off at codebook ``K``: the ladder slope of ``(bpp, 255**2 MSE)`` between its
    neighbouring codebook sizes."""
    h, w = size
    ladder = model.ladder
    i = ladder.index(K)
    points = []
    for k in (ladder[max(0, i - 1)], ladder[min(len(ladder) - 1, i + 1)]):
        indices = model.encode_indices(x, k)
        rate = float(CategoricalCoder.symbol_bits(indices.cpu().numpy(), priors[k]).sum()) / (h * w)
        points.append((rate, _distortion(model.decode_indices(indices, k), x, size)))
    return ladder_slope(*points)


@torch.no_grad()
def search_indices(model: VQGANModel, x: torch.Tensor, K: int, priors: dict[int, np.ndarray], rounds: int,
                   size: tuple[int, int] | None = None) -> torch.Tensor:
    """Indices ``(1, h, w)`` int64 after up to ``rounds`` rounds of the search.

    ``x`` ``(1, 3, H, W)`` padded, in [0, 1]; ``priors[K]`` the integer table the file codes
    codebook ``K`` under; ``size`` ``(h, w)``: the distortion counts only the true picture.
    Never returns indices of a higher true loss than the nearest codewords'.
    """
    size = size or tuple(x.shape[2:])
    f = model.stride
    quantizer = model.quantizers[str(K)]
    codebook = quantizer.codebook.detach().float()
    bits = torch.from_numpy(CategoricalCoder.symbol_bits(np.arange(K), priors[K])).float().to(x.device)
    lam = codebook_lambda(model, x, K, priors, size)
    features = model.features(x, K).float()
    distances = torch.cdist(features[0].flatten(1).t(), codebook)  # (h*w, K)
    ranked = distances.argsort(1)[:, : CANDIDATES + 1].t().reshape(CANDIDATES + 1, *features.shape[2:])  # (C+1, h, w)
    indices = quantizer.nearest(features)  # fast's map (the ranking's first column up to float ties)
    current, picture = _loss(model, codebook, bits, indices, x, K, size, lam)
    h, w = indices.shape[1:]
    lattice = (torch.arange(h)[:, None] % SPACING) * SPACING + (torch.arange(w)[None] % SPACING)  # (h, w) lattice id
    for _ in range(rounds):
        base_error = _block_errors(picture, x, f, size)[0]
        best_delta = torch.zeros(h, w)
        best_choice = indices[0].clone()
        for rank in range(CANDIDATES + 1):
            candidate = ranked[rank]
            if bool((candidate == indices[0]).all()):  # the nearest codewords in the first round: nothing to try
                continue
            maps = torch.stack([torch.where((lattice == k) & (candidate != indices[0]), candidate, indices[0])
                                for k in range(SPACING * SPACING)])
            errors = _block_errors(_pictures(model, maps, codebook, K), x, f, size)  # (S*S, h, w)
            own = errors.gather(0, lattice[None])[0]  # each position's error in the decode that moved it
            delta_d = (own - base_error) / (3 * size[0] * size[1])  # its change of 255**2 MSE
            delta = (lam or 1.0) * delta_d + ((bits[candidate] - bits[indices[0]]) / (size[0] * size[1]) if lam else 0.0)
            better = (delta < best_delta) & (candidate != indices[0])
            best_delta = torch.where(better, delta, best_delta)
            best_choice = torch.where(better, candidate, best_choice)
        moved = best_delta < 0
        accepted = None
        for _ in range(HALVINGS + 1):
            if not bool(moved.any()):
                break
            proposal = torch.where(moved, best_choice, indices[0])[None]
            loss, proposal_picture = _loss(model, codebook, bits, proposal, x, K, size, lam)
            if loss < current:
                accepted = (loss, proposal, proposal_picture)
                break
            moved = moved & (best_delta <= best_delta[moved].median())  # the better-scoring half
        if accepted is None:
            break
        current, indices, picture = accepted
    return indices
