"""What a command pays before it works: wall time and peak memory of imports and of one encode.

Runs each command ``--repeat`` times (median wall seconds, peak resident MiB by ``/usr/bin/time``)
with compressai imported as ``neuralcodecs.compressai_import`` arranges (its point-cloud datasets,
transforms and transform registry deferred) and, for comparison, eagerly as compressai itself does
(``NEURALCODECS_EAGER_COMPRESSAI=1``).  Run it alone: nothing else should use the CPU.

    python benchmarks/startup.py [--repeat 3]  ->  benchmarks/results/startup.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import RESULTS, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

KODIM23 = SHARED_DATA / "images" / "kodak" / "kodim23.png"


def commands(out: Path) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "python -c 'import torch'": [py, "-c", "import torch"],
        "python -c 'import neuralcodecs'": [py, "-c", "import neuralcodecs"],
        "python -c 'import neuralcodecs, compressai'": [py, "-c", "import neuralcodecs, compressai"],
        "ncodec encode kodim23.png": [py, "-m", "neuralcodecs.cli", "encode", str(KODIM23), "-o", str(out), "--force"],
        "ncodec encode notes.png (a text file)": [py, "-m", "neuralcodecs.cli", "encode", str(out.with_name("notes.png")),
                                                  "-o", str(out.with_name("x.ncb"))],
    }


def measure(command: list[str], eager: bool, repeat: int) -> dict:
    env = {**os.environ, "NEURALCODECS_EAGER_COMPRESSAI": "1" if eager else "0"}
    walls, peaks = [], []
    for _ in range(repeat):
        done = subprocess.run(["/usr/bin/time", "-f", "@@ %e %M", *command], capture_output=True, text=True, env=env)
        line = [x for x in done.stderr.splitlines() if x.startswith("@@")][-1]
        wall, peak = line.split()[1:3]
        walls.append(float(wall))
        peaks.append(int(peak) / 1024)
    return {"wall_s": statistics.median(walls), "peak_mib": max(peaks), "runs": walls}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "k23.ncb"
        out.with_name("notes.png").write_text("not an image\n")
        for name, command in commands(out).items():
            for eager in (True, False):
                if name == "python -c 'import torch'" and not eager:
                    continue
                row = {"command": name, "compressai": "eager" if eager else "deferred", **measure(command, eager, args.repeat)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "startup.json").write_text(json.dumps(rows, indent=2))
    lines = ["| command | compressai | wall s (median) | peak MiB |", "|---|---|---:|---:|"]
    lines += [f"| {r['command']} | {r['compressai']} | {r['wall_s']:.2f} | {r['peak_mib']:.0f} |" for r in rows]
    (RESULTS / "startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
