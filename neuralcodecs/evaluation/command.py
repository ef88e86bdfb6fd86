"""``ncodec eval``: checks every argument, then runs the image (:mod:`.image`) or the video
(:mod:`.video`) evaluation and writes the result JSON.

Every point is written as it is measured to ``OUT.partial.jsonl`` beside the result ``OUT``; an
interrupted run given the same arguments again reads those points back and measures only the
rest (other arguments are refused; ``--force`` discards them and starts over).  The partial file
is removed once the result is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CodecArgumentError
from .common import parse_codec_arg, parse_metrics, partial_path
from .image import default_codec_args, list_dataset, run_evaluation


def run_eval_cli(args) -> int:
    """``ncodec eval``: every argument is checked before the first image (or frame) is coded.

    ``--dataset FOLDER`` evaluates image codecs on images; ``--video SOURCE`` (repeatable)
    evaluates video codecs and the video anchors on clips (:func:`_run_video_eval_cli`).
    """
    from ..cli_checks import check_input_file, check_output
    from ..devices import resolve_device

    out = check_output(args.json, args.force, suffixes=(".json",))
    metrics = parse_metrics(getattr(args, "metrics", None))
    partial = partial_path(out)
    videos = getattr(args, "video", None)
    if (args.dataset is None) == (not videos):
        raise CodecArgumentError("give exactly one of --dataset FOLDER (images) and --video SOURCE (clips)")
    if videos:
        return _run_video_eval_cli(args, out, metrics, partial)
    for flag in ("frames", "size", "fps"):
        if getattr(args, flag, None) is not None:
            raise CodecArgumentError(f"--{flag} applies to --video clips, not to an image --dataset")
    if args.limit is not None and args.limit < 1:
        raise CodecArgumentError(f"--limit must be a positive number of images, got {args.limit}")
    if args.jobs < 1:
        raise CodecArgumentError(f"--jobs must be at least 1, got {args.jobs}")
    resolve_device(args.device)
    list_dataset(args.dataset, args.limit)
    codec_args = [parse_codec_arg(c) for c in (args.codec or default_codec_args())]
    classifier_factory = labels_for = None
    if args.task == "classify":
        from ..perception import MobileNetClassifier, folder_labels

        if not args.classifier_weights or not args.class_map:
            raise CodecArgumentError("--task classify needs --classifier-weights and --class-map")
        check_input_file(args.classifier_weights, "classifier weights")
        check_input_file(args.class_map, "class map")
        classifier_factory = MobileNetClassifier.factory(args.classifier_weights)
        labels_for = folder_labels(args.class_map)
    if args.domain != "pixel" and (args.task != "classify" or not args.latent_classifier):
        raise CodecArgumentError("--domain latent|both needs --task classify and at least one --latent-classifier")
    if args.domain == "pixel" and args.latent_classifier:
        raise CodecArgumentError("--latent-classifier needs --domain latent or both")
    if args.pixel_classifier and (args.task != "classify" or args.domain == "latent"):
        raise CodecArgumentError("--pixel-classifier needs --task classify and --domain pixel or both")
    from ..downstream.train_latent import KINDS
    from ..weightfiles import read_metadata

    for flag, domain in (("latent_classifier", "latent"), ("pixel_classifier", "pixel")):
        for path in getattr(args, flag) or []:
            check_input_file(path, f"{domain} classifier weights")
            if read_metadata(path).get("kind") != KINDS[domain]:
                raise CodecArgumentError(f"--{flag.replace('_', '-')} {path} is not a {KINDS[domain]}")
    identity = {"classifier_weights": str(Path(args.classifier_weights).resolve()) if args.classifier_weights else None}
    result = run_evaluation(
        args.dataset, codec_args, args.device, args.jobs, args.limit, classifier_factory, labels_for,
        point_classifier_paths=tuple(args.latent_classifier or ()) + tuple(args.pixel_classifier or ()),
        pixel_domain=args.domain != "latent", metrics=metrics, partial=partial, restart=args.force, identity=identity,
    )
    return _write_result(out, result, args.force, partial)


def _write_result(out: Path, result: dict, force: bool, partial: Path | None = None) -> int:
    """Write the result JSON atomically (then remove the partial results) and print one
    ``bpp/PSNR`` line per curve."""
    from ..atomic import atomic_write_bytes

    atomic_write_bytes(out, json.dumps(result, indent=1).encode(), overwrite=force)
    if partial is not None:
        partial.unlink(missing_ok=True)
    for curve in result["curves"]:
        r = curve["results"]
        if "psnr-rgb" in r:
            pts = ", ".join(f"{b:.3f}/{p:.2f}" for b, p in zip(r["bpp"], r["psnr-rgb"]))
            print(f"{curve['name']:10s} bpp/PSNR: {pts}")
        else:  # a features codec: its own task's top-1
            pts = ", ".join(f"{b:.3f}/{100 * t:.1f}%" for b, t in zip(r["bpp"], r["task_top1"]))
            print(f"{curve['name']:10s} bpp/top-1: {pts}")
    print(f"wrote {out}")
    return 0


def _run_video_eval_cli(args, out: Path, metrics: tuple[str, ...], partial: Path) -> int:
    """``ncodec eval --video SOURCE ...``: refuses the image-only options, then evaluates.

    Without ``--codec`` the three video anchors run (the image default list does not apply).
    """
    from ..devices import resolve_device
    from .video import VIDEO_ANCHORS, run_video_evaluation

    if args.task != "rd":
        raise CodecArgumentError(f"--task {args.task} evaluates image folders; with --video only --task rd is available")
    image_only = [("--limit", args.limit is not None), ("--jobs", args.jobs != 1), ("--domain", args.domain != "pixel"),
                  ("--classifier-weights", bool(args.classifier_weights)), ("--class-map", bool(args.class_map)),
                  ("--latent-classifier", bool(args.latent_classifier)), ("--pixel-classifier", bool(args.pixel_classifier))]
    given = [flag for flag, used in image_only if used]
    if given:
        hint = " (use --frames N to shorten clips)" if "--limit" in given else ""
        raise CodecArgumentError(f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} to image folders (--dataset), not to --video{hint}")
    if args.frames is not None and args.frames < 1:
        raise CodecArgumentError(f"--frames must be a positive number of frames, got {args.frames}")
    resolve_device(args.device)
    codec_args = [parse_codec_arg(c) for c in (args.codec or VIDEO_ANCHORS)]
    result = run_video_evaluation(args.video, codec_args, frames=args.frames, size=args.size, fps=args.fps,
                                  device=args.device, metrics=metrics, partial=partial,
                                  restart=args.force)  # checks every codec, quality and clip before coding
    return _write_result(out, result, args.force, partial)
