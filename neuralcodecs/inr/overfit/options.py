"""Quality and options of the ``overfit`` image codec (no torch here: the registry and the CLI read them).

Quality is a rate point: ``LAMBDAS[q - 1]`` weighs bits per pixel against the MSE (pixels in
[0, 1]) while fitting; ``effort`` sets the fitting steps.
"""

from __future__ import annotations

from ...codec import CodecOption, QualitySpec

LAMBDAS = (0.02, 0.008, 0.0032, 0.00128, 0.000512, 0.0002)  # quality 1..6
EFFORT_STEPS = {"fast": 1000, "medium": 3000, "best": 10000}
#: images smaller than this many pixels fit proportionally fewer steps (at least MIN_STEPS): a 1x1
#: image fitted the full 1,000 steps in 284 s, all of it per-step overhead
FULL_STEPS_PIXELS = 16_384
MIN_STEPS = 100
# the default is what the Kodak benchmark measures on this 2-core CPU (~5 min per Kodak image on one core)
EFFORT_OPTION = CodecOption("effort", str, "fast", "fitting steps per image: fast 1000 (default), medium 3000, best 10000 "
                            "(fewer below 128x128 pixels)",
                            choices=tuple(EFFORT_STEPS),
                            costs=tuple((effort, steps, "fitting steps") for effort, steps in EFFORT_STEPS.items()))


def fitting_steps(effort: str, pixels: int) -> int:
    """Fitting steps of an image of ``pixels`` pixels at ``effort``: the effort's steps from
    :data:`FULL_STEPS_PIXELS` up, proportionally fewer below (at least :data:`MIN_STEPS`)."""
    full = EFFORT_STEPS[effort]
    return max(min(full, MIN_STEPS), round(full * min(1.0, pixels / FULL_STEPS_PIXELS)))


QUALITY = QualitySpec.from_ladder(range(1, len(LAMBDAS) + 1), default=3, unit="rate point")
