"""The encode options of ``walloc`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ...codec import refinement_effort

#: latent-refinement steps per image (:mod:`neuralcodecs.image.walloc.refine`)
EFFORT_STEPS = {"fast": 0, "medium": 100, "best": 400}
EFFORT_OPTION = refinement_effort(
    EFFORT_STEPS,
    "encoder effort: fast codes the linear encoder's output; medium/best refine the 8-bit latents for the "
    "image by stochastic Gumbel annealing (slower encode)")
