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
from neuralcodecs.image.base import pixels_to_tensor, tensor_to_pixels  # noqa: E402
from neuralcodecs.metrics import bd_rate, psnr  # noqa: E402



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


def code_once(codec, pixels: np.ndarray, x: torch.Tensor, q: int, check_bytes: bool) -> dict:
    """Encode and decode one picture once, keeping both sides' symbols.

    The file is packed from the model's own strings (one encode), decoded from its sections
    (one decode); with ``check_bytes`` the public ``codec.encode`` must give the same bytes.
    """
    frozen, q256 = codec.frozen, q * 256
    if codec.name == "hyperprior":
        enc = frozen.compress(x, q256)
        strings, ideal = enc["strings"], frozen.estimated_bits(enc["symbols"])
        keys = ("z_symbols", "y_symbols", "means", "y_indexes")
        ours = [enc["symbols"][k] for k in keys]
    else:
        enc = frozen.compress(x, q256)
        strings, ideal = enc["strings"], frozen.estimated_bits(enc)
        ours = [torch.from_numpy(enc["z_symbols"])] + [enc["walk"][k] for k in ("symbols", "means", "indexes")]
    header = bitstream.Header(codec=codec.name, fingerprint=codec.fingerprint, width=pixels.shape[1], height=pixels.shape[0],
                              config={"quality_x256": q256, "latent_channels": codec.latent_channels})
    data = bitstream.pack(header, [bytes(s) for s in strings])
    header, sections = bitstream.unpack(data)
    dec = frozen.decode_symbols(sections, codec.z_shape(header), q256)
    if codec.name == "hyperprior":
        theirs = [dec[k] for k in keys]
        decoded = codec.decode_parsed(header, sections)
    else:  # the decoder's own symbols, synthesized (what codec.decode does, without decoding twice)
        theirs = [torch.from_numpy(dec["z_symbols"])] + [dec["walk"][k] for k in ("symbols", "means", "indexes")]
        decoded = tensor_to_pixels(frozen.synthesize(frozen.synthesis_input(dec, q256)), *pixels.shape[:2])
    return {
        "data": data,
        "container": len(data) - sum(len(s) for s in sections),
        "ideal_bits": ideal,
        "exact": all(torch.equal(a.cpu(), b.cpu()) for a, b in zip(ours, theirs)),
        "deterministic": codec.encode(pixels, quality=q) == data if check_bytes else None,
        "decoded": decoded,
    }


def webp_curve(pixels: np.ndarray) -> tuple[list[float], list[float]]:
    """WebP (Pillow, method 6) over its quality sweep: (bpp, PSNR) per point."""
    webp = anchor("webp")
    points = []
    for q in webp.sweep:
        data = webp.encode(pixels, q)
        points.append((8 * len(data) / (pixels.shape[0] * pixels.shape[1]), psnr(pixels, webp.decode(data))))
    return [p[0] for p in points], [p[1] for p in points]


def record_in_sidecar(codec, out: dict) -> None:
    """Copy the summary into the shipped weights' sidecar when they are the weights measured."""
    from neuralcodecs import registry
    from neuralcodecs.weightfiles import update_sidecar

    path = registry.spec(codec.name).weights_path
    if path is None or not path.exists() or nc.load_codec(codec.name).fingerprint != codec.fingerprint:
        return
    update_sidecar(path, {"kodak_checks": {
        "fingerprint": codec.fingerprint.hex(),
        "command": f"python benchmarks/kodak_checks.py --codec {codec.name}",
        "bd_rate_vs_webp_psnr_pct": out["bd_rate_vs_webp_pct"],
        "summary": out["summary"],
    }})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--json")
    ap.add_argument("--levels", type=int, nargs="*", help="qualities to check (default: the codec's sweep)")
    ap.add_argument("--every", type=int, default=1, help="every k-th Kodak image (default: all 24)")
    args = ap.parse_args()

    codec = nc.load_codec(args.codec)
    frozen = codec.frozen
    files = kodak_files(args.kodak)[:: args.every]
    levels = args.levels or [int(q) for q in codec.quality.sweep]
    rows = []
    for path in files:
        pixels = np.asarray(Image.open(path).convert("RGB"))
        num_pixels = pixels.shape[0] * pixels.shape[1]
        x = pixels_to_tensor(pixels, 64, codec.device)
        jpeg_cache: dict = {}
        webp_rates, webp_psnrs = webp_curve(pixels)
        for q in levels:
            coded = code_once(codec, pixels, x, q, check_bytes=path == files[0])
            data, container, ideal_bits, exact = coded["data"], coded["container"], coded["ideal_bits"], coded["exact"]
            identical = coded["deterministic"]
            train_bits = training_estimate_bits(frozen.model, x, q - 1)
            decoded = coded["decoded"]
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
                    "webp_bpp": webp_rates,
                    "webp_psnr": webp_psnrs,
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
                "deterministic_bytes": f"{sum(bool(row['deterministic_bytes']) for row in r)}/{sum(row['deterministic_bytes'] is not None for row in r)}",
                "images": len(r),
            }
        )
    first_q = [row for row in rows if row["quality"] == levels[0]]
    webp_mean = (np.mean([row["webp_bpp"] for row in first_q], axis=0), np.mean([row["webp_psnr"] for row in first_q], axis=0))
    try:
        bd_vs_webp = bd_rate(list(webp_mean[0]), list(webp_mean[1]), [s["mean_bpp"] for s in summary], [s["mean_psnr"] for s in summary])
    except ValueError:  # the curves do not overlap in PSNR: no BD-rate exists
        bd_vs_webp = None
    out = {"codec": args.codec, "images": [p.name for p in files], "weights_fingerprint": codec.fingerprint.hex(), "bd_rate_vs_webp_pct": bd_vs_webp,
           "webp_mean_curve": {"bpp": list(map(float, webp_mean[0])), "psnr": list(map(float, webp_mean[1]))},
           "summary": summary, "rows": rows}
    record_in_sidecar(codec, out)
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
    print("BD-rate (PSNR-RGB) of the mean curve against WebP measured in this run: "
          + (f"{bd_vs_webp:+.1f}%" if bd_vs_webp is not None else "none (the curves do not overlap in PSNR)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
