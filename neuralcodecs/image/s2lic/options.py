"""The encode options of ``s2lic`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ...codec import CodecOption

EFFORT_STEPS = {"fast": 0, "medium": 30, "best": 120}  # latent-refinement steps per image
EFFORT_OPTION = CodecOption(
    "effort", str, "fast",
    "encoder effort: fast codes the analysis output; medium/best refine the latents for the image (slower encode)",
    choices=tuple(EFFORT_STEPS),
    costs=tuple((effort, steps, "latent-refinement steps") for effort, steps in EFFORT_STEPS.items()),
)
