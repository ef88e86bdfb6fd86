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
