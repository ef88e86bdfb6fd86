"""Encoder effort for ``walloc``: refine one image's 8-bit latents by stochastic Gumbel annealing.

WaLLoC's encoder is one linear map per quality, so its latents are far from the best ones the
trained decoder could turn into this image.  Starting from the companded encoder output ``u``
(``(1, C, h, w)``, continuous in (-127.5, 127.5)), Adam descends the image's own
``lambda * 255**2 * MSE + bpp`` through the frozen decoder, with ``u`` rounded by SGA
(:func:`~neuralcodecs.fitting.sga_round`) and clamped to the 8-bit range as the file does.

**Rate.** The file codes each value as the residual of the MED prediction from its causal
neighbours under a static per-channel table (:mod:`.prediction`; or the symbol itself under the
symbol table for weights without residual tables).  The rate term is the table's exact
``-log2 p`` of each value's residual, with the prediction taken from the neighbours' current
hard-rounded values (held fixed within a step): an SGA sample ``floor + w`` costs
``(1 - w) bits(floor) + w bits(floor + 1)``, the expected cost of the relaxed rounding
decision.  The hard-rounded loss that picks the state to code is the file's true cost.

**Lambda.** WaLLoC trains no rate term: its rate is set by the latent channel count of each
quality.  The trade-off the refinement uses is the image's own: the slope
``-delta bpp / delta (255**2 MSE)`` of its rate-distortion points at the neighbouring qualities of
the ladder (each encoded and decoded once, as ``fast`` would), so a quality spends bits on
distortion at the rate the ladder itself trades them there.

The decoder and the format do not change.  The loop is the fitting engine's refinement
(:func:`neuralcodecs.fitting.refine`).
"""

from __future__ import annotations

import numpy as np
import torch

from ...entropy.coders import CategoricalCoder
from ...fitting import frozen_parameters, ladder_slope, refine, sga_round
from .model import LATENT_MAX, SYMBOLS, WaLLoCModel
from .prediction import OUTSIDE, med

LEARNING_RATE = 0.5  # Adam on latents in integer units (range +-127); two BSDS 256 crops, 100 steps: 0.2 -13.3 %, 0.5 -13.6 %, 1.5 -11.7 % BD-rate


def bit_tables(tables: list[np.ndarray]) -> torch.Tensor:
    """``(C, 255)`` float32: the exact ``-log2 p`` of every symbol under each channel's coding table."""
    return torch.from_numpy(np.stack([CategoricalCoder.symbol_bits(np.arange(SYMBOLS), row) for row in tables])).float()


def _neighbours(symbols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left, above, above-left of every position of ``(1, C, h, w)`` (``OUTSIDE`` beyond the grid)."""
    padded = torch.nn.functional.pad(symbols, (1, 0, 1, 0), value=OUTSIDE)
    return padded[..., 1:, :-1], padded[..., :-1, 1:], padded[..., :-1, :-1]


def latent_bits(values: torch.Tensor, bits: torch.Tensor, predicted: bool, tau: float | None,
                generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rounded values (1, C, h, w), total bits)`` of continuous latents ``values``: hard-rounded
    (``tau=None``) or one SGA sample at ``tau``, clamped to [-127, 127]; ``bits`` ``(C, 255)``;
    ``predicted``: the file codes MED residuals (else the symbols)."""
    v = values.clamp(-LATENT_MAX, LATENT_MAX)
    hard = torch.round(v.detach())
    channel = torch.arange(bits.shape[0], device=v.device).reshape(1, -1, 1, 1)
    prediction = (med(*_neighbours(hard + LATENT_MAX)) if predicted else torch.zeros_like(hard))

    def cost(symbols: torch.Tensor) -> torch.Tensor:
        index = torch.remainder(symbols - prediction, SYMBOLS).to(torch.int64) if predicted else symbols.to(torch.int64)
        return bits[channel, index.clamp(0, SYMBOLS - 1)]

    if tau is None:
        return hard, cost(hard + LATENT_MAX).sum()
    sample = sga_round(v, tau, generator)
    floor = torch.floor(v.detach())
    up = sample - floor  # the relaxed weight of rounding up
    floor_symbols = floor + LATENT_MAX
    expected = (1 - up) * cost(floor_symbols) + up * cost((floor_symbols + 1).clamp(max=SYMBOLS - 1))
    return sample, expected.sum()


@torch.no_grad()
def ladder_lambda(model: WaLLoCModel, x: torch.Tensor, quality: int, tables: list[torch.Tensor], predicted: bool,
                  picture_size: tuple[int, int]) -> float:
    """The image's trade-off at ``quality`` (0-based): :func:`~neuralcodecs.fitting.ladder_slope` of
    ``(bpp, 255**2 MSE)`` at its neighbouring qualities on the ladder (one side at the ends)."""
    h, w = picture_size
    lo, hi = max(0, quality - 1), min(model.num_levels - 1, quality + 1)
    if lo == hi:
        return 0.0
    points = []
    for q in (lo, hi):
        y, bits = latent_bits(model.companded(x, q), tables[q], predicted, None, None)  # the fast encode and its bits
        x_hat = model.decode_latents(y, q)
        points.append((float(bits) / (h * w), 255**2 * float(torch.mean((x_hat[..., :h, :w] - x[..., :h, :w]) ** 2))))
    return ladder_slope(*points)


def refine_latents(model: WaLLoCModel, x: torch.Tensor, quality: int, steps: int, coding_tables: list[list[np.ndarray]],
                   predicted: bool, picture_size: tuple[int, int] | None = None, progress: bool = False,
                   seed: int = 0) -> torch.Tensor:
    """Integer latents ``(1, C, h, w)`` int64 in [-127, 127] after ``steps`` SGA steps.

    ``x`` ``(1, 3, H, W)`` padded, in [0, 1]; ``quality`` 0-based; ``coding_tables[q]``: the
    per-channel integer weights the file codes quality ``q`` under (residual tables when
    ``predicted``); ``picture_size`` ``(h, w)``: the distortion counts only the true picture.
    """
    h, w = picture_size or tuple(x.shape[2:])
    tables = [bit_tables(t).to(x.device) for t in coding_tables]
    with torch.no_grad():
        u0 = model.companded(x, quality)
    lam = ladder_lambda(model, x, quality, tables, predicted, (h, w))

    def loss(latents, tau, generator) -> torch.Tensor:
        y, bits = latent_bits(latents["u"], tables[quality], predicted, tau, generator)
        x_hat = model.reconstruct(y, quality)
        mse = torch.mean((x_hat[..., :h, :w] - x[..., :h, :w]) ** 2)
        if lam == 0.0:
            return 255**2 * mse
        return lam * 255**2 * mse + bits / (h * w)

    with frozen_parameters(model):
        latents = refine(loss, {"u": u0}, steps, LEARNING_RATE, seed=seed, progress=progress)
    return torch.round(latents["u"].clamp(-LATENT_MAX, LATENT_MAX)).to(torch.int64)
