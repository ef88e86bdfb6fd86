"""``ncodec demo``: one photo through the learned codec and two classical ones.

Encodes the bundled photo (Kodak ``kodim23``) with the default image codec of the registry
(or ``--codec``) into a real ``.ncb`` file,
decodes it from the bytes alone, encodes JPEG and WebP at the nearest file size, prints
size, bpp, PSNR and MS-SSIM side by side, and writes a PNG of enlarged crops
(original / neuralcodecs / JPEG / WebP).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from . import decode, registry
from .anchors import anchor
from .errors import CodecArgumentError
from .image.io import load_image, save_png
from .metrics import ms_ssim, psnr
from .atomic import atomic_write_bytes
from .codec import IMAGE
from .cli_checks import check_output_folder, folder_removed_if_empty_on_failure
from .paths import ASSETS_DIR
from .ratecontrol import anchor_nearest_size

PHOTO = ASSETS_DIR / "kodim23.png"
CROP = (400, 96, 592, 288)  # left, top, right, bottom: the parrots' heads
ZOOM = 2


def _free_folder(base: Path) -> Path:
    if not base.exists():
        return base
    for i in range(1, 1000):
        candidate = base.with_name(f"{base.name}-{i}")
        if not candidate.exists():
            return candidate
    raise CodecArgumentError(f"too many {base} folders; pass --out")


def side_by_side(panels: list[tuple[str, np.ndarray]], crop=CROP, zoom=ZOOM) -> Image.Image:
    """Enlarged crops of each image in a row, each with its label above."""
    label_h = 22
    tiles = []
    for label, pixels in panels:
        tile = Image.fromarray(pixels).crop(crop)
        tile = tile.resize((tile.width * zoom, tile.height * zoom), Image.NEAREST)
        framed = Image.new("RGB", (tile.width, tile.height + label_h), "white")
        framed.paste(tile, (0, label_h))
        ImageDraw.Draw(framed).text((6, 5), label, fill="black")
        tiles.append(framed)
    gap = 6
    canvas = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), tiles[0].height), "white")
    x = 0
    for t in tiles:
        canvas.paste(t, (x, 0))
        x += t.width + gap
    return canvas


def run_demo(
    out_dir: str | None = None, quality: float | None = None, force: bool = False, device: str = "cpu", codec: str | None = None
) -> int:
    """Run the demo; returns the process exit code."""
    name = codec or registry.default_codec()
    spec = registry.spec(name)
    if spec.kind != IMAGE:
        raise CodecArgumentError(f"the demo codes a photo; {name!r} is a {spec.kind} codec")
    if quality is not None:
        spec.quality.check(quality)
    folder = check_output_folder(out_dir) if out_dir else _free_folder(Path("ncodec-demo"))
    names = ["kodim23.ncb", f"kodim23.{name}.png", "kodim23.jpeg.jpg", "kodim23.webp.webp", "side_by_side.png"]
    if out_dir and not force and any((folder / n).exists() for n in names):
        raise CodecArgumentError(f"{folder} already holds demo outputs (pass --force to overwrite)")
    loaded = registry.load(name, device=device)
    with folder_removed_if_empty_on_failure(folder):
        _demo(folder, names, loaded, quality, device)
    return 0


def _demo(folder: Path, names: list[str], codec, quality: float | None, device: str) -> None:
    original, _ = load_image(PHOTO)
    h, w = original.shape[:2]
    quality = codec.quality.default if quality is None else quality
    data = codec.encode(original, quality=quality)
    atomic_write_bytes(folder / names[0], data)
    ours = decode((folder / names[0]).read_bytes(), device=device)  # from the file's bytes alone
    save_png(folder / names[1], ours)

    rows = [(f"neuralcodecs {codec.name}", len(data), ours)]
    for anchor_name, filename in (("jpeg", names[2]), ("webp", names[3])):
        _, anchor_data = anchor_nearest_size(anchor_name, original, len(data))
        atomic_write_bytes(folder / filename, anchor_data)
        rows.append((anchor(anchor_name).description, len(anchor_data), anchor(anchor_name).decode(anchor_data)))

    print(f"photo: {PHOTO.name} ({w}x{h}), {codec.name} quality {quality:g}")
    print(f"{'codec':52s} {'bytes':>8s} {'bpp':>7s} {'PSNR-RGB':>9s} {'MS-SSIM':>8s}")
    for label, size, pixels in rows:
        print(f"{label:52s} {size:8d} {size * 8 / (w * h):7.4f} {psnr(original, pixels):8.2f}dB {ms_ssim(original, pixels):8.4f}")

    panels = [("original", original)] + [
        (f"{label.split(' (')[0]}  {size * 8 / (w * h):.3f} bpp  {psnr(original, px):.2f} dB", px) for label, size, px in rows
    ]
    buf = io.BytesIO()
    side_by_side(panels).save(buf, format="PNG")
    atomic_write_bytes(folder / names[4], buf.getvalue())
    print(f"wrote {', '.join(str(folder / n) for n in names)}")
