"""Encoder effort for ``hyperprior``: refine one image's latents by stochastic Gumbel annealing.

Yang, Bamler & Mandt (NeurIPS 2020), "Improving Inference for Neural Image Compression": starting
from the analysis transforms' ``y = g_a(x) * gain`` and ``z = h_a(y)``, Adam descends the
image's own ``lambda * 255**2 * MSE + bits / pixel`` under the trained model, with both latents
rounded by SGA (:func:`~neuralcodecs.fitting.sga_round`: a random rounding direction whose
relaxation anneals towards the nearer integer) in place of the training's additive noise; ``y``
is rounded on the grid its means shift it to, as the file codes ``round(y - mean)``.  The
decoder and the format do not change: the refined ``y`` and ``round(z)`` are coded as usual, with
the exact integer hyper-synthesis of the file.

Cost per step: a forward and backward pass of the synthesis, the hyper transforms and both
entropy models at the image's size, about 1.0 s for a 768x512 image on one core of this CPU.  The loop is the fitting engine's refinement (:func:`neuralcodecs.fitting.refine`).
"""

from __future__ import annotations

import torch

from ..fitting import frozen_parameters, refine, sga_round
from .hyperprior import LOG_SCALE_CLAMP, Z_INPUT_BOUND, FrozenHyperprior
from .variable_rate import level_lambda

LEARNING_RATE = 2e-2  # Adam on latents of unit quantization steps; the paper took 5e-3 for 2,000 steps
LIKELIHOOD_FLOOR = 1e-9


def rate_distortion(model, y: torch.Tensor, z: torch.Tensor, x: torch.Tensor, gain: torch.Tensor, inv_gain: torch.Tensor,
                    lam: float, tau: float | None, picture_size: tuple[int, int], generator=None,
                    lattice: bool = False) -> dict:
    """``lambda * 255**2 * MSE + bpp`` of latents ``y`` (gained) and ``z`` under the float model,
    each rounded by SGA at temperature ``tau`` (``None``: hard rounding); ``y`` on the grid its
    means shift it to, or with ``lattice`` on the integers (``stem``'s I-frames code ``round(y)``)."""
    h, w = picture_size
    rounded = (lambda v: sga_round(v, tau, generator)) if tau is not None else torch.round
    z_hat = rounded(z)
    C = z_hat.shape[1]
    z_lik, _, _ = model.entropy_bottleneck._likelihood(z_hat.permute(1, 0, 2, 3).reshape(C, 1, -1))
    mean, log_scale = model.hyper_parameters(z_hat)
    means = mean * gain
    scales = torch.exp(log_scale.clamp(*LOG_SCALE_CLAMP)) * gain
    y_hat = rounded(y) if lattice else rounded(y - means) + means
    y_lik = model.gaussian_conditional._likelihood(y_hat, scales, means)
    bits = -(torch.log2(y_lik.clamp_min(LIKELIHOOD_FLOOR)).sum() + torch.log2(z_lik.clamp_min(LIKELIHOOD_FLOOR)).sum())
    x_hat = model.g_s(y_hat * inv_gain)  # fp32: bf16 autocast measured no faster here (1.02 vs 1.00 s per step)
    mse = torch.mean((x_hat[:, :, :h, :w] - x[:, :, :h, :w]) ** 2)
    bpp = bits / (h * w)
    return {"loss": lam * 255**2 * mse + bpp, "mse": mse, "bpp": bpp}


def refine_latents(frozen: FrozenHyperprior, x: torch.Tensor, quality_x256: int, steps: int,
                   picture_size: tuple[int, int] | None = None, progress: bool = False,
                   seed: int = 0, lattice: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y, z_int)`` after ``steps`` SGA steps; ``x`` ``(1, 3, H, W)`` padded, in [0, 1];
    ``picture_size`` ``(h, w)``: the distortion counts only the true picture, not the padding;
    ``lattice``: ``y`` is coded as ``round(y)`` (``stem``) rather than ``round(y - mean) + mean``.

    The latents kept are those with the lowest hard-rounded loss among the start and every quarter
    of the steps (:func:`~neuralcodecs.fitting.refine`), so refining never codes worse latents
    than the analysis transforms' by the float model's own measure.
    """
    model = frozen.model
    picture_size = picture_size or tuple(x.shape[2:])
    gain = frozen.gain_float(quality_x256).to(x.device)
    inv_gain = frozen.gains(quality_x256)[2].to(x.device).reshape(1, -1, 1, 1)
    lam = level_lambda(model.lambdas, quality_x256)
    with torch.no_grad():
        y0 = model.g_a(x) * gain
        z0 = model.h_a(y0)

    def loss(latents, tau, generator) -> torch.Tensor:
        return rate_distortion(model, latents["y"], latents["z"], x, gain, inv_gain, lam, tau, picture_size, generator,
                               lattice)["loss"]

    with frozen_parameters(model):
        latents = refine(loss, {"y": y0, "z": z0}, steps, LEARNING_RATE, seed=seed, progress=progress)
    z_int = torch.round(latents["z"]).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)
    return latents["y"], z_int
