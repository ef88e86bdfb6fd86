"""The encode options of ``s2lic`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ...codec import refinement_effort

#: latent-refinement steps per image (:mod:`neuralcodecs.image.s2lic.refine`)
EFFORT_STEPS = {"fast": 0, "medium": 30, "best": 120}
EFFORT_OPTION = refinement_effort(
    EFFORT_STEPS,
    "encoder effort: fast codes the analysis output; medium/best refine the latents for the image by "
    "stochastic Gumbel annealing (slower encode)")
