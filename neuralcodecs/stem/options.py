"""The encode options of ``stem`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ..codec import CodecOption, refinement_effort

INTRA_PERIOD_OPTION = CodecOption(
    "intra_period", int, 32, "frames per intra (I) frame; 0 = only the first frame", minimum=0, maximum=65535,
)

#: latent-refinement steps per I-frame (the hyperprior's, :mod:`neuralcodecs.image.hyperprior_refine`)
EFFORT_STEPS = {"fast": 0, "medium": 100, "best": 400}
EFFORT_OPTION = refinement_effort(
    EFFORT_STEPS,
    "encoder effort: fast codes the analysis output; medium/best refine each I-frame's latents for the frame by "
    "stochastic Gumbel annealing (P-frames are coded as before, given the refined I-frame)")
