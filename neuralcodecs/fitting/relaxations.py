"""Relaxed rounding for fitting integer latents: stochastic Gumbel annealing (SGA).

Yang, Bamler & Mandt, "Improving Inference for Neural Image Compression" (NeurIPS 2020): each
value ``x`` is rounded down or up at random, the direction drawn from a two-way Gumbel-softmax
whose logits are ``-atanh(d) / tau`` for the distances ``d`` to ``floor(x)`` and to
``floor(x) + 1``, at the same temperature ``tau``.  At high temperature the sample is a soft mix
of the two integers, so the gradient reaches ``x``; as ``tau`` falls the sample becomes the
nearer integer almost surely, which is what the file will hold.  Their schedule keeps
``tau = 0.5`` for the first 700 of 2,000 steps and then decays it as ``0.5 exp(-1e-3 (t - 700))``
(to 0.14); :func:`sga_temperature` takes the same shape over any number of steps.
"""

from __future__ import annotations

import math

import torch

EPSILON = 1e-5


def sga_round(x: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One SGA sample of ``x`` (any shape) at temperature ``tau``: ``floor(x) + w``, ``w`` in
    (0, 1) the relaxed one-hot weight of rounding up."""
    floor = torch.floor(x.detach())
    frac = x - floor  # in [0, 1); the gradient flows through it
    logits = torch.stack([-torch.atanh(frac.clamp(EPSILON, 1 - EPSILON)),
                          -torch.atanh((1 - frac).clamp(EPSILON, 1 - EPSILON))], -1) / tau
    uniform = torch.rand(logits.shape, generator=generator, device=x.device, dtype=x.dtype).clamp_(EPSILON, 1 - EPSILON)
    weights = torch.softmax((logits - torch.log(-torch.log(uniform))) / tau, -1)
    return floor + weights[..., 1]


def sga_temperature(step: int, steps: int, start: float = 0.5, hold: float = 0.35, decay: float = 1.3) -> float:
    """``start`` for the first ``hold`` of the steps, then ``start exp(-decay (t - t0) / (steps - t0))``:
    the paper's 700 / 2,000 steps and ``1e-3 * 1,300 = 1.3`` at any length."""
    t0 = hold * steps
    if step <= t0:
        return start
    return start * math.exp(-decay * (step - t0) / max(1.0, steps - t0))
