"""The tokens tour: the bundled photo's ``.ncb`` file turned into visual tokens for a vision-language
model under a budget, by a few of the adapter's strategies, with what each kept drawn over the picture.

The photo is encoded once with the default image codec; each strategy then reads the file with
:func:`neuralcodecs.adapter.tokens_from_file` (entropy decoding only: no synthesis runs), so every
token is the latent vector at one position of the codec's grid (``stride`` pixels square).  The
first panel shows where the file spends its bits, which the ``rate`` strategies follow.
"""

from __future__ import annotations

import json
import time

import numpy as np
from PIL import Image, ImageDraw

from .. import latents, registry
from ..adapter import get_strategy, tokens_from_file
from ..codec import IMAGE
from ..errors import CodecArgumentError
from .drawing import grid, png_bytes, tile
from .media import PHOTO, photo

STRATEGIES = ("uniform", "kcenter", "tome", "rate", "rate_nms")
BUDGET = 96
SCALE = 0.75  # the panels show the photo at this scale
FILES = ("photo.ncb", "tokens.png", "tokens.json")
KEPT_OUTLINE = (255, 214, 0)


def tour_codec(wanted: list[str] | None) -> str:
    if wanted and len(wanted) > 1:
        raise CodecArgumentError("the tokens tour reads one codec's file; name one --codec")
    name = wanted[0] if wanted else registry.default_codec(IMAGE)
    spec = registry.spec(name)
    if spec.kind != IMAGE or not spec.capabilities.get("latents"):
        raise CodecArgumentError(f"the tokens tour needs an image codec that hands out latents; {name!r} does not")
    if not spec.ready:
        raise CodecArgumentError(f"codec {name!r} has no weights file in this installation")
    return name


def _heat(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB uint8 on a dark-red-yellow scale."""
    v = np.clip(values, 0, 1)[..., None]
    low, mid, high = np.array([20, 20, 60.0]), np.array([200, 30, 30.0]), np.array([255, 240, 90.0])
    rgb = np.where(v < 0.5, low + (mid - low) * (v / 0.5), mid + (high - mid) * ((v - 0.5) / 0.5))
    return rgb.astype(np.uint8)


def _scaled(pixels: np.ndarray) -> Image.Image:
    img = Image.fromarray(pixels)
    return img.resize((round(img.width * SCALE), round(img.height * SCALE)), Image.LANCZOS)


def bits_panel(pixels: np.ndarray, bits: np.ndarray, stride: int) -> Image.Image:
    """A heat map of the bits the file spends per position (square-root scale) over the photo in grey."""
    h, w = pixels.shape[:2]
    share = np.sqrt(bits / max(float(bits.max()), 1e-9))
    heat = np.kron(_heat(share), np.ones((stride, stride, 1), np.uint8))[:h, :w].astype(np.float32)
    grey = pixels.astype(np.float32).mean(-1, keepdims=True)
    return _scaled((0.25 * grey + 0.75 * heat).astype(np.uint8))


def kept_panel(pixels: np.ndarray, kept: np.ndarray, stride: int) -> Image.Image:
    """The photo darkened except in the kept cells (``(n, 2)`` rows and columns of the grid), whose
    outline is drawn where a kept cell borders one that was not kept."""
    h, w = pixels.shape[:2]
    gh, gw = -(-h // stride), -(-w // stride)
    cells = np.zeros((gh, gw), bool)
    cells[kept[:, 0], kept[:, 1]] = True
    mask = np.kron(cells, np.ones((stride, stride), bool))[:h, :w]
    dim = (pixels.astype(np.float32) * 0.25 + 20).astype(np.uint8)
    img = _scaled(np.where(mask[..., None], pixels, dim))
    draw = ImageDraw.Draw(img)
    s = stride * SCALE
    padded = np.pad(cells, 1)
    for y, x in kept:
        x0, y0, x1, y1 = x * s, y * s, (x + 1) * s - 1, (y + 1) * s - 1
        if not padded[y, x + 1]:
            draw.line([x0, y0, x1, y0], fill=KEPT_OUTLINE)
        if not padded[y + 2, x + 1]:
            draw.line([x0, y1, x1, y1], fill=KEPT_OUTLINE)
        if not padded[y + 1, x]:
            draw.line([x0, y0, x0, y1], fill=KEPT_OUTLINE)
        if not padded[y + 1, x + 2]:
            draw.line([x1, y0, x1, y1], fill=KEPT_OUTLINE)
    return img


def run_tokens_tour(pixels: np.ndarray, codec: str, device: str = "cpu", budget: int = BUDGET,
                    strategies=STRATEGIES, log=print) -> dict:
    """Encode ``pixels``, read the file's tokens with each strategy; the measurements and pictures."""
    started = time.perf_counter()
    loaded = registry.load(codec, device=device)
    quality = loaded.quality.default
    data = loaded.encode(pixels, quality=quality)
    lat = latents(data, device=device)
    bits = lat.bits.float().numpy()[: lat.picture_grid[0], : lat.picture_grid[1]]
    stride = lat.stride[0]
    rows = []
    for name in strategies:
        visual = tokens_from_file(data, strategy=name, budget=budget)
        tokens, positions = visual.sample(0)
        kept = positions[:, 1:].numpy()
        covered = float(bits[kept[:, 0], kept[:, 1]].sum() / bits.sum())
        rows.append({"strategy": name, "tokens": len(tokens), "of": int(bits.size), "dim": int(tokens.shape[1]),
                     "bits_covered": covered, "description": get_strategy(name).description, "kept": kept.tolist()})
    h, w = pixels.shape[:2]
    return {"codec": codec, "quality": quality, "data": data, "bits": bits, "stride": stride, "rows": rows,
            "budget": budget, "size": (w, h), "channels": int(lat.tensor.shape[0]),
            "seconds": time.perf_counter() - started}


def table(result: dict) -> str:
    lines = [f"{'strategy':10s} {'tokens':>6s} {'of':>5s} {'bits on kept':>12s}  what it keeps"]
    for r in result["rows"]:
        lines.append(f"{r['strategy']:10s} {r['tokens']:6d} {r['of']:5d} {100 * r['bits_covered']:11.1f}%  {r['description']}")
    return "\n".join(lines)


def tokens_png(pixels: np.ndarray, result: dict) -> bytes:
    stride, bits = result["stride"], result["bits"]
    gh, gw = bits.shape
    tiles = [tile(bits_panel(pixels, bits, stride),
                  [f"{result['codec']} file: {8 * len(result['data']) / (pixels.shape[0] * pixels.shape[1]):.3f} bpp",
                   f"bits per position ({gw}x{gh} grid, {stride} px cells; brighter = more)"])]
    for r in result["rows"]:
        merged = " (merged tokens: each drawn at its position)" if r["strategy"] == "tome" else ""
        tiles.append(tile(kept_panel(pixels, np.array(r["kept"]).reshape(-1, 2), stride),
                          [f"{r['strategy']}: {r['tokens']} of {r['of']} tokens{merged}",
                           f"{r['description']}; {100 * r['bits_covered']:.0f}% of the bits"]))
    title = (f"kodim23 as visual tokens: a budget of {result['budget']} of {gw * gh} latent positions, "
             f"the positions each strategy hands to the model bright and outlined in yellow")
    return png_bytes(grid(tiles, 3, title))


def tour_files(pixels: np.ndarray, result: dict) -> dict[str, bytes]:
    doc = {k: v for k, v in result.items() if k not in ("data", "bits")}
    doc["bytes"] = len(result["data"])
    return {"photo.ncb": result["data"], "tokens.png": tokens_png(pixels, result),
            "tokens.json": (json.dumps(doc, indent=1) + "\n").encode()}


def run(out_dir, force, device, codecs, log) -> int:
    from .outputs import output_folder, write_outputs

    codec = tour_codec(codecs)
    folder = output_folder(out_dir, list(FILES), force)
    pixels = photo()
    log(f"ncodec demo --tokens: {PHOTO.name} through {codec}, its file read as visual tokens with a budget of {BUDGET}")
    result = run_tokens_tour(pixels, codec, device, log=log)
    write_outputs(folder, tour_files(pixels, result), force)
    gh, gw = result["bits"].shape
    log(f"file: {len(result['data'])} bytes, {codec} quality {result['quality']:g}; latents {gw}x{gh} positions of "
        f"{result['channels']} channels at stride {result['stride']}: {gw * gh} tokens, entropy decoding only (no synthesis)")
    log(table(result))
    log("")
    log(f"wrote {folder}/: tokens.png (what each strategy kept), tokens.json, photo.ncb "
        f"(ncodec tokens {folder / 'photo.ncb'} -o t.safetensors --strategy rate_nms --budget {BUDGET}); "
        f"{result['seconds']:.1f} s")
    return 0
