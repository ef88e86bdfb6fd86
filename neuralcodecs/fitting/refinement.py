"""Encoder-side latent refinement: the loop every trained codec's ``--effort medium|best`` runs.

A trained codec's analysis transform is amortized: it gives good latents on average, not the best
latents for the one image at hand.  Iterative inference (Campos et al. 2019; Yang, Bamler &
Mandt, NeurIPS 2020, "Improving Inference for Neural Image Compression") searches them per image
at the encoder only: Adam descends the image's own rate-distortion loss under the frozen model,
with the latents rounded by stochastic Gumbel annealing (:func:`~.relaxations.sga_round`) so that
the relaxation ends at the hard rounding the file will hold.  The decoder and the format do not
change.

:func:`refine` owns what every codec shares -- the parameters, Adam, a cosine learning rate to a
tenth, the SGA temperature schedule, the seeded generator, the best hard-rounded state (measured
at the start and every ``steps / evaluations`` steps) -- on the fitting engine
(:func:`~.engine.run_fit`).  The codec supplies its loss: ``loss(latents, tau, generator)`` with
``tau = None`` for hard rounding (what the file will cost and show).
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

from .engine import run_fit
from .relaxations import sga_temperature
from .schedules import cosine

#: ``loss(latents, tau, generator)``: the rate-distortion loss of the named latent tensors,
#: rounded by SGA at temperature ``tau`` drawing from ``generator``, or hard-rounded (``tau=None``)
RefinementLoss = Callable[[Mapping[str, torch.Tensor], "float | None", "torch.Generator | None"], torch.Tensor]


def ladder_slope(low: tuple[float, float], high: tuple[float, float]) -> float:
    """The rate-distortion trade-off of a codec trained without one (its rate set by a ladder of
    channel counts or codebook sizes): ``-delta bpp / delta distortion`` between the image's
    points ``(bpp, distortion)`` at two rungs of the ladder, ``low`` below ``high``; ``0``
    (distortion only) where the ladder does not trade bits for distortion on this image."""
    (rate_lo, d_lo), (rate_hi, d_hi) = low, high
    if not (rate_hi > rate_lo and d_lo > d_hi):
        return 0.0
    return (rate_hi - rate_lo) / (d_lo - d_hi)


def refine(loss: RefinementLoss, start: Mapping[str, torch.Tensor], steps: int, learning_rate: float, *,
           evaluations: int = 4, seed: int = 0, progress: bool = False,
           desc: str = "refining latents") -> dict[str, torch.Tensor]:
    """The latents after ``steps`` Adam steps on ``loss`` from ``start`` (a name -> tensor map).

    The learning rate follows a cosine from ``learning_rate`` to a tenth of it; the SGA
    temperature :func:`~.relaxations.sga_temperature`.  Returned: the state with the lowest
    hard-rounded loss among ``start`` and the states measured every ``steps / evaluations``
    steps and at the last, so that refining never codes latents worse than ``start`` by the
    model's own measure.  The caller freezes the model's weights
    (:func:`~.engine.frozen_parameters`).
    """
    start = {name: t.detach().clone() for name, t in start.items()}
    latents = torch.nn.ParameterDict({name: torch.nn.Parameter(t.clone()) for name, t in start.items()})
    if steps <= 0:
        return start
    device = next(iter(start.values())).device
    optimizer = torch.optim.Adam(latents.parameters(), lr=learning_rate)
    generator = torch.Generator(device=device).manual_seed(seed)

    def step(k: int) -> torch.Tensor:
        return loss(latents, sga_temperature(k, steps), generator)

    def hard_loss() -> float:
        with torch.no_grad():
            return float(loss(latents, None, None))

    start_loss = hard_loss()
    outcome = run_fit(step, latents, optimizer, steps, lambda k: [cosine(k / steps, learning_rate, 0.1 * learning_rate)],
                      generator=generator, evaluate=hard_loss, eval_every=max(1, steps // max(1, evaluations)),
                      progress=progress, desc=desc)
    if not outcome.best_loss < start_loss:
        return start
    return {name: p.detach().clone() for name, p in latents.items()}
