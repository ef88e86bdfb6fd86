"""The overfitted codec's fitting recipe, element by element, at equal steps on non-Kodak images.

Each variant fits the same BSDS500 test photos (481x321 / 321x481, never Kodak) at one rate point
(lambda of quality 3) for the same number of steps, and reports the true loss
``J = MSE + lambda * bits / pixel`` (rounded latents, 8-bit pixels, the float ARM's rate), PSNR,
bits per pixel and fitting seconds.  A variant helps where its mean J is lower than the
default's (``dJ`` < 0).  Variants:

* ``before``: the step of an earlier commit (``--before PATH``: float32 ARM, one ARM call per grid);
* ``default``: today's step (ARM under bf16 autocast over every grid at once) and recipe;
* recipe elements on top of the default: gradient clipping of the networks (Cool-chic), a warm-up
  of 3 initialisations (Cool-chic 5), a final phase at a tenth of today's learning rate
  (Cool-chic's last phase runs at 1e-4), and clipping with the warm-up together;
* the decoder presets ``lop`` / ``mop`` / ``hop`` at the same steps.

Each fit runs in its own process, ``--jobs`` at a time (2 on this CPU: seconds are then those of
two fits sharing it).

    python benchmarks/fit_recipe.py --before /tmp/before27          # ~35 min with 2 jobs
    python benchmarks/fit_recipe.py --before /tmp/before27 --reuse  # only the fits not yet in the results
    -> benchmarks/results/fit_recipe.{json,md}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import RESULTS, ROOT, SHARED_DATA, run_in_checkout, write_result

BSDS_TEST = SHARED_DATA / "images" / "bsds500"

#: name -> (preset, ImageFitConfig overrides); "before" runs in the --before tree with its defaults.
#: The first ablation (results/fit_recipe.md) ran when Adam was the default; the second
#: (results/fit_recipe_cc5.md, ``--baseline adam``) tried Cool-chic 5's recipe element by element
#: (Orange-OpenSource/Cool-Chic, coolchic/training/presets.py, PresetIntra) on top of Adam.
VARIANTS = {
    "default": ("cpu", {}),
    "adam": ("cpu", {"optimizer": "adam"}),
    "clip 0.1": ("cpu", {"optimizer": "adam", "clip": 0.1}),
    "warm-up 3 x 50": ("cpu", {"optimizer": "adam", "candidates": 3, "candidate_steps": 50}),
    "final lr x0.01": ("cpu", {"optimizer": "adam", "final_lr_factor": 0.01}),
    "clip 0.1 + warm-up 3 x 50": ("cpu", {"optimizer": "adam", "clip": 0.1, "candidates": 3, "candidate_steps": 50}),
    "preset lop": ("lop", {"optimizer": "adam"}),
    "preset mop": ("mop", {"optimizer": "adam"}),
    "preset hop": ("hop", {"optimizer": "adam"}),
    "cc5 schedule": ("cpu", {"optimizer": "adam", "noise_kind": "gaussian", "temperature": (0.35, 0.08), "noise": (0.22, 0.15)}),
    "hard final phase": ("cpu", {"optimizer": "adam", "final_phase": "hard", "final_lr": 1e-4}),
    "soap": ("cpu", {"optimizer": "soap"}),
    "cc5 recipe": ("cpu", {"noise_kind": "gaussian", "temperature": (0.35, 0.08), "noise": (0.22, 0.15),
                           "final_phase": "hard", "final_lr": 1e-4, "optimizer": "soap", "clip": 0.1}),
}


def test_images(count: int) -> list[Path]:
    files = sorted(p for p in BSDS_TEST.rglob("*.jpg") if "test" in p.parts)
    return files[:count]


def worker(path: str, preset: str, overrides: dict, steps: int, lam: float) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from neuralcodecs.inr.overfit import model as overfit_model
    from neuralcodecs.inr.overfit.fitting import ImageFitConfig, fit_image

    torch.set_num_threads(1)
    pixels = np.array(Image.open(path).convert("RGB"))
    image = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div(255)
    presets = getattr(overfit_model, "PRESETS", {"cpu": {}})
    cfg = overfit_model.OverfitConfig(**presets[preset])
    torch.manual_seed(0)
    model = overfit_model.OverfitModel(cfg, *pixels.shape[:2])
    report = fit_image(model, image, ImageFitConfig(steps=steps, lam=lam, **overrides))
    return {k: report[k] for k in ("seconds", "psnr", "bpp", "loss")}


def run_one(tree: Path, path: Path, preset: str, overrides: dict, steps: int, lam: float) -> dict:
    return run_in_checkout(tree, "fit_recipe", f"worker({str(path)!r}, {preset!r}, {overrides!r}, {steps}, {lam})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--images", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=RESULTS / "fit_recipe")
    parser.add_argument("--reuse", action="store_true", help="keep the fits already in OUT.json (same steps), run the rest")
    parser.add_argument("--baseline", default="default", help="the variant every dJ is measured against")
    parser.add_argument("--no-fit", action="store_true", help="with --reuse: summarize the kept fits, run none")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from neuralcodecs.inr.overfit.options import LAMBDAS

    lam = LAMBDAS[2]
    images = test_images(args.images)
    jobs = [(v, ROOT, *VARIANTS[v]) for v in args.variants]
    if args.before:
        jobs.insert(0, ("before", args.before, "cpu", {}))
    tasks = [(name, tree, preset, overrides, image) for name, tree, preset, overrides in jobs for image in images]
    kept = []
    if args.reuse and args.out.with_suffix(".json").exists():
        old = json.loads(args.out.with_suffix(".json").read_text())
        if old["meta"]["steps"] == args.steps and old["meta"]["lambda"] == lam:
            kept = [r for r in old["rows"] if r["variant"] in {j[0] for j in jobs}]
    done = {(r["variant"], r["image"]) for r in kept}
    tasks = [] if args.no_fit else [t for t in tasks if (t[0], t[4].name) not in done]

    def run(task):
        name, tree, preset, overrides, image = task
        result = run_one(tree, image, preset, overrides, args.steps, lam)
        print(f"{name} {image.name}: {result}", flush=True)
        return {"variant": name, "image": image.name, **result}

    with ThreadPoolExecutor(args.jobs) as pool:
        rows = kept + list(pool.map(run, tasks))
    default = {r["image"]: r["loss"] for r in rows if r["variant"] == args.baseline}
    summary = []
    for name, *_ in jobs:
        mine = [r for r in rows if r["variant"] == name]
        if not mine:
            continue
        entry = {"variant": name, "images": len(mine), "psnr": statistics.mean(r["psnr"] for r in mine), "bpp": statistics.mean(r["bpp"] for r in mine),
                 "loss": statistics.mean(r["loss"] for r in mine), "seconds": statistics.mean(r["seconds"] for r in mine)}
        if default:
            per_image = {r["image"]: 100 * (r["loss"] / default[r["image"]] - 1) for r in sorted(mine, key=lambda r: r["image"])}
            entry["dJ_percent"] = statistics.mean(per_image.values())
            entry["dJ_percent_per_image"] = per_image
        summary.append(entry)
    result = {"meta": {"images": [p.name for p in images], "steps": args.steps, "lambda": lam, "jobs": args.jobs,
                       "baseline": args.baseline,
                       "before": str(args.before or ""), "date": time.strftime("%Y-%m-%d")}, "rows": rows, "summary": summary}
    write_result(args.out, result, markdown(result))
    return 0


def markdown(result: dict) -> str:
    meta = result["meta"]
    lines = [f"{len(meta['images'])} BSDS500 test photos, {meta['steps']} steps, lambda {meta['lambda']}, "
             f"{meta['jobs']} fits at once (seconds are of shared cores)", "",
             f"| variant | images | mean J | dJ vs {meta.get('baseline', 'default')} | dJ per image | PSNR (dB) | bpp | fit s |",
             "|---|---|---|---|---|---|---|---|"]
    for s in result["summary"]:
        each = ", ".join(f"{Path(k).stem} {v:+.1f}%" for k, v in s.get("dJ_percent_per_image", {}).items())
        lines.append(f"| {s['variant']} | {s['images']} | {s['loss']:.5f} | {s.get('dJ_percent', 0):+.1f}% | {each} | {s['psnr']:.2f} | "
                     f"{s['bpp']:.3f} | {s['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
