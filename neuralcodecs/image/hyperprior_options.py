"""The encode options of ``hyperprior`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ..codec import refinement_effort

#: latent-refinement steps per image (:mod:`neuralcodecs.image.hyperprior_refine`); a step costs
#: about 1.0 s for a 768x512 image on one core of this CPU, so ``medium`` is about 2 minutes there
EFFORT_STEPS = {"fast": 0, "medium": 100, "best": 400}
EFFORT_OPTION = refinement_effort(
    EFFORT_STEPS,
    "encoder effort: fast codes the analysis output; medium (~2 min per 768x512 image) and best (~7 min) "
    "refine the latents for the image by stochastic Gumbel annealing")
