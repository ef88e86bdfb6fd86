"""Rate control on Kodak: ``--max-bytes`` at three budgets for all 24 images.

For each image and budget, rate control picks the highest hyperprior quality whose file
fits; the table reports how many fit, that none exceeds its budget, and how full the files
are (size / budget).  ``--target-bpp`` is checked too (distance of the achieved rate).

Usage: python benchmarks/max_bytes_sweep.py [--kodak DIR] [--budgets 20000 40000 80000]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from PIL import Image

from common import DEFAULT_KODAK, RESULTS, kodak_files  # noqa: E402  (also puts the repository on sys.path)

import neuralcodecs as nc  # noqa: E402
from neuralcodecs.errors import RateControlError  # noqa: E402
from neuralcodecs.ratecontrol import encode_to_budget  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--budgets", type=int, nargs="+", default=[20000, 40000, 80000])
    ap.add_argument("--target-bpp", type=float, nargs="+", default=[0.25, 0.75])
    args = ap.parse_args()
    codec = nc.load_codec("hyperprior")
    rows = []
    for path in kodak_files(args.kodak):
        pixels = np.asarray(Image.open(path).convert("RGB"))
        n = pixels.shape[0] * pixels.shape[1]
        for budget in args.budgets:
            try:
                r = encode_to_budget(codec, pixels, max_bytes=budget)
                rows.append({"image": path.name, "budget": budget, "bytes": r.size, "quality": r.quality, "trials": r.trials})
            except RateControlError as exc:
                rows.append({"image": path.name, "budget": budget, "bytes": None, "error": str(exc)})
        for target in args.target_bpp:
            r = encode_to_budget(codec, pixels, target_bpp=target)
            rows.append({"image": path.name, "target_bpp": target, "bpp": r.size * 8 / n, "quality": r.quality})
        print(path.name, file=sys.stderr)
    (RESULTS / "max_bytes_sweep.json").write_text(json.dumps(rows, indent=1))
    exceeded = 0
    print("| budget (bytes) | images that fit | exceeded | mean size / budget | min size / budget | mean trials |")
    print("|---:|---:|---:|---:|---:|---:|")
    for budget in args.budgets:
        r = [row for row in rows if row.get("budget") == budget]
        fit = [row for row in r if row["bytes"] is not None]
        over = sum(row["bytes"] > budget for row in fit)
        exceeded += over
        if not fit:  # every image refused with RateControlError (checked: nothing written)
            print(f"| {budget} | 0/{len(r)} | 0 | - | - | - |")
            continue
        fill = [row["bytes"] / budget for row in fit]
        print(f"| {budget} | {len(fit)}/{len(r)} | {over} | {np.mean(fill):.3f} | {np.min(fill):.3f} | "
              f"{np.mean([row['trials'] for row in fit]):.1f} |")
    for target in args.target_bpp:
        r = [row for row in rows if row.get("target_bpp") == target]
        err = [abs(row["bpp"] - target) for row in r]
        print(f"target {target} bpp: mean |achieved - target| {np.mean(err):.4f} bpp, max {np.max(err):.4f}")
    return 0 if exceeded == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
