"""Coding integer-lattice latents under Gaussians with fractional means.

Codecs that quantize a latent without subtracting its predicted mean (``y_hat = round(y)``,
STEM's frames) code ``y_hat`` under a discretized Gaussian ``N(mu, sigma)`` whose mean is not an
integer.  Rounding ``mu`` and using a zero-mean table wastes bits where ``sigma`` is small, so the
mean's fractional part selects one of ``FRACTIONS`` tables per scale:

* ``q = floor(mu * FRACTIONS + 1/2)``, ``base = floor(q / FRACTIONS)``, ``f = q - FRACTIONS * base``;
* the coded symbol is ``y_hat - base`` under table row ``k * FRACTIONS + f`` (``k`` the scale
  index of :mod:`neuralcodecs.entropy.gaussian`), the discretized ``N(f / FRACTIONS, sigma_k)``.

``mu`` is an exact dyadic float64 (:func:`~neuralcodecs.entropy.gaussian.gained_means`), so every
step above is exact and the decoder derives the same ``base`` and row.  The tables are built
once (at export, with CompressAI's CDF quantization) and stored in the weights file, as rows of
varying length (``lattice_table.cdf`` holds them end to end), so no float evaluation of a
Gaussian takes part in decoding.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .coders import CdfTable
from .gaussian import NUM_SCALES, scale_table

FRACTIONS = 4
TAIL_MASS = 1e-9
_FIELDS = ("cdf", "cdf_length", "offset")


def _gaussian_cdf(x: torch.Tensor, scale: float) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / (scale * math.sqrt(2)))


def _laplace_cdf(x: torch.Tensor, scale: float) -> torch.Tensor:
    return torch.where(x < 0, 0.5 * torch.exp(x / scale), 1 - 0.5 * torch.exp(-x / scale))


def build_table(fractions: int = FRACTIONS, distribution: str = "gaussian", max_half: int | None = None,
                equal_rows: bool = False) -> CdfTable:
    """The ``NUM_SCALES * fractions`` rows (CompressAI layout: last interval is the escape).

    ``distribution``: ``"gaussian"`` (scale = standard deviation) or ``"laplace"`` (scale = ``b``);
    ``max_half``: at most ``2 * max_half + 1`` symbols per row (values beyond take the escape);
    ``equal_rows``: every row spans ``-max_half..max_half`` (for :class:`~neuralcodecs.entropy.coders.RowCoder`).
    """
    from compressai.entropy_models import GaussianConditional

    helper = GaussianConditional(None)
    sigmas = scale_table()
    if distribution == "gaussian":
        cdf_of = _gaussian_cdf
        reach = -math.sqrt(2) * torch.special.erfinv(torch.tensor(2 * (TAIL_MASS / 2) - 1, dtype=torch.float64)).item()
    elif distribution == "laplace":
        cdf_of, reach = _laplace_cdf, math.log(1 / TAIL_MASS)
    else:
        raise ValueError(f"unknown distribution {distribution!r}")
    pmfs, lengths, offsets = [], [], []
    for sigma in sigmas:
        half = int(math.ceil(sigma * reach)) + 1
        if max_half is not None:
            half = max_half if equal_rows else min(half, max_half)
        for f in range(fractions):
            mu = f / fractions
            k = torch.arange(-half, half + 1, dtype=torch.float64)
            pmfs.append((cdf_of(k + 0.5 - mu, sigma) - cdf_of(k - 0.5 - mu, sigma)).float())
            lengths.append(len(k))
            offsets.append(-half)
    max_length = max(lengths)
    pmf = torch.zeros(len(pmfs), max_length)
    for i, p in enumerate(pmfs):
        pmf[i, : len(p)] = p
    length = torch.tensor(lengths, dtype=torch.int32)
    tail = (1 - pmf.double().sum(1)).clamp_min(0).float()[:, None]
    cdf = helper._pmf_to_cdf(pmf, tail, length, max_length)
    return CdfTable(cdf.to(torch.int32), (length + 2).to(torch.int32), torch.tensor(offsets, dtype=torch.int32))


def probability_rows(scales: list[float], half: int, fractions: int = FRACTIONS, weight_bits: int = 32) -> np.ndarray:
    """Rows of 24-bit probabilities (:class:`~neuralcodecs.entropy.coders.RowCoder`'s input) of the
    discretized ``Laplace(f / fractions, b)`` over the symbols ``-half..half`` plus the escape
    (the mass beyond), row ``k * fractions + f`` for scale ``b = scales[k]``.

    Each row's float64 masses become integer weights ``floor(p * 2**weight_bits)`` and then the
    format's integer table (:func:`~neuralcodecs.entropy.coders.integer_table`): every symbol keeps
    at least ``2**-24``, so a near-certain symbol under a small scale costs about ``n * 2**-24 / ln 2``
    bits (``n`` the row length) where 16-bit CDF rows charge ``n * 2**-16``.  Returns int64
    ``(len(scales) * fractions, 2 * half + 2)``.
    """
    from .coders import integer_table

    k = torch.arange(-half, half + 1, dtype=torch.float64)
    rows = []
    for b in scales:
        for f in range(fractions):
            mu = f / fractions
            pmf = _laplace_cdf(k + 0.5 - mu, b) - _laplace_cdf(k - 0.5 - mu, b)
            tail = (_laplace_cdf(k[:1] - 0.5 - mu, b) + 1 - _laplace_cdf(k[-1:] + 0.5 - mu, b)).clamp_min(0)
            rows.append(torch.cat([pmf.clamp_min(0), tail]))
    weights = torch.floor(torch.stack(rows) * 2.0**weight_bits).to(torch.int64).numpy()
    return integer_table(weights)


def table_state(table: CdfTable, prefix: str) -> dict[str, torch.Tensor]:
    """Rows end to end (``{prefix}.cdf`` 1-D) plus their lengths and offsets, for a weights file."""
    rows = [table.cdf[k, : int(n)] for k, n in enumerate(table.cdf_length)]
    return {f"{prefix}.cdf": torch.cat(rows).to(torch.int32), f"{prefix}.cdf_length": table.cdf_length.to(torch.int32),
            f"{prefix}.offset": table.offset.to(torch.int32)}


def table_from_state(tensors: dict, prefix: str, fractions: int = FRACTIONS) -> CdfTable:
    """Inverse of :func:`table_state`; ``ValueError`` for tensors that are not such a table."""
    flat, lengths, offset = (tensors[f"{prefix}.{f}"].to(torch.int64) for f in _FIELDS)
    if lengths.ndim != 1 or lengths.shape[0] != NUM_SCALES * fractions or offset.shape != lengths.shape:
        raise ValueError("lattice table has the wrong number of rows")
    if torch.any(lengths < 3) or int(lengths.sum()) != flat.numel():
        raise ValueError("lattice table lengths do not add up")
    cdf = torch.zeros(len(lengths), int(lengths.max()), dtype=torch.int32)
    start = 0
    for k, n in enumerate(lengths.tolist()):
        cdf[k, :n] = flat[start : start + n].to(torch.int32)
        start += n
    table = CdfTable(cdf, lengths.to(torch.int32), offset.to(torch.int32))
    table.validate()
    return table


def lattice_rows(means: torch.Tensor, indexes: torch.Tensor, fractions: int = FRACTIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(base, row)`` int64 of every element: the symbol is ``y_hat - base``, coded under ``row``.

    Args:
        means: float64 exact gained means; indexes: int64 scale indexes; same shape.
    """
    q = torch.floor(means * fractions + 0.5).to(torch.int64)
    base = torch.div(q, fractions, rounding_mode="floor")
    return base, indexes * fractions + (q - fractions * base)


def lattice_symbols(values: torch.Tensor, means: torch.Tensor, indexes: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Symbols and table rows (numpy int64) of lattice ``values`` under ``(means, indexes)``."""
    base, rows = lattice_rows(means, indexes)
    return (values - base).cpu().numpy(), rows.cpu().numpy()
