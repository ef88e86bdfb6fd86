"""Where the package keeps its data files (no heavy imports: ``ncodec info``/``list`` use it)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"
ASSETS_DIR = PACKAGE_DIR / "assets"


def weights_candidates(file_name: str) -> list[Path]:
    """The shipped weights file ``file_name`` (in :data:`WEIGHTS_DIR`) first, then the retired ones
    (``<stem>-*.safetensors`` beside it, sorted), present or not for the first, present for the others.

    Retired files keep streams made with earlier weights decodable: a decoder picks the one whose
    fingerprint the stream (or, for ``stem``, its weights file) names.  :data:`WEIGHTS_DIR` is read
    at each call, so a test may point it elsewhere.
    """
    stem = Path(file_name).stem
    return [WEIGHTS_DIR / file_name, *sorted(WEIGHTS_DIR.glob(f"{stem}-*.safetensors"))]
