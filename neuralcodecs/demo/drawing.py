"""Pictures of the demo: labelled tiles of enlarged pixels laid out in a grid, as PNG bytes."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = "white"
GAP = 8
PADDING = 6


@functools.lru_cache(maxsize=None)
def font(size: int = 16):
    """Pillow's scalable default font at ``size`` pixels (its small bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def text_height(lines: list[str], size: int = 16) -> int:
    return len(lines) * (size + 4) + PADDING


def tile(pixels: np.ndarray | Image.Image, lines: list[str], zoom: int = 1, size: int = 16,
         colour: str = "black") -> Image.Image:
    """``pixels`` enlarged ``zoom`` times (nearest neighbour: the codec's own pixels, not a
    resampler's) below ``lines`` of text; the first line bold-ish in ``colour``."""
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels)
    if zoom != 1:
        img = img.resize((img.width * zoom, img.height * zoom), Image.NEAREST)
    top = text_height(lines, size)
    framed = Image.new("RGB", (img.width, img.height + top), BACKGROUND)
    framed.paste(img, (0, top))
    draw = ImageDraw.Draw(framed)
    for i, line in enumerate(lines):
        draw.text((2, 2 + i * (size + 4)), line, fill=colour if i == 0 else "black", font=font(size))
    return framed


def grid(tiles: list[Image.Image], columns: int, title: str | None = None, size: int = 20) -> Image.Image:
    """``tiles`` in rows of ``columns`` (row-major), each cell as large as the largest tile, with an
    optional title line above."""
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    cell_w = max(t.width for t in tiles)
    cell_h = max(t.height for t in tiles)
    top = size + 2 * PADDING if title else 0
    canvas = Image.new("RGB", (columns * cell_w + (columns + 1) * GAP, top + rows * cell_h + (rows + 1) * GAP), BACKGROUND)
    if title:
        ImageDraw.Draw(canvas).text((GAP, PADDING), title, fill="black", font=font(size))
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        canvas.paste(t, (GAP + c * (cell_w + GAP), top + GAP + r * (cell_h + GAP)))
    return canvas


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
