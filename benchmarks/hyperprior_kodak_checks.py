"""Issue-2 acceptance checks of the shipped hyperprior on all 24 Kodak images.

For every image and every shipped rate point (quality 1..8):

* file size (header included) against the ideal code length of the coded symbols under the
  coder's tables plus the container bytes, and against the training-time estimate
  ``-sum(log2 likelihoods)`` of the model's forward pass (continuous scales);
* decoding reproduces exactly the encoder's quantized latents (z and y symbols, means,
  scale indexes) and the file is byte-identical when encoded twice;
* PSNR-RGB against JPEG (Pillow, quality 1..95) interpolated at the same bpp.

Usage: python benchmarks/hyperprior_kodak_checks.py [--kodak DIR] [--json OUT]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--json", default=str(RESULTS / "hyperprior_kodak_checks.json"))
    args = ap.parse_args()

    codec = nc.load_codec("hyperprior")
    frozen = codec.frozen
    files = kodak_files(args.kodak)
    levels = list(range(1, frozen.num_levels + 1))
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
            enc = frozen.compress(x, q * 256)
            identical = [bytes(s) for s in enc["strings"]] == sections
            dec = frozen.decode_symbols(sections, codec.z_shape(header), q * 256)
            exact = all(
                torch.equal(dec[k], enc["symbols"][k]) for k in ("z_symbols", "y_symbols", "means", "y_indexes")
            )
            ideal_bits = frozen.estimated_bits(enc["symbols"])
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
    out = {"weights_fingerprint": codec.fingerprint.hex(), "summary": summary, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))

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
