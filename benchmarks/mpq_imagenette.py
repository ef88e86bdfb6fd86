"""Machine-perception quality on Imagenette val: MobileNetV2 top-1 and agreement vs bpp.

Runs ``ncodec eval --task classify`` with torchvision's MobileNetV2 (ImageNet-1k weights
from ../shared/data/models) on the 1000 Imagenette validation images, for hyperprior at
its 8 rate points and JPEG / WebP / AVIF at 6 rates each, and prints the table.

Usage: python benchmarks/mpq_imagenette.py [--data DIR] [--weights PTH] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import sys

from common import RESULTS, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

from neuralcodecs.evaluation.image import run_evaluation  # noqa: E402
from neuralcodecs.perception import MobileNetClassifier, folder_labels  # noqa: E402
from neuralcodecs.atomic import atomic_write_bytes  # noqa: E402

SPECS = [
    ("hyperprior", None),
    ("jpeg", [5.0, 10.0, 20.0, 40.0, 70.0, 90.0]),
    ("webp", [0.0, 10.0, 30.0, 50.0, 75.0, 90.0]),
    ("avif", [10.0, 25.0, 40.0, 55.0, 70.0, 85.0]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(SHARED_DATA / "images" / "imagenette" / "val"))
    ap.add_argument("--class-map", default=str(SHARED_DATA / "images" / "imagenette" / "SOURCE.txt"))
    ap.add_argument("--weights", default=str(SHARED_DATA / "models" / "mobilenet_v2-b0353104.pth"))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    out = RESULTS / "mpq_imagenette.json"
    if not args.reuse:
        result = run_evaluation(
            args.data, SPECS, jobs=args.jobs, limit=args.limit,
            classifier_factory=MobileNetClassifier.factory(args.weights),
            labels_for=folder_labels(args.class_map),
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, json.dumps(result, indent=1).encode())
    result = json.loads(out.read_text())
    n = result["uncompressed"]["images"]
    print(f"Imagenette val ({n} images, 224x224), MobileNetV2 top-1 uncompressed: {100 * result['uncompressed']['top1']:.1f}%")
    print("| codec | quality | bpp | PSNR-RGB | top-1 | agreement with uncompressed |")
    print("|---|---:|---:|---:|---:|---:|")
    for curve in result["curves"]:
        r = curve["results"]
        for i, q in enumerate(r["quality"]):
            print(f"| {curve['name']} | {q:g} | {r['bpp'][i]:.3f} | {r['psnr-rgb'][i]:.2f} | "
                  f"{100 * r['top1'][i]:.1f}% | {100 * r['agreement'][i]:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
