"""The encode options of ``mcquic`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ...codec import refinement_effort

#: rate weights tried by the entropy-constrained code search per image (:mod:`neuralcodecs.image.mcquic.search`)
EFFORT_STEPS = {"fast": 0, "medium": 12, "best": 23}
EFFORT_OPTION = refinement_effort(
    EFFORT_STEPS,
    "encoder effort: fast codes the nearest codewords; medium/best choose each code by distance plus "
    "a rate weight times its bits, the weight searched for the image's lowest distortion plus lambda "
    "times bits (slower encode)", unit="rate weights tried")
