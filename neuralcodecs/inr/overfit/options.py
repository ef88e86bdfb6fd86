"""Quality and options of the ``overfit`` image codec (no torch here: the registry and the CLI read them).

Quality is a rate point: ``LAMBDAS[q - 1]`` weighs bits per pixel against the MSE (pixels in
[0, 1]) while fitting; ``effort`` sets the fitting time (as steps, calibrated on this CPU),
``steps`` overrides it, ``preset`` chooses the decoder's size (Cool-chic-style names).
"""

from __future__ import annotations

from ...codec import CodecOption, QualitySpec

LAMBDAS = (0.02, 0.008, 0.0032, 0.00128, 0.000512, 0.0002)  # quality 1..6

#: decoder presets by name, cheapest first (their widths: :data:`~neuralcodecs.inr.overfit.model.PRESETS`)
PRESET_NAMES = ("lop", "mop", "hop", "cpu", "paper")
DEFAULT_PRESET = "cpu"
#: minutes of fitting each effort aims at for one Kodak-size (768x512) image at one rate point on
#: one core of this CPU; the steps below are those minutes at the measured step time.  Not 2 for
#: fast: 2 minutes (371 steps) gave +341.7% BD-rate against WebP on the Kodak subset, against
#: +78.3% for 1,000 steps (results/overfit_kodak_2min.md, overfit_kodak.md)
EFFORT_MINUTES = {"fast": 5, "medium": 10, "best": 30}
#: ms per fitting step at 768x512 on one core, median of benchmarks/fit_step.py (results/fit_step.md)
STEP_MS = {"lop": 258.3, "mop": 254.1, "hop": 317.8, "cpu": 323.6, "paper": 459.3}
#: fitting steps of the default preset per effort (other presets: as many more as their cheaper steps allow)
EFFORT_STEPS = {effort: round(minutes * 60_000 / STEP_MS[DEFAULT_PRESET]) for effort, minutes in EFFORT_MINUTES.items()}
#: images smaller than this many pixels fit proportionally fewer steps (at least MIN_STEPS): a 1x1
#: image fitted the full 1,000 steps in 284 s, all of it per-step overhead
FULL_STEPS_PIXELS = 16_384
MIN_STEPS = 100
EFFORT_OPTION = CodecOption(
    "effort", str, "fast",
    "fitting time per Kodak-size image on one core: fast ~5 min (default), medium ~10, best ~30 "
    "(as steps of the chosen preset; fewer below 128x128 pixels)",
    choices=tuple(EFFORT_STEPS),
    costs=tuple((effort, minutes, "minutes per 768x512 image") for effort, minutes in EFFORT_MINUTES.items()))
STEPS_OPTION = CodecOption("steps", int, 0, "fitting steps, overriding --effort (0: the effort's)", minimum=0, maximum=1_000_000)
PRESET_OPTION = CodecOption(
    "preset", str, DEFAULT_PRESET,
    "decoder preset: lop ~370, mop ~630, hop ~1,220, cpu ~1,300 (default), paper ~2,180 multiply-accumulates per pixel",
    choices=PRESET_NAMES)


def fitting_steps(effort: str, pixels: int, preset: str = DEFAULT_PRESET) -> int:
    """Fitting steps of an image of ``pixels`` pixels at ``effort`` with ``preset``: the effort's
    steps (scaled by the preset's step time against the default's) from :data:`FULL_STEPS_PIXELS`
    up, proportionally fewer below (at least :data:`MIN_STEPS`)."""
    full = round(EFFORT_STEPS[effort] * STEP_MS[DEFAULT_PRESET] / STEP_MS[preset])
    return max(min(full, MIN_STEPS), round(full * min(1.0, pixels / FULL_STEPS_PIXELS)))


QUALITY = QualitySpec.from_ladder(range(1, len(LAMBDAS) + 1), default=3, unit="rate point")
