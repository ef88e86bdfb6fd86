"""What the demo codes: the bundled photo, a crop of it, and a short clip made from it.

The photo is Kodak's ``kodim23`` (``neuralcodecs/assets``), the one picture the package bundles.
No video is bundled: the clip is a camera pan over the photo, made at run time (the HEVC test
sequences in the project's data folder are for research use and are not redistributed).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from PIL import Image

from ..paths import ASSETS_DIR

PHOTO = ASSETS_DIR / "kodim23.png"
#: left, top, right, bottom: the parrots' heads, 192x192; the tour's crop (the overfitted codec fits
#: a network to it, which is what sizes the tour's time)
CROP = (400, 96, 592, 288)
#: the clip: frames, height x width, frame rate; the camera's first and last view of the photo at
#: half size (centre x, centre y, width): a slow pan that zooms in on the parrots' heads, so that
#: the motion is sub-pixel and not a pure translation (block motion compensation would find an
#: integer shift of a still picture exactly)
CLIP_FRAMES = 40
CLIP_SIZE = (96, 160)
CLIP_FPS = Fraction(12)
CLIP_VIEWS = ((170.0, 100.0, 160.0), (250.0, 96.0, 128.0))


def photo() -> np.ndarray:
    """The bundled photo, uint8 ``(512, 768, 3)``."""
    from ..image.io import load_image

    pixels, _ = load_image(PHOTO)
    return pixels


def photo_crop(box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The crop ``box`` (left, top, right, bottom; default :data:`CROP`) of the photo, uint8 ``(H, W, 3)``, contiguous."""
    left, top, right, bottom = box or CROP
    return np.ascontiguousarray(photo()[top:bottom, left:right])


def camera_clip(frames: int | None = None, size: tuple[int, int] | None = None, views=None) -> np.ndarray:
    """A camera move over the photo at half size: uint8 ``(frames, H, W, 3)`` (defaults:
    :data:`CLIP_FRAMES`, :data:`CLIP_SIZE`, :data:`CLIP_VIEWS`).

    Frame ``t`` shows the view ``(centre x, centre y, width)`` interpolated between ``views[0]``
    and ``views[1]`` (eased in and out), the view's height following the frame's aspect, resampled
    bicubically to ``size``; a view must stay inside the picture.
    """
    frames, size, views = frames or CLIP_FRAMES, size or CLIP_SIZE, views or CLIP_VIEWS
    full = Image.fromarray(photo())
    half = full.resize((full.width // 2, full.height // 2), Image.LANCZOS)
    h, w = size
    out = []
    for t in range(frames):
        a = t / max(1, frames - 1)
        a = a * a * (3 - 2 * a)  # smoothstep: the camera starts and stops gently
        cx, cy, vw = (p0 + a * (p1 - p0) for p0, p1 in zip(*views))
        vh = vw * h / w
        box = (cx - vw / 2, cy - vh / 2, cx + vw / 2, cy + vh / 2)
        if box[0] < 0 or box[1] < 0 or box[2] > half.width or box[3] > half.height:
            raise ValueError(f"view {box} of frame {t} leaves the {half.width}x{half.height} picture")
        out.append(np.asarray(half.transform((w, h), Image.EXTENT, box, Image.BICUBIC)))
    return np.stack(out)
