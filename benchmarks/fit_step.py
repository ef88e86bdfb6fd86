"""Milliseconds per fitting step, before and after, measured in the same run (issue 27).

* **overfit**: one fitting step of the overfitted image codec on a Kodak-size (768x512) picture
  that is not Kodak (a centre crop of the first Sun-Hays photo, resized if smaller), per decoder
  preset, on one thread (and the default on two), with the engine's allocator setting and
  without it (``NEURALCODECS_MALLOC=default``);
* **hnerv**: seconds per epoch (132 frames, batch 2: 66 steps) of HNeRV 0.3M on Big Buck Bunny
  at 320x180, one thread.

"before" runs the same measurement in a checkout of an earlier commit (``--before PATH``, a git
worktree; the default preset only: the older code has no presets).  Every variant runs in its own
process, rounds interleave the variants (so a slow minute of the machine hits all of them), and
the table gives the median of the rounds.  A fit of ``steps`` steps is timed whole (its final
true-loss evaluation included, about a forward pass: under 1% of 40 steps).

    python benchmarks/fit_step.py --before /tmp/before27        # ~6 min
    -> benchmarks/results/fit_step.{json,md}
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from common import RESULTS, ROOT, SHARED_DATA, run_in_checkout, write_result

SUN_HAYS = SHARED_DATA / "images" / "sun_hays80"


def kodak_size_picture():
    """``(1, 3, 512, 768)`` float in [0, 1]: a centre crop of the first Sun-Hays photo (never Kodak)."""
    import numpy as np
    import torch
    from PIL import Image

    image = Image.open(sorted(SUN_HAYS.glob("*.jpg"))[0]).convert("RGB")
    scale = max(768 / image.width, 512 / image.height, 1.0)
    if scale > 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    left, top = (image.width - 768) // 2, (image.height - 512) // 2
    pixels = np.array(image.crop((left, top, left + 768, top + 512)))
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div(255)


def overfit_worker(preset: str, steps: int) -> float:
    import torch

    from neuralcodecs.inr.overfit import model as overfit_model
    from neuralcodecs.inr.overfit.fitting import ImageFitConfig, fit_image

    image = kodak_size_picture()
    presets = getattr(overfit_model, "PRESETS", {"cpu": {}})
    cfg = overfit_model.OverfitConfig(**presets[preset])
    torch.manual_seed(0)
    model = overfit_model.OverfitModel(cfg, 512, 768)
    fit_image(model, image, ImageFitConfig(steps=3, eval_every=10**9))  # warm-up (allocations, kernels)
    model = overfit_model.OverfitModel(cfg, 512, 768)
    started = time.perf_counter()
    fit_image(model, image, ImageFitConfig(steps=steps, eval_every=10**9))
    return (time.perf_counter() - started) / steps * 1000


def hnerv_worker(steps: int) -> float:
    """Milliseconds per HNeRV step (one epoch is 66 of them); the final PSNR pass is not timed."""
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from inr_video import load_clip

    from neuralcodecs.inr import fitting
    from neuralcodecs.inr.hnerv import Hnerv, for_size, pad_frames
    from neuralcodecs.inr.hnerv_codec import FIT_BATCH, FIT_LR, FIT_WARMUP

    clip, _ = load_clip(None)
    frames = torch.from_numpy(clip).permute(0, 3, 1, 2).float().div(255)
    T, _, H, W = frames.shape
    cfg = for_size(H, W, T, 300_000)
    fitting.psnr_of = lambda *a, **k: 0.0  # not part of a step
    times = []
    for n in (2, steps):
        torch.manual_seed(0)
        model = Hnerv(cfg)
        inputs = pad_frames(frames, cfg.frame_size)
        started = time.perf_counter()
        fitting.fit(model, frames, fitting.FitConfig(steps=n, batch=FIT_BATCH, lr=FIT_LR, warmup=FIT_WARMUP, bf16=True),
                    inputs=inputs)
        times.append(time.perf_counter() - started)
    return times[-1] / steps * 1000


def run_variant(tree: Path, job: str, arg: str, threads: int, allocator: bool, steps: int) -> float:
    call = f"overfit_worker({arg!r}, {steps})" if job == "overfit" else f"hnerv_worker({steps})"
    return run_in_checkout(tree, "fit_step", call, threads, None if allocator else {"NEURALCODECS_MALLOC": "default"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="overfit steps timed per variant and round")
    parser.add_argument("--hnerv-steps", type=int, default=66, help="HNeRV steps timed (66 = one epoch)")
    parser.add_argument("--out", type=Path, default=RESULTS / "fit_step")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from neuralcodecs.inr.overfit.model import PRESETS, OverfitConfig, macs_per_pixel

    variants = []  # (label, tree, job, arg, threads, allocator)
    if args.before:
        variants += [("before, cpu preset, 1 thread", args.before, "overfit", "cpu", 1, True),
                     ("before, hnerv, 1 thread", args.before, "hnerv", "", 1, True)]
    variants += [(f"after, {p} preset, 1 thread", ROOT, "overfit", p, 1, True) for p in PRESETS]
    variants += [("after, cpu preset, 1 thread, glibc's default allocator", ROOT, "overfit", "cpu", 1, False),
                 ("after, cpu preset, 2 threads", ROOT, "overfit", "cpu", 2, True),
                 ("after, hnerv, 1 thread", ROOT, "hnerv", "", 1, True)]
    samples: dict[str, list[float]] = {v[0]: [] for v in variants}
    for r in range(args.rounds):
        for label, tree, job, arg, threads, allocator in variants:
            steps = args.steps if job == "overfit" else args.hnerv_steps
            samples[label].append(run_variant(tree, job, arg, threads, allocator, steps))
            print(f"round {r + 1}: {label}: {samples[label][-1]:.1f} ms/step", flush=True)
    rows = []
    for label, tree, job, arg, threads, allocator in variants:
        ms = statistics.median(samples[label])
        row = {"variant": label, "job": job, "ms_per_step": round(ms, 1), "samples": [round(s, 1) for s in samples[label]]}
        if job == "overfit":
            row["preset"] = arg
            row["macs_per_pixel"] = round(macs_per_pixel(OverfitConfig(**PRESETS[arg])))
        else:
            row["seconds_per_epoch"] = round(ms * 66 / 1000, 2)
        rows.append(row)
    result = {"meta": {"picture": "centre 768x512 of the first Sun-Hays photo", "rounds": args.rounds,
                       "overfit_steps": args.steps, "hnerv_steps": args.hnerv_steps, "before": str(args.before or ""),
                       "cpu": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}, "rows": rows}
    write_result(args.out, result, markdown(result))
    return 0


def markdown(result: dict) -> str:
    lines = ["| variant | MAC/px | ms per step (median) | rounds | s per epoch |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['variant']} | {r.get('macs_per_pixel', '')} | {r['ms_per_step']} | "
                     f"{', '.join(str(s) for s in r['samples'])} | {r.get('seconds_per_epoch', '')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
