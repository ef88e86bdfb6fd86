"""Compressed-domain classification on Imagenette: latents vs decoded pixels, same files.

For every ``--point CODEC:QUALITY`` two classifiers are trained on Imagenette train (2500
images and their mirror images, each encoded at that point; :mod:`neuralcodecs.downstream`): a
latent-domain MobileNetV2 (distillation from the pixel-domain MobileNetV2, then fine-tuning) and,
as its fair pixel-domain counterpart, the whole MobileNetV2 fine-tuned the same way (same
images, labels, soft targets and epochs) on the files' decoded pixels.  One
``ncodec eval --task classify --domain both`` run over the 1000 val images then classifies, for
each file, its decoded pixels with the pretrained MobileNetV2 (ImageNet preprocessing: resize
256, centre crop 224) and with the fine-tuned one (whole 224x224 picture), and its latents (no
synthesis), beside JPEG and WebP sweeps.  The table gives top-1 over the 1000 ImageNet classes,
agreement with the uncompressed image's prediction (pretrained model), and the milliseconds per
image of each path on this CPU: pixels = decode + classify, latents = read latents + classify.
JPEG / WebP top-1 (pretrained model) are interpolated at each learned point's bpp.

``--shards DIR`` (repeatable): train a point's classifiers from a dataset of shards of Imagenette
train at that point (``ncodec encode-dataset IMAGENETTE/train -o DIR --codec C --quality Q
--mirror``; the manifest names the point) instead of encoding the images in-process.

Usage: python benchmarks/latent_imagenette.py --point walloc:3 --point hyperprior:2
       [--distill-epochs 3] [--finetune-epochs 3] [--limit N] [--runs runs/latent] [--reuse]
       [--domain latent|pixel|both] [--train-only] [--shards DIR ...]
Outputs: benchmarks/results/latent_imagenette.{json,md}; classifier weights under --runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common import IMAGENETTE, MOBILENET, RESULTS, ROOT, imagenette_files  # noqa: E402

from neuralcodecs import load_codec  # noqa: E402
from neuralcodecs.atomic import atomic_write_bytes  # noqa: E402
from neuralcodecs.evaluation.common import parse_codec_arg  # noqa: E402
from neuralcodecs.evaluation.image import run_evaluation  # noqa: E402
from neuralcodecs.perception import MobileNetClassifier, folder_labels, read_class_map  # noqa: E402
from neuralcodecs.weightfiles import sidecar_path  # noqa: E402

ANCHORS = [("jpeg", [5.0, 10.0, 20.0, 40.0, 70.0, 90.0]), ("webp", [0.0, 10.0, 30.0, 50.0, 75.0, 90.0])]


def _interpolate(curve: dict, key: str, bpp: float) -> float | None:
    r = curve["results"]
    order = np.argsort(r["bpp"])
    xs, ys = np.log(np.asarray(r["bpp"])[order]), np.asarray(r[key])[order]
    if not xs[0] <= np.log(bpp) <= xs[-1]:
        return None
    return float(np.interp(np.log(bpp), xs, ys))


def table(result: dict) -> str:
    curves = {c["name"]: c for c in result["curves"]}
    anchors = [name for name, _ in ANCHORS if name in curves]
    lines = [f"Imagenette val, {result['uncompressed']['images']} images, MobileNetV2 top-1 over the 1000 ImageNet classes; "
             f"uncompressed: {100 * result['uncompressed']['top1']:.1f}%.", "",
             "| codec | quality | bpp | decoded pixels, pretrained: top-1 / agreement | decoded pixels, fine-tuned: top-1 / agreement "
             "| latents, fine-tuned: top-1 / agreement | ms per image: decode + classify | ms: latents + classify | "
             + " | ".join(f"{a} top-1 at this bpp" for a in anchors) + " |",
             "|---|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(anchors)]
    for name, curve in curves.items():
        r = curve["results"]
        if "latent_top1" not in r:
            continue
        for i, q in enumerate(r["quality"]):
            if r["latent_top1"][i] is None:
                continue
            at = [_interpolate(curves[a], "top1", r["bpp"][i]) for a in anchors]
            tuned = "n/a"
            if r.get("tuned_top1") and r["tuned_top1"][i] is not None:
                tuned = f"{100 * r['tuned_top1'][i]:.1f}% / {100 * r['tuned_agreement'][i]:.1f}%"
            lines.append(
                f"| {name} | {q:g} | {r['bpp'][i]:.3f} | {100 * r['top1'][i]:.1f}% / {100 * r['agreement'][i]:.1f}% | {tuned} | "
                f"{100 * r['latent_top1'][i]:.1f}% / {100 * r['latent_agreement'][i]:.1f}% | "
                f"{1000 * (r['decoding_time'][i] + r['time'][i]):.0f} | {1000 * r['latent_time'][i]:.0f} | "
                + " | ".join("n/a" if v is None else f"{100 * v:.1f}%" for v in at) + " |"
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--point", action="append", required=True, metavar="CODEC:QUALITY")
    ap.add_argument("--distill-epochs", type=int, default=3)
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, help="evaluate on an evenly spaced subset of the val images")
    ap.add_argument("--train-limit", type=int, help="train on an evenly spaced subset (smoke tests)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "latent"), help="classifier weights and caches")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="reprint the table of an existing result")
    ap.add_argument("--train-only", action="store_true", help="train the missing classifiers and stop")
    ap.add_argument("--domain", choices=["latent", "pixel", "both"], default="both",
                    help="which classifiers to train for each point (the evaluation uses every one that exists)")
    ap.add_argument("--shards", action="append", default=[], metavar="DIR",
                    help="a dataset of shards of Imagenette train (ncodec encode-dataset --mirror): the point its manifest "
                         "names trains from it instead of encoding in-process (repeatable)")
    args = ap.parse_args()
    out = RESULTS / "latent_imagenette.json"
    if not args.reuse:
        from neuralcodecs.downstream.train_latent import train_point_classifier

        runs = Path(args.runs)
        runs.mkdir(parents=True, exist_ok=True)
        class_map = read_class_map(IMAGENETTE / "SOURCE.txt")
        train_files = imagenette_files("train", args.train_limit)
        labels = [class_map[p.parent.name] for p in train_files]
        from neuralcodecs.shards import read_manifest

        shards = {(m.codec, m.quality): m for m in map(read_manifest, args.shards)}
        weights, points = [], {}
        for point in args.point:
            codec, qualities = parse_codec_arg(point)
            if not qualities or len(qualities) != 1:
                raise SystemExit(f"--point {point}: give one quality, CODEC:QUALITY")
            quality = qualities[0]
            manifest = shards.get((codec, float(quality)))
            # keyed by the codec's weights and the training set: retrained codecs or smoke runs never reuse a stale file
            key = f"{codec}-q{quality:g}-{load_codec(codec).fingerprint.hex()[:12]}-n{len(train_files)}"
            if manifest is not None:
                key = f"{codec}-q{quality:g}-{manifest.weights_fingerprint[:12]}-n{manifest.samples // (2 if manifest.mirror else 1)}-shards"
            for domain in ("latent", "pixel"):
                path = runs / f"{key}{'' if domain == 'latent' else '-pixel'}.safetensors"
                if not path.exists() and args.domain in (domain, "both"):
                    from_shards = {"shards": manifest.folder, "class_map": class_map} if manifest is not None else {}
                    train_point_classifier(
                        codec, quality, train_files, labels, MOBILENET, path, domain, args.distill_epochs,
                        args.finetune_epochs, cache=runs / f"{key}{'' if domain == 'latent' else '-pixel'}.examples.pt",
                        **from_shards)
                if path.exists():
                    weights.append(path)
            points.setdefault(codec, []).append(quality)
        specs = [(codec, sorted(qualities)) for codec, qualities in points.items()]
        if args.train_only:
            return 0
        result = run_evaluation(
            IMAGENETTE / "val", specs + ANCHORS, jobs=args.jobs, limit=args.limit,
            classifier_factory=MobileNetClassifier.factory(MOBILENET), labels_for=folder_labels(IMAGENETTE / "SOURCE.txt"),
            point_classifier_paths=tuple(weights),
        )
        result["latent_classifiers"] = {str(p): json.loads(sidecar_path(p).read_text()) for p in weights}
        atomic_write_bytes(out, json.dumps(result, indent=1).encode(), overwrite=True)
    result = json.loads(out.read_text())
    text = table(result)
    (RESULTS / "latent_imagenette.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
