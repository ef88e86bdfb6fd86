"""The vqgan codec's rate ladder and lost-index restoration on Kodak.

1. Ladder: for every codebook size K, with the fine-tuned ladder (``--weights``, default the
   shipped file) and, when ``--weights-kmeans`` names it, the bare k-means ladder exported from
   the autoencoder checkpoint (no codebook fine-tuning): bpp of the whole file, bpp of the
   fixed-length alternative (``log2 K`` bits per index, same header), the saving of the static
   prior, PSNR-RGB, MS-SSIM and the MobileNetV2 feature distance
   (:class:`neuralcodecs.perception.MobileNetFeatureDistance` -- not LPIPS).
2. Restoration: with ``--losses 0.1 0.2``, the indices of each file are dropped at random
   (:func:`neuralcodecs.transmission.drop_indices`, seed = image number) and restored by the
   transformer or by the nearest received index; the same metrics against the original.

Usage: python benchmarks/vqgan_ladder.py [--weights W] [--weights-kmeans W0] [--images N]
       [--losses 0.1 0.2] [--json benchmarks/results/vqgan_ladder.json]
(writes the JSON, its ladder table beside it (.md) and the restoration table (_restoration.md))
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from common import DEFAULT_KODAK, MOBILENET, RESULTS, kodak_files  # noqa: E402

import neuralcodecs as nc  # noqa: E402
from neuralcodecs import bitstream  # noqa: E402
from neuralcodecs.evaluation.common import machine_meta  # noqa: E402
from neuralcodecs.metrics import ms_ssim, psnr  # noqa: E402
from neuralcodecs.perception import MobileNetFeatureDistance  # noqa: E402
from neuralcodecs.transmission import drop_indices  # noqa: E402


def _metrics(original: np.ndarray, decoded: np.ndarray, distance) -> dict:
    return {"psnr": psnr(original, decoded), "ms_ssim": ms_ssim(original, decoded), "feature_distance": distance(original, decoded)}


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--weights", default=None, help="fine-tuned ladder (default: the shipped vqgan weights)")
    ap.add_argument("--weights-kmeans", default=None, help="bare k-means ladder, for the fine-tuning ablation")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--losses", type=float, nargs="*", default=[0.1, 0.2])
    ap.add_argument("--json", default=str(RESULTS / "vqgan_ladder.json"))
    args = ap.parse_args()

    distance = MobileNetFeatureDistance(MOBILENET)
    files = kodak_files(args.kodak)[: args.images]
    pictures = [np.asarray(Image.open(p).convert("RGB")) for p in files]
    variants = [("fine-tuned", args.weights)] + ([("k-means only", args.weights_kmeans)] if args.weights_kmeans else [])
    ladder_rows, restore_rows = [], []
    for variant, weights in variants:
        codec = nc.load_codec("vqgan", weights=weights)
        for K in codec.quality.ladder:
            rows = []
            for number, (path, pixels) in enumerate(zip(files, pictures), start=1):
                data = codec.encode(pixels, quality=K)
                header, sections = bitstream.unpack(data)
                _, indices = codec.indices(header, sections)
                pixels_count = pixels.shape[0] * pixels.shape[1]
                header_bytes = len(data) - len(sections[0])
                fixed_bits = 8 * header_bytes + math.ceil(indices.size * math.log2(K) / 32) * 32
                decoded = codec.decode(data)
                rows.append({"image": path.name, "bpp": 8 * len(data) / pixels_count, "fixed_length_bpp": fixed_bits / pixels_count,
                             **_metrics(pixels, decoded, distance)})
                if variant == "fine-tuned":
                    for fraction in args.losses:
                        lost = drop_indices(indices.shape, fraction, seed=number)
                        for method in ("transformer", "nearest"):
                            restored = codec.decode_restored(header, sections, lost, method)
                            restore_rows.append({"K": int(K), "loss": fraction, "method": method, "image": path.name,
                                                 **_metrics(pixels, restored, distance)})
            summary = {"variant": variant, "K": int(K), "images": len(rows),
                       **{k: _mean(rows, k) for k in ("bpp", "fixed_length_bpp", "psnr", "ms_ssim", "feature_distance")}}
            summary["prior_saving_pct"] = 100 * (1 - summary["bpp"] / summary["fixed_length_bpp"])
            ladder_rows.append(summary)
            print(json.dumps(summary), file=sys.stderr)
    restore_summary = []
    for K in sorted({r["K"] for r in restore_rows}):
        for fraction in args.losses:
            for method in ("transformer", "nearest"):
                rows = [r for r in restore_rows if r["K"] == K and r["loss"] == fraction and r["method"] == method]
                restore_summary.append({"K": K, "loss": fraction, "method": method,
                                        **{k: _mean(rows, k) for k in ("psnr", "ms_ssim", "feature_distance")}})
    result = {"meta": machine_meta("cpu"), "weights": str(args.weights or "shipped"), "ladder": ladder_rows,
              "restoration": restore_summary}
    Path(args.json).write_text(json.dumps(result, indent=1))
    lines = ["| ladder | K | bpp (file) | fixed-length bpp | prior saving | PSNR-RGB | MS-SSIM | MobileNetV2 feature distance |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in ladder_rows:
        lines.append(f"| {r['variant']} | {r['K']} | {r['bpp']:.4f} | {r['fixed_length_bpp']:.4f} | {r['prior_saving_pct']:.1f}% | "
                     f"{r['psnr']:.2f} | {r['ms_ssim']:.4f} | {r['feature_distance']:.4f} |")
    Path(args.json).with_suffix(".md").write_text("\n".join(lines) + "\n")
    restore_lines = ["| K | indices lost | restoration | PSNR-RGB | MS-SSIM | MobileNetV2 feature distance |",
                     "|---:|---:|---|---:|---:|---:|"]
    for r in restore_summary:
        restore_lines.append(f"| {r['K']} | {100 * r['loss']:.0f}% | {r['method']} | {r['psnr']:.2f} | {r['ms_ssim']:.4f} | {r['feature_distance']:.4f} |")
    if restore_summary:
        Path(args.json).with_name(Path(args.json).stem + "_restoration.md").write_text("\n".join(restore_lines) + "\n")
    print("\n".join(lines + ([""] + restore_lines if restore_summary else [])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
