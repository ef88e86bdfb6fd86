"""Encoder effort: refine one image's latents on its own rate-distortion loss before coding.

An amortized analysis transform -- the more so one trained for a few CPU-hours -- does not
find the best latents for each image.  Iterative inference (Campos et al. 2019; Yang et al.
2020, "Improving inference for neural image compression") recovers part of that gap at the
encoder only: starting from ``y = g_a(x) * gain`` and ``z = h_a(y)``, Adam descends
``lambda * 255**2 * MSE + bpp`` of the model with the relaxation the model was trained with
(additive noise for the rate terms, straight-through rounding for the reconstruction), with a
learning rate that decays to zero so that the last steps settle.  The decoder and the file
format do not change: the refined ``y`` and ``round(z)`` are coded as usual.

Cost: one forward and backward pass of the synthesis and the entropy model per step.  The loop
is the fitting engine's (:mod:`neuralcodecs.fitting`).
"""

from __future__ import annotations

import torch

from ...entropy.gaussian import GAIN_FRACTION_BITS
from ...entropy.slices import round_ste
from ...fitting import cosine, frozen_parameters, run_fit
from ..variable_rate import GainLadder, level_lambda
from .frozen import Z_INPUT_BOUND, FrozenLadder

LEARNING_RATE = 0.05  # on latents of unit-scale quantization steps


def refine_latents(frozen: FrozenLadder, x: torch.Tensor, quality_x256: int, steps: int,
                   picture_size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y, z_int)`` after ``steps`` refinement steps; ``x`` ``(1, 3, H, W)`` padded, in [0, 1].

    ``picture_size`` ``(h, w)``: the distortion counts only the true picture, not the padding.
    """
    model = frozen.model
    ladder: GainLadder = frozen.ladder
    gain_fixed, _, inv_gain = ladder.at(quality_x256)
    gain = (gain_fixed.double() / 2**GAIN_FRACTION_BITS).float().to(x.device).reshape(1, -1, 1, 1)
    inv_gain = inv_gain.to(x.device).reshape(1, -1, 1, 1)
    lam = level_lambda(model.lambdas, quality_x256)
    h, w = picture_size or x.shape[2:]
    with torch.no_grad():
        y0 = model.g_a(x) * gain
        z0 = model.h_a(y0)
    latents = torch.nn.ParameterDict({"y": torch.nn.Parameter(y0.clone()), "z": torch.nn.Parameter(z0.clone())})
    optimizer = torch.optim.Adam(latents.parameters(), lr=LEARNING_RATE)

    def step(k: int) -> torch.Tensor:
        y, z = latents["y"], latents["z"]
        _, z_lik = model.entropy_bottleneck(z)
        medians = model._z_medians()
        z_hat = round_ste(z - medians) + medians
        out = model.context_model(y, model.h_s(z_hat), gain, model.gaussian_conditional)
        x_hat = model.g_s(out["y_hat"] * inv_gain + out["residual"])
        bits = -(torch.log2(out["likelihoods"]).sum() + torch.log2(z_lik).sum())
        mse = torch.mean((x_hat[:, :, :h, :w] - x[:, :, :h, :w]) ** 2)
        return lam * 255**2 * mse + bits / (h * w)

    with frozen_parameters(model, "train"):  # train: the noise relaxation in the entropy models
        run_fit(step, latents, optimizer, steps, lambda k: [cosine(k / steps, LEARNING_RATE)])
    y, z = latents["y"], latents["z"]
    with torch.no_grad():
        return y.detach(), torch.round(z.detach()).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)
