"""Long fuzz run of the decoder: >= 10,000 mutated .ncb files, tallied by outcome.

Seeds are real streams of a shipped codec (several sizes, qualities, a grayscale one).
Every mutant must decode or raise a BitstreamError subclass; the tally counts each class,
the decodes, untyped failures, hangs (60 s alarm per file) and the peak RSS growth.  The
decoder's memory budget is 4x the largest seed's area, so a mutated geometry beyond it is
refused before allocation.

Usage: python benchmarks/fuzz_decoder.py [--codec hyperprior] [--count 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from common import RESULTS  # noqa: E402  (also puts the repository on sys.path)

import neuralcodecs as nc  # noqa: E402
from neuralcodecs.demo import PHOTO  # noqa: E402
from neuralcodecs.fuzz import run_fuzz  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--json", help="default: benchmarks/results/fuzz_decoder[_CODEC].json")
    args = ap.parse_args()
    args.json = args.json or str(RESULTS / ("fuzz_decoder.json" if args.codec == "hyperprior" else f"fuzz_decoder_{args.codec}.json"))
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    codec = nc.load_codec(args.codec)
    sweep = list(codec.quality.sweep)  # lowest, middle, highest and the default rate point
    low, middle, high = sweep[0], sweep[(len(sweep) - 1) // 2], sweep[-1]
    default = 5.5 if args.codec == "hyperprior" else codec.quality.default  # hyperprior: a fractional quality
    if codec.kind == "video":  # synthetic pans over the photo: odd sizes, two intra periods where the codec has them
        def pan(top, left, h, w, count):
            return np.stack([photo[top + t : top + t + h, left + 2 * t : left + 2 * t + w] for t in range(count)])

        declared = {o.name for o in codec.options}

        def options(period):
            return {**({"intra_period": period} if "intra_period" in declared else {}),
                    **({"effort": "fast"} if "effort" in declared else {})}

        if nc.registry.spec(args.codec).capabilities.get("overfitted"):  # fitted at encode time: small networks
            low, middle, high, default = 0.005, 0.01, 0.02, 0.01
        seeds = [
            codec.encode(pan(0, 0, 64, 64, 4), quality=low, **options(2)),
            codec.encode(pan(100, 300, 72, 120, 5), quality=middle, **options(0)),
            codec.encode(pan(0, 0, 17, 33, 3), quality=high, **options(32)),
            codec.encode(pan(200, 10, 40, 56, 6), quality=default, **options(4)),
        ]
        budget = 4 * 72 * 120 * 6
    else:
        fast = {"effort": "fast"} if any(o.name == "effort" for o in codec.options) else {}
        seeds = [
            codec.encode(photo[:64, :64], quality=low, **fast),
            codec.encode(photo[100:228, 300:492], quality=middle, **fast),
            codec.encode(photo[:17, :33], quality=high, **fast),
            codec.encode(photo[200:330, 0:150, 1], quality=default, **fast),  # grayscale
        ]
        budget = 4 * 128 * 192
    tally = run_fuzz(seeds, args.count, lambda d: nc.decode(d, max_pixels=budget), seed=args.seed, progress=True)
    report = tally.as_dict()
    report["codec"] = args.codec
    report["seeds"] = [len(s) for s in seeds]
    report["decoder_max_pixels"] = budget
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0 if report["untyped_failures"] == 0 and report["hangs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
