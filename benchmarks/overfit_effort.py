"""The overfitted codec's effort levels side by side, from the runs of ``overfit_kodak.py``.

Reads ``benchmarks/results/overfit_kodak.json`` (effort ``fast``) and ``overfit_kodak_<effort>.json``
for the other levels, and sets, per effort, the encode minutes per image and rate point on this
CPU and the rate-distortion points of the images every level has (BD-rate against WebP's sweep
on the same image, from each run's own anchors).  The slow levels are measured on one image:

    python benchmarks/overfit_kodak.py --effort medium --images kodim23    # ~31 min on 2 cores
    python benchmarks/overfit_kodak.py --effort best --images kodim23      # ~105 min on 2 cores
    python benchmarks/overfit_effort.py

Writes ``benchmarks/results/overfit_effort.md``.
"""

from __future__ import annotations

import json

from common import RESULTS  # noqa: E402  (also puts the repository on sys.path)
from overfit_kodak import image_bd_rate, result_stem, run_steps

from neuralcodecs.inr.overfit.options import EFFORT_STEPS


def _run(effort: str) -> dict | None:
    path = RESULTS / f"{result_stem(effort)}.json"
    return json.loads(path.read_text()) if path.exists() else None


def markdown(runs: dict[str, dict]) -> str:
    common = sorted(set.intersection(*({p["image"] for p in r["points"]} for r in runs.values())))
    lines = [f"Effort levels on {', '.join(common)} (Kodak), measured on this CPU, one core per fit; "
             "`python benchmarks/overfit_effort.py`", "",
             "| effort | steps | fitted on | encode min per image and rate point | " + " | ".join(f"{i}: bpp / PSNR (dB)" for i in common)
             + " | " + " | ".join(f"{i}: BD-rate vs WebP" for i in common) + " |",
             "|---|---|---|---|" + "---|" * (2 * len(common))]
    for effort, run in runs.items():
        points = [p for p in run["points"] if p["image"] in common]
        minutes = sum(p["encode_minutes"] for p in points) / len(points)
        curves = [", ".join(f"{p['bpp']:.3f} / {p['psnr']:.2f}" for p in sorted(points, key=lambda p: p["quality"])
                            if p["image"] == i) for i in common]
        bds = [image_bd_rate(points, run["reference"], i) for i in common]
        devices = ", ".join(sorted({p.get("encoded_on", "this CPU") for p in points}))
        steps = run_steps(run["summary"])
        lines.append(f"| {effort} | {steps} | {devices} | {minutes:.1f} | " + " | ".join(curves) + " | "
                     + " | ".join("no overlap" if v is None else f"{v:+.1f}%" for v in bds) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    runs = {e: r for e in EFFORT_STEPS if (r := _run(e)) is not None}
    text = markdown(runs)
    (RESULTS / "overfit_effort.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
