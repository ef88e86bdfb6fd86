"""Encoder effort: what refining the latents per image buys, and what it costs.

For each ``--effort`` level, encodes Kodak images at several qualities through the public API
(real files; the decoder does not change), and reports mean bpp, PSNR-RGB and encode seconds,
and the BD-rate of each level against ``fast``.  ``--crop S`` codes the centre ``S x S`` of each
image (the refinement runs the synthesis backwards once per step, so full-size images at many
steps take minutes each on a CPU).

    python benchmarks/encoder_effort.py --codec s2lic --images kodim01 kodim07 kodim13 kodim19 --crop 256
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import DEFAULT_KODAK, RESULTS

import neuralcodecs as nc
from neuralcodecs.metrics import bd_rate, psnr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", default="s2lic")
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--images", nargs="+", default=["kodim01", "kodim07", "kodim13", "kodim19"])
    ap.add_argument("--qualities", type=float, nargs="+", default=[2.0, 4.0, 6.0])
    ap.add_argument("--efforts", nargs="+", default=["fast", "medium", "best"])
    ap.add_argument("--crop", type=int, default=0, help="code the centre SxS (0: whole image)")
    ap.add_argument("--json", default=str(RESULTS / "encoder_effort.json"))
    args = ap.parse_args()
    codec = nc.load_codec(args.codec)
    rows = []
    for name in args.images:
        pixels = np.asarray(Image.open(Path(args.kodak) / f"{name}.png").convert("RGB"))
        if args.crop:
            top, left = (pixels.shape[0] - args.crop) // 2, (pixels.shape[1] - args.crop) // 2
            pixels = np.ascontiguousarray(pixels[top : top + args.crop, left : left + args.crop])
        for q in args.qualities:
            for effort in args.efforts:
                start = time.perf_counter()
                data = codec.encode(pixels, quality=q, effort=effort)
                seconds = time.perf_counter() - start
                decoded = codec.decode(data)
                rows.append({"image": name, "quality": q, "effort": effort, "bpp": 8 * len(data) / (pixels.shape[0] * pixels.shape[1]),
                             "psnr": psnr(pixels, decoded), "encode_s": seconds})
                print(json.dumps(rows[-1]), file=sys.stderr)
    summary = {}
    for effort in args.efforts:
        r = [row for row in rows if row["effort"] == effort]
        curve = [(np.mean([x["bpp"] for x in r if x["quality"] == q]), np.mean([x["psnr"] for x in r if x["quality"] == q])) for q in args.qualities]
        summary[effort] = {"bpp": [float(c[0]) for c in curve], "psnr": [float(c[1]) for c in curve],
                           "encode_s_mean": float(np.mean([x["encode_s"] for x in r]))}
    base = summary[args.efforts[0]]
    for effort in args.efforts:
        s = summary[effort]
        s["bd_rate_vs_first_pct"] = bd_rate(base["bpp"], base["psnr"], s["bpp"], s["psnr"]) if effort != args.efforts[0] else 0.0
    out = {"codec": args.codec, "images": args.images, "crop": args.crop, "qualities": args.qualities, "summary": summary, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"| effort | BD-rate vs {args.efforts[0]} | encode s per image ({'%dx%d crop' % (args.crop, args.crop) if args.crop else 'full'}) |")
    print("|---|---:|---:|")
    for effort in args.efforts:
        print(f"| {effort} | {summary[effort]['bd_rate_vs_first_pct']:+.2f}% | {summary[effort]['encode_s_mean']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
