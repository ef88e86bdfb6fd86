"""What the demo codes: the bundled photo and a crop of it.

The photo is Kodak's ``kodim23`` (``neuralcodecs/assets``), the one picture the package bundles.
"""

from __future__ import annotations

import numpy as np

from ..paths import ASSETS_DIR

PHOTO = ASSETS_DIR / "kodim23.png"
#: left, top, right, bottom: the parrots' heads, 192x192; the tour's crop (the overfitted codec fits
#: a network to it, which is what sizes the tour's time)
CROP = (400, 96, 592, 288)
def photo() -> np.ndarray:
    """The bundled photo, uint8 ``(512, 768, 3)``."""
    from ..image.io import load_image

    pixels, _ = load_image(PHOTO)
    return pixels


def photo_crop(box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The crop ``box`` (left, top, right, bottom; default :data:`CROP`) of the photo, uint8 ``(H, W, 3)``, contiguous."""
    left, top, right, bottom = box or CROP
    return np.ascontiguousarray(photo()[top:bottom, left:right])
