"""Two runs of the overfitted codec on the same images and rate points: what one change buys.

Written for two stream revisions on the same fits (what a format change alone buys); with
``--labels`` it compares any two runs, for instance two fitting recipes at the same steps.

``overfit_kodak.py --fit-states DIR`` codes finished fits again without fitting, so a run under a
new revision measures the same fitted models as the run before it.  This script reads the two
runs' points (``OLD.points.jsonl``, ``NEW.points.jsonl``) and writes, per image and rate point,
the bytes, PSNR and parameter bytes of each, the BD-rate of the new revision against the old one
per image and over the subset, and the share of the files spent on the networks (parameters and
the integer ARM's section).

    python benchmarks/overfit_revisions.py \\
        --old benchmarks/results/overfit_kodak_medium_r3.points.jsonl \\
        --new benchmarks/results/overfit_kodak_medium.points.jsonl
    -> benchmarks/results/overfit_revisions.{json,md}

    python benchmarks/overfit_revisions.py --labels adam soap --title "Adam -> SOAP (same steps, revision 4)" \
        --old benchmarks/results/overfit_kodak_medium.points.jsonl \
        --new benchmarks/results/overfit_kodak_medium_soap.points.jsonl --out benchmarks/results/overfit_soap_kodak
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import RESULTS, write_result


def load(path: Path) -> dict[tuple[str, int], dict]:
    """The points of the latest revision in a points file (a run appends; points without a revision are 3)."""
    points = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    points = [p for p in points if p["codec"] == "overfit"]
    latest = max(p.get("revision", 3) for p in points)
    return {(p["image"], p["quality"]): p for p in points if p.get("revision", 3) == latest}


def network_share(p: dict) -> float:
    return (p["parameter_bytes"] + p["arm_bytes"]) / p["bytes"]


def main() -> int:
    from neuralcodecs.metrics import bd_rate

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=RESULTS / "overfit_revisions")
    ap.add_argument("--labels", nargs=2, default=None, help="names of the two runs (default: their revisions)")
    ap.add_argument("--title", default=None, help="the table's first line (default: the same fits as two revisions)")
    args = ap.parse_args()
    old, new = load(args.old), load(args.new)
    keys = sorted(set(old) & set(new))
    images = sorted(i for i in {i for i, _ in keys} if sum(k[0] == i for k in keys) >= 2)  # a BD-rate needs two points
    keys = [k for k in keys if k[0] in images]
    per_image = {}
    for image in images:
        mine = [k for k in keys if k[0] == image]
        per_image[image] = bd_rate([8 * old[k]["bytes"] for k in mine], [old[k]["psnr"] for k in mine],
                                   [8 * new[k]["bytes"] for k in mine], [new[k]["psnr"] for k in mine])
    rows = [{"image": i, "quality": q, "revisions": [old[(i, q)].get("revision", 3), new[(i, q)].get("revision", 3)],
             "bytes": [old[(i, q)]["bytes"], new[(i, q)]["bytes"]], "psnr": [old[(i, q)]["psnr"], new[(i, q)]["psnr"]],
             "parameter_bytes": [old[(i, q)]["parameter_bytes"], new[(i, q)]["parameter_bytes"]],
             "network_share": [network_share(old[(i, q)]), network_share(new[(i, q)])]} for i, q in keys]
    summary = {"points": len(keys), "images": images, "bd_rate_new_vs_old_percent": statistics.mean(per_image.values()),
               "bd_rate_per_image": per_image,
               "bytes": [sum(r["bytes"][0] for r in rows), sum(r["bytes"][1] for r in rows)],
               "mean_psnr_gain_db": statistics.mean(r["psnr"][1] - r["psnr"][0] for r in rows)}
    labels = args.labels or [f"r{rows[0]['revisions'][0]}", f"r{rows[0]['revisions'][1]}"]
    title = args.title or (f"The same {len(keys)} fits coded as revision {rows[0]['revisions'][0]} and as revision "
                           f"{rows[0]['revisions'][1]}")
    result = {"old": str(args.old), "new": str(args.new), "labels": labels, "title": title, "summary": summary, "rows": rows}
    write_result(args.out, result, markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    s = result["summary"]
    a, b = result.get("labels") or [f"r{r}" for r in result["rows"][0]["revisions"]]
    lines = [f"{result.get('title', '')} (`python benchmarks/overfit_revisions.py`)", "",
             f"| image | quality | bytes {a} -> {b} | PSNR {a} -> {b} (dB) | parameter bytes | network share |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['image']} | {r['quality']} | {r['bytes'][0]:,} -> {r['bytes'][1]:,} | "
                     f"{r['psnr'][0]:.2f} -> {r['psnr'][1]:.2f} | {r['parameter_bytes'][0]:,} -> {r['parameter_bytes'][1]:,} | "
                     f"{100 * r['network_share'][0]:.1f}% -> {100 * r['network_share'][1]:.1f}% |")
    lines += ["", "| image | " + " | ".join(s["images"]) + " | mean |", "|---|" + "---:|" * (len(s["images"]) + 1),
              f"| BD-rate {b} vs {a} | " + " | ".join(f"{v:+.1f}%" for v in s["bd_rate_per_image"].values())
              + f" | {s['bd_rate_new_vs_old_percent']:+.1f}% |", "",
              f"- all files: {s['bytes'][0]:,} -> {s['bytes'][1]:,} bytes; PSNR {s['mean_psnr_gain_db']:+.3f} dB on average"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
