"""Paths shared by the benchmark scripts (run from anywhere: ``python benchmarks/X.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DEFAULT_KODAK = SHARED_DATA / "images" / "kodak"
RESULTS = ROOT / "benchmarks" / "results"
IMAGENETTE = SHARED_DATA / "images" / "imagenette"
MOBILENET = SHARED_DATA / "models" / "mobilenet_v2-b0353104.pth"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def kodak_files(folder: str | Path) -> list[Path]:
    """The 24 Kodak PNGs of ``folder``; exits with a message if they are not all there."""
    files = sorted(Path(folder).glob("kodim*.png"))
    if len(files) != 24:
        raise SystemExit(f"expected the 24 Kodak images kodim01..24.png in {folder}, found {len(files)}")
    return files


def imagenette_files(split: str, limit: int | None = None) -> list[Path]:
    """Imagenette ``split`` (``train`` or ``val``) images, sorted; ``limit``: an evenly spaced subset."""
    files = sorted(p for p in (IMAGENETTE / split).glob("*/*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    return files[:: max(1, len(files) // limit)][:limit] if limit else files


def run_in_checkout(tree: str | Path, module: str, call: str, threads: int = 1, env: dict | None = None):
    """``benchmarks/<module>.<call>`` evaluated in a fresh process that imports ``neuralcodecs``
    from the checkout ``tree`` (another commit's worktree, or this one), its result sent back as
    JSON; ``threads``: torch's intra-op threads there.  Exits with the process's stderr on failure."""
    import json
    import os
    import subprocess

    tree = str(tree)
    # the tree's neuralcodecs is imported first (the working directory leads sys.path), then the benchmark
    code = (f"import json, neuralcodecs, sys; assert neuralcodecs.__file__.startswith({tree!r}); "
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import torch; torch.set_num_threads({threads}); "
            f"import {module}; print('RESULT', json.dumps({module}.{call}))")
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), **(env or {})}
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, cwd=tree)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode or not lines:
        raise SystemExit(f"{module}.{call} in {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def write_result(out: Path, result: dict, markdown: str) -> None:
    """``out.json`` (the result) and ``out.md`` (its table), and the table on stdout."""
    import json

    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
