"""Where the package keeps its data files (no heavy imports: ``ncodec info``/``list`` use it)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"
ASSETS_DIR = PACKAGE_DIR / "assets"
