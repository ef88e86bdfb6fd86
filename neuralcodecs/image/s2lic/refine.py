"""Encoder effort for ``s2lic``: refine one image's latents by stochastic Gumbel annealing.

An amortized analysis transform -- the more so one trained for a few CPU-hours -- does not
find the best latents for each image.  Iterative inference (Yang, Bamler & Mandt, NeurIPS 2020,
"Improving Inference for Neural Image Compression") recovers part of that gap at the encoder
only: starting from ``y = g_a(x) * gain`` and ``z = h_a(y)``, Adam descends
``lambda * 255**2 * MSE + bpp`` of the frozen model with both latents rounded by SGA
(:func:`~neuralcodecs.fitting.sga_round`), ``y`` on the grid its context model's means shift it
to (what the file codes is ``round(y - mean)``), each value rounded once and its likelihood that
of the rounded value.  The decoder and the file format do not change: the refined ``y`` and
``round(z)`` are coded as usual.

Cost: one forward and backward pass of the synthesis and the entropy model per step.  The loop
is the fitting engine's refinement (:func:`neuralcodecs.fitting.refine`).
"""

from __future__ import annotations

import torch

from ...fitting import frozen_parameters, refine, sga_round
from ..variable_rate import level_lambda
from .frozen import Z_INPUT_BOUND, FrozenLadder

LEARNING_RATE = 5e-2  # Adam on latents of unit quantization steps; on two BSDS crops at 30 steps 2e-2 gave -6.4 %, 5e-2 -8.0 %, 1e-1 -4.5 % BD-rate
LIKELIHOOD_FLOOR = 1e-9


def refine_latents(frozen: FrozenLadder, x: torch.Tensor, quality_x256: int, steps: int,
                   picture_size: tuple[int, int] | None = None, progress: bool = False,
                   seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y, z_int)`` after ``steps`` refinement steps; ``x`` ``(1, 3, H, W)`` padded, in [0, 1].

    ``picture_size`` ``(h, w)``: the distortion counts only the true picture, not the padding.
    The latents kept are the best hard-rounded state (:func:`~neuralcodecs.fitting.refine`).
    """
    model = frozen.model
    gain = frozen.gain_float(quality_x256).to(x.device)
    inv_gain = frozen.ladder.at(quality_x256)[2].to(x.device).reshape(1, -1, 1, 1)
    lam = level_lambda(model.lambdas, quality_x256)
    h, w = picture_size or x.shape[2:]
    with torch.no_grad():
        y0 = model.g_a(x) * gain
        z0 = model.h_a(y0)

    def loss(latents, tau, generator) -> torch.Tensor:
        rounding = (lambda v: sga_round(v, tau, generator)) if tau is not None else torch.round
        z_hat = rounding(latents["z"])
        C = z_hat.shape[1]
        z_lik, _, _ = model.entropy_bottleneck._likelihood(z_hat.permute(1, 0, 2, 3).reshape(C, 1, -1))
        out = model.context_model(latents["y"], model.h_s(z_hat), gain, model.gaussian_conditional, rounding=rounding)
        x_hat = model.g_s(out["y_hat"] * inv_gain + out["residual"])
        bits = -(torch.log2(out["likelihoods"].clamp_min(LIKELIHOOD_FLOOR)).sum()
                 + torch.log2(z_lik.clamp_min(LIKELIHOOD_FLOOR)).sum())
        mse = torch.mean((x_hat[:, :, :h, :w] - x[:, :, :h, :w]) ** 2)
        return lam * 255**2 * mse + bits / (h * w)

    with frozen_parameters(model):
        latents = refine(loss, {"y": y0, "z": z0}, steps, LEARNING_RATE, seed=seed, progress=progress)
    return latents["y"], torch.round(latents["z"]).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)
