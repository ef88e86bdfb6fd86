"""Compression for machines on Imagenette: the supervised ``student`` codec against image codecs
followed by MobileNetV2, in one evaluation run.

Every path classifies the 1000 Imagenette val images (never used for training or tuning) over the
1000 ImageNet classes, from the same kind of real files, and reports top-1, agreement with the
uncompressed image's prediction (pretrained MobileNetV2) and milliseconds per image:

* ``student`` at every rate level: the file decodes straight to class probabilities
  (encode + entropy coding + decoder + tail);
* JPEG, WebP and AVIF sweeps, decoded and classified by the pretrained MobileNetV2 (ImageNet
  preprocessing) and, at one point each (``--tuned CODEC:Q``), by a MobileNetV2 fine-tuned on
  that point's decoded pixels (the fair baseline: same images, labels, soft targets and epochs as
  every other trained classifier here; :mod:`neuralcodecs.downstream.train_latent`);
* ``hyperprior`` and ``walloc`` at one point each (``--latent CODEC:Q``), their latents read by
  a latent-domain MobileNetV2 (no synthesis), and their decoded pixels by the pretrained model.

Classifiers are trained on Imagenette train (2500 images and their mirror images) into ``--runs``
and reused from there.  The table names, for each anchor, its best top-1 and the bits it took,
and the student's bits at that top-1; ``docs/student_imagenette.png`` plots top-1 against bpp.

Usage: python benchmarks/student_imagenette.py [--train-only] [--jobs 2] [--limit N] [--reuse]
Outputs: benchmarks/results/student_imagenette.{json,md}, docs/student_imagenette.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from common import IMAGENETTE, MOBILENET, RESULTS, ROOT, imagenette_files, write_result  # noqa: E402

from neuralcodecs.atomic import atomic_write_bytes  # noqa: E402
from neuralcodecs.evaluation.common import parse_codec_arg  # noqa: E402
from neuralcodecs.evaluation.image import run_evaluation  # noqa: E402
from neuralcodecs.perception import MobileNetClassifier, folder_labels, read_class_map  # noqa: E402
from neuralcodecs.weightfiles import sidecar_path  # noqa: E402

OUT = RESULTS / "student_imagenette"
PLOT = ROOT / "docs" / "student_imagenette.png"
# AVIF (speed 4) takes about 0.25 s per picture here: four points keep the run inside the hour
ANCHORS = [("jpeg", [5.0, 10.0, 20.0, 50.0, 90.0]), ("webp", [0.0, 10.0, 30.0, 50.0, 90.0]), ("avif", [10.0, 30.0, 50.0, 70.0])]
LATENT_POINTS = ["hyperprior:2", "walloc:2"]
TUNED_POINTS = ["jpeg:10", "webp:10", "avif:30"]
# (result prefix, what it reads, which model)
PATHS = (("task_", "file", "student"), ("", "decoded pixels", "pretrained"), ("tuned_", "decoded pixels", "fine-tuned"),
         ("latent_", "latents", "fine-tuned"))


def train_classifiers(latent_points: list[str], tuned_points: list[str], runs: Path, train_limit: int | None) -> list[Path]:
    """Train (or find in ``runs``) one classifier per point; returns their weights files."""
    from neuralcodecs.downstream.train_latent import point_codec, train_point_classifier

    runs.mkdir(parents=True, exist_ok=True)
    class_map = read_class_map(IMAGENETTE / "SOURCE.txt")
    train_files = imagenette_files("train", train_limit)
    labels = [class_map[p.parent.name] for p in train_files]
    weights = []
    for domain, points in (("latent", latent_points), ("pixel", tuned_points)):
        for point in points:
            codec, qualities = parse_codec_arg(point)
            if not qualities or len(qualities) != 1:
                raise SystemExit(f"{point}: give one quality, CODEC:QUALITY")
            fingerprint = point_codec(codec).fingerprint
            # keyed by the codec's weights and the training set: a retrained codec never reuses a stale file
            key = f"{codec}-q{qualities[0]:g}-{fingerprint.hex()[:12] if fingerprint else 'anchor'}-n{len(train_files)}-{domain}"
            path = runs / f"{key}.safetensors"
            if not path.exists():
                print(f"training the {domain} classifier of {point}", flush=True)
                train_point_classifier(codec, qualities[0], train_files, labels, MOBILENET, path, domain)
            weights.append(path)
    return weights


def coding_overhead(files: list[Path]) -> list[dict]:
    """Per student level, over ``files``: the whole file, its payload and the ideal code length of
    the symbols under the coder's own tables (``Latents.bits``), in bits per image."""
    import neuralcodecs as nc
    from neuralcodecs.bitstream import unpack
    from neuralcodecs.image.io import load_image

    import torch

    from neuralcodecs.image.base import pixels_to_tensor
    from neuralcodecs.perception import imagenet_normalize

    codec = nc.load_codec("student")
    out = []
    for q in codec.quality.sweep:
        whole, payload, ideal, model = [], [], [], []
        for path in files:
            pixels = load_image(path)[0]
            data = codec.encode(pixels, quality=q)
            whole.append(8 * len(data))
            payload.append(8 * sum(len(s) for s in unpack(data)[1]))
            ideal.append(float(codec.latents(data).bits.sum()))
            with torch.no_grad():  # the float model's estimate: -sum log2 of its likelihoods of the rounded latents
                x = imagenet_normalize(pixels_to_tensor(pixels, 4, torch.device("cpu")))
                model.append(float(-torch.log2(codec.model.bottleneck(x, int(q) - 1)[1]).sum()))
        out.append({"quality": q, "file_bits": float(np.mean(whole)), "payload_bits": float(np.mean(payload)),
                    "ideal_bits": float(np.mean(ideal)), "model_bits": float(np.mean(model)),
                    "payload_over_ideal_pct": 100 * (np.sum(payload) / np.sum(ideal) - 1),
                    "payload_over_model_pct": 100 * (np.sum(payload) / np.sum(model) - 1)})
    return out


def rows(result: dict) -> list[dict]:
    """One row per (codec, quality, path) that was measured."""
    out = []
    for curve in result["curves"]:
        r = curve["results"]
        for prefix, reads, model in PATHS:
            if f"{prefix}top1" not in r:
                continue
            for i, q in enumerate(r["quality"]):
                top1 = r[f"{prefix}top1"][i]
                if top1 is None:
                    continue
                decode_ms = 0.0 if prefix == "latent_" else 1000 * r["decoding_time"][i]
                out.append({"codec": curve["name"], "quality": q, "reads": reads, "model": model, "bpp": r["bpp"][i],
                            "top1": top1, "agreement": r[f"{prefix}agreement"][i],
                            "ms": 1000 * r["encoding_time"][i] + decode_ms + (0.0 if prefix == "task_" else 1000 * r[f"{prefix}time"][i])})
    return out


def table(result: dict) -> str:
    lines = [f"Imagenette val, {result['uncompressed']['images']} images, top-1 over the 1000 ImageNet classes; "
             f"pretrained MobileNetV2 on the uncompressed images: {100 * result['uncompressed']['top1']:.1f}%. "
             "ms per image on this CPU: encode + entropy coding + decode (if any) + classify.", "",
             "| codec | quality | bpp | reads | classifier | top-1 | agreement | ms per image |",
             "|---|---:|---:|---|---|---:|---:|---:|"]
    all_rows = rows(result)
    for row in all_rows:
        lines.append(f"| {row['codec']} | {row['quality']:g} | {row['bpp']:.3f} | {row['reads']} | {row['model']} | "
                     f"{100 * row['top1']:.1f}% | {100 * row['agreement']:.1f}% | {row['ms']:.0f} |")
    if result.get("coding_overhead"):
        lines += ["", f"Student files against the model's estimate ({result['coding_overhead_images']} val images, bits per "
                  "image): the float model's -sum log2 of its likelihoods, the ideal code length under the coder's integer "
                  "tables, the entropy-coded payload, and the whole file (header: codec name, weights fingerprint, size, CRCs).", "",
                  "| level | float model | integer tables | payload | payload vs model | whole file |", "|---:|---:|---:|---:|---:|---:|"]
        for o in result["coding_overhead"]:
            lines.append(f"| {o['quality']:g} | {o['model_bits']:.0f} | {o['ideal_bits']:.0f} | {o['payload_bits']:.0f} | "
                         f"{o['payload_over_model_pct']:+.1f}% | {o['file_bits']:.0f} |")
    student = {r["quality"]: r for r in all_rows if r["codec"] == "student"}
    if student:
        lines += ["", "The student's bits against each anchor path's best top-1 (the student's bpp at that top-1 is "
                  "interpolated on its curve; n/a: the student does not reach it):", "",
                  "| anchor path | its best top-1 | at bpp | student bpp at that top-1 | ratio |", "|---|---:|---:|---:|---:|"]
        curve = {"bpp": [r["bpp"] for r in student.values()], "top1": [r["top1"] for r in student.values()]}
        for (codec, model), group in _groups(all_rows).items():
            if codec == "student":
                continue
            best = max(group, key=lambda r: (r["top1"], -r["bpp"]))
            need = _bpp_at(curve, best["top1"])
            # reached already at the student's lowest rate: the bits it needs are at most that
            bound = need is not None and need == min(curve["bpp"]) and curve["top1"][curve["bpp"].index(need)] > best["top1"]
            if need is None:
                cell, ratio = "n/a", "n/a"
            else:
                factor = best["bpp"] / need
                cell = f"{'<= ' if bound else ''}{need:.3f}"
                ratio = (f"{'>= ' if bound else ''}{factor:.1f}x fewer bits" if factor >= 1
                         else f"{1 / factor:.1f}x more bits")
            lines.append(f"| {codec}, {model} | {100 * best['top1']:.1f}% | {best['bpp']:.3f} | {cell} | {ratio} |")
    return "\n".join(lines)


def _groups(all_rows: list[dict]) -> dict:
    groups: dict = {}
    for r in all_rows:
        groups.setdefault((r["codec"], f"{r['reads']}, {r['model']}"), []).append(r)
    return groups


def _bpp_at(curve: dict, top1: float) -> float | None:
    """The smallest bpp at which the (bpp, top-1) curve reaches ``top1`` (log-bpp interpolation)."""
    order = np.argsort(curve["bpp"])
    bpp, acc = np.asarray(curve["bpp"])[order], np.asarray(curve["top1"])[order]
    for i in range(len(bpp)):
        if acc[i] >= top1:
            if i == 0:
                return float(bpp[0])
            t = (top1 - acc[i - 1]) / (acc[i] - acc[i - 1])
            return float(np.exp(np.log(bpp[i - 1]) + t * (np.log(bpp[i]) - np.log(bpp[i - 1]))))
    return None


def plot(result: dict) -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for (codec, model), group in _groups(rows(result)).items():
        group = sorted(group, key=lambda r: r["bpp"])
        style = "-o" if len(group) > 1 else "s"
        ax.plot([r["bpp"] for r in group], [100 * r["top1"] for r in group], style, label=f"{codec} ({model})",
                linewidth=2.5 if codec == "student" else 1.2)
    ax.axhline(100 * result["uncompressed"]["top1"], color="grey", linestyle=":", label="uncompressed, pretrained")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (whole file)")
    ax.set_ylabel("top-1 over 1000 ImageNet classes [%]")
    ax.set_title(f"Imagenette val ({result['uncompressed']['images']} images)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--latent", action="append", metavar="CODEC:Q", help=f"latent classifiers (default {LATENT_POINTS})")
    ap.add_argument("--tuned", action="append", metavar="CODEC:Q", help=f"fine-tuned pixel classifiers (default {TUNED_POINTS})")
    ap.add_argument("--limit", type=int, help="evaluate on an evenly spaced subset of the val images")
    ap.add_argument("--train-limit", type=int, help="train on an evenly spaced subset (smoke tests)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "student_eval"), help="classifier weights")
    ap.add_argument("--train-only", action="store_true", help="train the missing classifiers and stop")
    ap.add_argument("--jobs", type=int, default=1, help="evaluation worker processes")
    ap.add_argument("--reuse", action="store_true", help="rewrite the table and plot of an existing result")
    args = ap.parse_args()
    if not args.reuse:
        latent, tuned = args.latent or LATENT_POINTS, args.tuned or TUNED_POINTS
        weights = train_classifiers(latent, tuned, Path(args.runs), args.train_limit)
        if args.train_only:
            return 0
        learned = {}
        for point in latent:
            codec, qualities = parse_codec_arg(point)
            learned.setdefault(codec, []).extend(qualities)
        anchors = {name: list(qs) for name, qs in ANCHORS}
        for point in tuned:
            codec, qualities = parse_codec_arg(point)
            anchors[codec] = sorted(set(anchors.get(codec, [])) | set(qualities))
        specs = [("student", None)] + [(c, sorted(q)) for c, q in learned.items()] + list(anchors.items())
        result = run_evaluation(
            IMAGENETTE / "val", specs, jobs=args.jobs, limit=args.limit, classifier_factory=MobileNetClassifier.factory(MOBILENET),
            labels_for=folder_labels(IMAGENETTE / "SOURCE.txt"), point_classifier_paths=tuple(weights),
            partial=OUT.with_suffix(".partial.jsonl"),
        )
        result["classifiers"] = {Path(p).name: json.loads(sidecar_path(p).read_text()) for p in weights}
        sample = imagenette_files("val", 100)
        result["coding_overhead"], result["coding_overhead_images"] = coding_overhead(sample), len(sample)
        OUT.with_suffix(".partial.jsonl").unlink(missing_ok=True)
    else:
        result = json.loads(OUT.with_suffix(".json").read_text())
    text = table(result)
    write_result(OUT, result, text + "\n")
    atomic_write_bytes(PLOT, plot(result), overwrite=True)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
