"""Encoder effort: what refining the latents per image buys, and what it costs.

For each ``--effort`` level of a trained codec, encodes Kodak images at several qualities through
the public API (real files; the decoder does not change) and reports mean bpp, PSNR-RGB and
encode seconds per image, the BD-rate of each level against the codec's own ``fast`` and against
the WebP anchor (its default sweep on the same images, measured in the same run).  Every finished
point is appended to ``OUT.points.jsonl`` and a rerun skips the points there (the run resumes).
``--crop S`` codes the centre ``S x S`` of each image.

    python benchmarks/encoder_effort.py --codec walloc --all-kodak --qualities 1 3 5
    python benchmarks/encoder_effort.py --codec s2lic --images kodim01 kodim07 --crop 256
    python benchmarks/encoder_effort.py --codec hyperprior --qualities 8 --efforts fast medium \
        --images kodim01 kodim02 kodim03 kodim04 --out benchmarks/results/top_quality_effort_hyperprior   # the top quality

Writes ``benchmarks/results/encoder_effort_<codec>.{json,md}`` (``--out`` for another stem).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import DEFAULT_KODAK, RESULTS

import neuralcodecs as nc
from neuralcodecs.anchors import anchor
from neuralcodecs.metrics import bd_rate, psnr

KODAK = tuple(f"kodim{i:02d}" for i in range(1, 25))


def load(kodak: str, name: str, crop: int) -> np.ndarray:
    pixels = np.asarray(Image.open(Path(kodak) / f"{name}.png").convert("RGB"))
    if crop:
        top, left = (pixels.shape[0] - crop) // 2, (pixels.shape[1] - crop) // 2
        pixels = np.ascontiguousarray(pixels[top : top + crop, left : left + crop])
    return pixels


def measure(codec, pixels: np.ndarray, quality: float, options: dict) -> dict:
    start = time.perf_counter()
    data = codec.encode(pixels, quality=quality, **options)
    seconds = time.perf_counter() - start
    return {"bpp": 8 * len(data) / (pixels.shape[0] * pixels.shape[1]), "psnr": psnr(pixels, codec.decode(data)),
            "encode_s": seconds}


def mean_curve(rows: list[dict], key: str, values) -> dict:
    """Mean bpp, PSNR and encode seconds per value of ``key`` (over the images)."""
    out = {"bpp": [], "psnr": [], "encode_s": []}
    for v in values:
        r = [row for row in rows if row[key] == v]
        for field in out:
            out[field].append(float(np.mean([row[field] for row in r])))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", default="s2lic")
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--images", nargs="+", default=["kodim01", "kodim07", "kodim13", "kodim19"])
    ap.add_argument("--all-kodak", action="store_true", help="the 24 Kodak images")
    ap.add_argument("--qualities", type=float, nargs="+", default=[2.0, 4.0, 6.0])
    ap.add_argument("--efforts", nargs="+", default=["fast", "medium", "best"])
    ap.add_argument("--crop", type=int, default=0, help="code the centre SxS (0: whole image)")
    ap.add_argument("--out", default=None, help="result stem (default benchmarks/results/encoder_effort_<codec>)")
    args = ap.parse_args()
    images = list(KODAK) if args.all_kodak else args.images
    stem = Path(args.out) if args.out else RESULTS / f"encoder_effort_{args.codec}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    points_path = stem.with_suffix(".points.jsonl")
    rows = [json.loads(line) for line in points_path.read_text().splitlines()] if points_path.exists() else []
    done = {(r["image"], r["quality"], r["effort"]) for r in rows}
    codec = nc.load_codec(args.codec)
    webp = anchor("webp")
    for name in images:
        pixels = load(args.kodak, name, args.crop)
        todo = [(q, e) for e in ["webp"] + args.efforts for q in (webp.sweep if e == "webp" else args.qualities)
                if (name, q, e) not in done]
        for q, effort in todo:
            if effort == "webp":
                data = webp.encode(pixels, q)
                row = {"bpp": 8 * len(data) / (pixels.shape[0] * pixels.shape[1]), "psnr": psnr(pixels, webp.decode(data)),
                       "encode_s": 0.0}
            else:
                row = measure(codec, pixels, q, {"effort": effort})
            row = {"image": name, "quality": q, "effort": effort, **row}
            rows.append(row)
            with points_path.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), file=sys.stderr, flush=True)
    rows = [r for r in rows if r["image"] in images]
    measured = {(r["image"], r["quality"], r["effort"]) for r in rows}
    complete = [n for n in images if all((n, q, e) in measured for e in args.efforts for q in args.qualities)]
    rows = [r for r in rows if r["image"] in complete]
    anchor_curve = mean_curve([r for r in rows if r["effort"] == "webp"], "quality", webp.sweep)

    def against_webp(curve: dict) -> float | None:
        if len(args.qualities) < 2:  # one rate point (a top-quality run): no curve to compare
            return None
        try:
            return bd_rate(anchor_curve["bpp"], anchor_curve["psnr"], curve["bpp"], curve["psnr"])
        except ValueError:  # no PSNR range in common (vqgan stays below WebP's lowest quality)
            return None

    summary = {}
    for effort in args.efforts:
        curve = mean_curve([r for r in rows if r["effort"] == effort], "quality", args.qualities)
        summary[effort] = {**curve, "encode_s_mean": float(np.mean(curve["encode_s"])), "bd_rate_vs_webp_pct": against_webp(curve)}
    base = summary[args.efforts[0]]
    for effort in args.efforts:
        s = summary[effort]
        s["bd_rate_vs_first_pct"] = (0.0 if effort == args.efforts[0] else None if len(args.qualities) < 2
                                     else bd_rate(base["bpp"], base["psnr"], s["bpp"], s["psnr"]))
    size = f"{args.crop}x{args.crop} centre crops" if args.crop else "whole images"
    out = {"codec": args.codec, "images": complete, "crop": args.crop, "qualities": args.qualities,
           "command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
           "machine": f"{platform.machine()} CPU, torch threads {torch.get_num_threads()}",
           "summary": summary, "webp": anchor_curve}
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1))
    lines = [f"`{args.codec}` on {len(complete)} Kodak images ({size}), qualities {', '.join(f'{q:g}' for q in args.qualities)}; "
             f"`{out['command']}`", "",
             f"| effort | BD-rate vs {args.efforts[0]} | BD-rate vs WebP | mean bpp | mean PSNR-RGB (dB) | encode s per image |",
             "|---|---:|---:|---|---|---:|"]
    for effort in args.efforts:
        s = summary[effort]
        one = len(args.qualities) < 2
        webp_bd = ("one rate point" if one else "no common PSNR range") if s["bd_rate_vs_webp_pct"] is None else f"{s['bd_rate_vs_webp_pct']:+.1f}%"
        first_bd = "one rate point" if s["bd_rate_vs_first_pct"] is None else f"{s['bd_rate_vs_first_pct']:+.1f}%"
        lines.append(f"| {effort} | {first_bd} | {webp_bd} | "
                     f"{' / '.join(f'{v:.3f}' for v in s['bpp'])} | {' / '.join(f'{v:.2f}' for v in s['psnr'])} | "
                     f"{s['encode_s_mean']:.1f} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
