"""The encode options of ``vqgan`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ...codec import refinement_effort

#: rounds of the rate-distortion index search per image (:mod:`neuralcodecs.image.vqgan.search`)
EFFORT_STEPS = {"fast": 0, "medium": 2, "best": 6}
EFFORT_OPTION = refinement_effort(
    EFFORT_STEPS,
    "encoder effort: fast codes the nearest codewords; medium/best search the indices for the lowest "
    "distortion plus lambda times bits through the decoder (slower encode)", unit="index-search rounds")
