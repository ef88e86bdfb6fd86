"""Codebook usage of McQuic training runs: the fraction of codewords in use per quality and level.

Reads the raw (not weight-averaged) model state of each checkpoint and counts, per
(quality, level), the codewords whose normalized usage average is at least ``--threshold``
(McQuic's dead-codeword threshold is 1e-6; with usage decaying by 0.9 per step a codeword
unused for ~60 steps falls below it).  Compare a run with dead-codeword reassignment against
one trained with ``"reassign_every": 0`` at the same budget.

Usage: python benchmarks/codebook_usage.py --run NAME=CHECKPOINT [--run ...] [--threshold 1e-6] [--json OUT]
(writes OUT and the table beside it, OUT with .md)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import RESULTS  # noqa: E402

from neuralcodecs.image.mcquic.configs import model_args  # noqa: E402
from neuralcodecs.image.mcquic.model import McQuicModel  # noqa: E402
from neuralcodecs.train import load_checkpoint  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, metavar="NAME=CHECKPOINT")
    ap.add_argument("--threshold", type=float, default=1e-6)
    ap.add_argument("--json", default=str(RESULTS / "mcquic_codebook_usage.json"))
    args = ap.parse_args()
    runs = []
    for item in args.run:
        name, _, path = item.partition("=")
        ckpt = load_checkpoint(path)
        model = McQuicModel(**model_args(**ckpt["config"].get("model_args", {})))
        model.load_state_dict(ckpt["model"])
        usage = model.codebook_usage(args.threshold)
        runs.append({"name": name, "checkpoint": path, "step": int(ckpt["step"]), "hours": round(ckpt.get("train_seconds", 0) / 3600, 3),
                     "reassign_every": model.reassign_every, "ladder": model.ladder, "usage": usage})
    Path(args.json).write_text(json.dumps({"threshold": args.threshold, "runs": runs}, indent=1))
    lines = ["| run | reassignment every | steps | CPU-h | quality (m) | codewords in use per level |", "|---|---:|---:|---:|---|---|"]
    for r in runs:
        for q, ((m, ks), levels) in enumerate(zip(r["ladder"], r["usage"]), start=1):
            used = ", ".join(f"{100 * u:.0f}% of {k}" for u, k in zip(levels, ks))
            lines.append(f"| {r['name']} | {r['reassign_every'] or 'never'} | {r['step']} | {r['hours']} | {q} (m={m}) | {used} |")
    Path(args.json).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
