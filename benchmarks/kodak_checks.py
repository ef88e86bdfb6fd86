"""Acceptance checks of a shipped image codec (hyperprior, s2lic) on all 24 Kodak images.

For every image and every shipped rate point (quality 1..8):

* file size (header included) against the ideal code length of the coded symbols under the
  coder's tables plus the container bytes, and against the training-time estimate
  ``-sum(log2 likelihoods)`` of the model's forward pass (continuous scales);
* decoding reproduces exactly the encoder's quantized latents (z and y symbols, means,
  scale indexes) and the file is byte-identical when encoded twice;
* PSNR-RGB against JPEG (Pillow, quality 1..95) interpolated at the same bpp.

Usage: python benchmarks/kodak_checks.py [--codec hyperprior] [--kodak DIR] [--json OUT]
(default output: benchmarks/results/CODEC_kodak_checks.json)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.interpolate import PchipInterpolator

from common import DEFAULT_KODAK, RESULTS, kodak_files  # noqa: E402  (also puts the repository on sys.path)

import neuralcodecs as nc  # noqa: E402
from neuralcodecs import bitstream  # noqa: E402
from neuralcodecs.anchors import anchor  # noqa: E402
from neuralcodecs.image.base import pixels_to_tensor  # noqa: E402
from neuralcodecs.metrics import psnr  # noqa: E402



def jpeg_psnr_at(pixels: np.ndarray, bpp: float, cache: dict) -> float | None:
    """JPEG's PSNR at ``bpp`` by PCHIP interpolation of its curve (None below its lowest rate)."""
    if "curve" not in cache:
        jpeg = anchor("jpeg")
        pts = []
        for q in range(1, 96):
            data = jpeg.encode(pixels, q)
            pts.append((len(data) * 8 / (pixels.shape[0] * pixels.shape[1]), psnr(pixels, jpeg.decode(data))))
        pts.sort()
        rates, quals = [], []
        for r, p in pts:  # keep a strictly increasing rate axis
            if not rates or r > rates[-1]:
                rates.append(r)
                quals.append(max(p, quals[-1]) if quals else p)
        cache["curve"] = (np.log(rates), np.array(quals))
    log_r, quals = cache["curve"]
    if math.log(bpp) < log_r[0]:
        return None
    if math.log(bpp) > log_r[-1]:
        return float(quals[-1])
    return float(PchipInterpolator(log_r, quals)(math.log(bpp)))


@torch.no_grad()
def training_estimate_bits(model, x: torch.Tensor, level: int) -> float:
    out = model(x, torch.tensor([level]))
    return float(sum((-torch.log2(l)).sum() for l in out["likelihoods"].values()))


def coded_symbols(codec, x: torch.Tensor, q256: int, header, sections) -> tuple[list, list, float, list[bytes]]:
    """``(encoder symbols, decoder symbols, ideal bits, encoder strings)`` through the codec's own model."""
    frozen = codec.frozen
    if codec.name == "hyperprior":
        enc = frozen.compress(x, q256)
        dec = frozen.decode_symbols(sections, codec.z_shape(header), q256)
        keys = ("z_symbols", "y_symbols", "means", "y_indexes")
        return [enc["symbols"][k] for k in keys], [dec[k] for k in keys], frozen.estimated_bits(enc["symbols"]), enc["strings"]
    enc = frozen.compress(x, q256)
    dec = frozen.decode_symbols(sections, codec.z_shape(header), q256)
    keys = ("symbols", "means", "indexes")
    ours = [torch.from_numpy(enc["z_symbols"])] + [enc["walk"][k] for k in keys]
    theirs = [torch.from_numpy(dec["z_symbols"])] + [dec["walk"][k] for k in keys]
    return ours, theirs, frozen.estimated_bits(enc), enc["strings"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--json")
    args = ap.parse_args()

    codec = nc.load_codec(args.codec)
    frozen = codec.frozen
    files = kodak_files(args.kodak)
    levels = [int(q) for q in codec.quality.sweep]
    rows = []
    for path in files:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        num_pixels = pixels.shape[0] * pixels.shape[1]
        x = pixels_to_tensor(pixels, 64, codec.device)
        jpeg_cache: dict = {}
        for q in levels:
            data = codec.encode(pixels, quality=q)
            header, sections = bitstream.unpack(data)
            container = len(data) - sum(len(s) for s in sections)
            ours, theirs, ideal_bits, strings = coded_symbols(codec, x, q * 256, header, sections)
            identical = [bytes(s) for s in strings] == sections
            exact = all(torch.equal(a.cpu(), b.cpu()) for a, b in zip(ours, theirs))
            train_bits = training_estimate_bits(frozen.model, x, q - 1)
            decoded = codec.decode(data)
            bpp = len(data) * 8 / num_pixels
            ours = psnr(pixels, decoded)
            jpeg = jpeg_psnr_at(pixels, bpp, jpeg_cache)
            rows.append(
                {
                    "image": path.name,
                    "quality": q,
                    "bytes": len(data),
                    "container_bytes": container,
                    "bpp": bpp,
                    "psnr": ours,
                    "jpeg_psnr_at_bpp": jpeg,
                    "size_over_ideal": len(data) / (ideal_bits / 8 + container) - 1,
                    "size_over_training_estimate": len(data) / (train_bits / 8 + container) - 1,
                    "exact_latents": exact,
                    "deterministic_bytes": identical,
                }
            )
        print(f"{path.name}: done", file=sys.stderr)

    summary = []
    for q in levels:
        r = [row for row in rows if row["quality"] == q]
        beats = [row["jpeg_psnr_at_bpp"] is None or row["psnr"] > row["jpeg_psnr_at_bpp"] for row in r]
        summary.append(
            {
                "quality": q,
                "mean_bpp": float(np.mean([row["bpp"] for row in r])),
                "mean_psnr": float(np.mean([row["psnr"] for row in r])),
                "mean_jpeg_psnr_at_bpp": float(np.mean([row["jpeg_psnr_at_bpp"] for row in r if row["jpeg_psnr_at_bpp"] is not None])),
                "images_beating_jpeg": int(sum(beats)),
                "max_size_over_ideal_pct": 100 * max(row["size_over_ideal"] for row in r),
                "max_size_over_training_estimate_pct": 100 * max(row["size_over_training_estimate"] for row in r),
                "mean_size_over_training_estimate_pct": 100 * float(np.mean([row["size_over_training_estimate"] for row in r])),
                "exact_latents": int(sum(row["exact_latents"] for row in r)),
                "deterministic_bytes": int(sum(row["deterministic_bytes"] for row in r)),
                "images": len(r),
            }
        )
    out = {"codec": args.codec, "weights_fingerprint": codec.fingerprint.hex(), "summary": summary, "rows": rows}
    json_path = Path(args.json or RESULTS / f"{args.codec}_kodak_checks.json")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(out, indent=1))

    print("| quality | bpp | PSNR-RGB | JPEG PSNR at same bpp | images beating JPEG | max size over ideal | size over training estimate (mean / max) | exact latents |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in summary:
        print(
            f"| {s['quality']} | {s['mean_bpp']:.4f} | {s['mean_psnr']:.2f} | {s['mean_jpeg_psnr_at_bpp']:.2f} | "
            f"{s['images_beating_jpeg']}/{s['images']} | {s['max_size_over_ideal_pct']:+.3f}% | "
            f"{s['mean_size_over_training_estimate_pct']:+.2f}% / {s['max_size_over_training_estimate_pct']:+.2f}% | "
            f"{s['exact_latents']}/{s['images']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
