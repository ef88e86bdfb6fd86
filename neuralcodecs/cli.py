"""The ``ncodec`` command.

``ncodec list | encode | decode | info | train | export | demo | eval | plot``; ``ncodec
COMMAND --help`` documents each.  Every user error prints ``error: ...`` and exits with 2;
outputs are written atomically and an existing output is kept unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import CodecArgumentError, NeuralCodecsError


def _refuse_existing(paths: list[Path], force: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise CodecArgumentError(f"output exists: {', '.join(existing)} (pass --force to overwrite)")


# --------------------------------------------------------------------------- commands


def cmd_list(args) -> int:
    from . import registry

    for name in registry.names():
        entry = registry.spec(name)
        shipped = "weights shipped" if entry.weights_path.exists() else "no weights shipped"
        print(f"{name:12s} {entry.kind:6s} {shipped:18s} {entry.description}")
    from .anchors import ANCHORS

    print("anchors (eval/plot): " + ", ".join(ANCHORS))
    return 0


def cmd_encode(args) -> int:
    from . import ratecontrol, registry
    from .bitstream import read_header
    from .atomic import atomic_write_bytes

    out = Path(args.output)
    _refuse_existing([out], args.force)
    codec = registry.load(args.codec, args.weights, args.device)
    chosen = [v is not None for v in (args.quality, args.target_bpp, args.max_bytes)]
    if sum(chosen) > 1:
        raise CodecArgumentError("give at most one of --quality, --target-bpp, --max-bytes")
    if args.target_bpp is not None or args.max_bytes is not None:
        result = ratecontrol.encode_to_budget(
            codec, args.input, target_bpp=args.target_bpp, max_bytes=args.max_bytes, alpha=args.alpha
        )
        data, quality = result.data, result.quality
    else:
        quality = args.quality if args.quality is not None else codec.default_quality
        data = codec.encode(args.input, quality=quality, alpha=args.alpha)
    atomic_write_bytes(out, data)
    header = read_header(data)
    bpp = len(data) * 8 / (header.width * header.height)
    print(f"{out}: {len(data)} bytes, {bpp:.4f} bpp, {header.width}x{header.height}, {args.codec} quality {quality:g}")
    return 0


def cmd_decode(args) -> int:
    from . import decode
    from .image.io import save_png

    out = Path(args.output)
    _refuse_existing([out], args.force)
    try:
        data = Path(args.input).read_bytes()
    except OSError as exc:
        raise CodecArgumentError(f"cannot read {args.input}: {exc}") from None
    pixels = decode(data, weights=args.weights, device=args.device)
    save_png(out, pixels)
    print(f"{out}: {pixels.shape[1]}x{pixels.shape[0]} PNG")
    return 0


def cmd_info(args) -> int:
    from .bitstream import COLOR_FORMATS, ENTROPY_CODERS, unpack

    try:
        data = Path(args.input).read_bytes()
    except OSError as exc:
        raise CodecArgumentError(f"cannot read {args.input}: {exc}") from None
    header, sections = unpack(data)
    info = {
        "file": str(args.input),
        "bytes": len(data),
        "format_version": header.version,
        "codec": header.codec,
        "config": header.config,
        "weights_fingerprint": header.fingerprint.hex(),
        "entropy_coder": ENTROPY_CODERS[header.coder],
        "width": header.width,
        "height": header.height,
        "frames": header.frames,
        "frame_rate": list(header.fps),
        "color": COLOR_FORMATS[header.color],
        "sections": [len(s) for s in sections],
        "bpp": len(data) * 8 / (header.width * header.height * header.frames),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:20s} {value}")
    return 0


def cmd_train(args) -> int:
    from .registry import trainable_model_builder
    from .train import TrainConfig, train

    cfg = TrainConfig(
        codec=args.codec,
        data=args.data,
        out=args.out,
        steps=args.steps,
        batch_size=args.batch_size,
        crop=args.crop,
        lr=args.lr,
        lr_decay_steps=args.lr_decay_steps,
        precision=args.precision,
        device=args.device,
        threads=args.threads,
        seed=args.seed,
        save_every=args.save_every,
        log_every=args.log_every,
        resume=args.resume,
        model_args=json.loads(args.model_args),
    )
    last = train(cfg, trainable_model_builder(args.codec))
    print(json.dumps(last))
    return 0


def cmd_export(args) -> int:
    if args.codec != "hyperprior":
        raise CodecArgumentError(f"export is implemented for hyperprior, not {args.codec!r}")
    from .image.hyperprior_codec import export_from_checkpoint

    _refuse_existing([Path(args.output)], args.force)
    report = export_from_checkpoint(args.checkpoint, args.output, args.calibration_data)
    print(json.dumps(report, indent=2))
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(out_dir=args.out, quality=args.quality, force=args.force, device=args.device)


def cmd_eval(args) -> int:
    from .evaluate import run_eval_cli

    return run_eval_cli(args)


def cmd_plot(args) -> int:
    from .plot import run_plot_cli

    return run_plot_cli(args)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ncodec", description="learned image and video codecs (neuralcodecs)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list codecs and anchors")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("encode", help="encode an image into a .ncb file")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--codec", default="hyperprior")
    s.add_argument("--quality", type=float, help="codec quality (hyperprior: 1..8, fractional ok)")
    s.add_argument("--target-bpp", type=float, help="pick the quality whose rate is nearest this bpp")
    s.add_argument("--max-bytes", type=int, help="highest quality whose file fits this many bytes")
    s.add_argument("--alpha", choices=["refuse", "composite"], default="refuse", help="transparent images")
    s.add_argument("--weights", help="weights file (default: the shipped one)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--force", action="store_true", help="overwrite an existing output")
    s.set_defaults(func=cmd_encode)

    s = sub.add_parser("decode", help="decode a .ncb file to PNG")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--weights", help="weights file (default: the shipped one)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_decode)

    s = sub.add_parser("info", help="print a .ncb file's header")
    s.add_argument("input")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("train", help="train a learned codec on image folders")
    s.add_argument("--codec", default="hyperprior")
    s.add_argument("--data", nargs="+", required=True, help="training image folders (never Kodak)")
    s.add_argument("--out", required=True, help="run folder: checkpoint.pt and log.jsonl")
    s.add_argument("--steps", type=int, default=100_000)
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument("--crop", type=int, default=256)
    s.add_argument("--lr", type=float, default=1e-4)
    s.add_argument("--lr-decay-steps", type=int, nargs="*", default=[])
    s.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--save-every", type=int, default=1000)
    s.add_argument("--log-every", type=int, default=50)
    s.add_argument("--resume", action="store_true")
    s.add_argument("--model-args", default="{}", help='JSON, e.g. \'{"N": 128, "M": 192}\'')
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="freeze a training checkpoint into a weights file")
    s.add_argument("checkpoint")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--codec", default="hyperprior")
    s.add_argument("--calibration-data", nargs="+", required=True, help="training folders for calibration")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("demo", help="encode a bundled photo and compare with JPEG and WebP")
    s.add_argument("--out", help="output folder (default: a new ./ncodec-demo folder)")
    s.add_argument("--quality", type=float, default=None)
    s.add_argument("--device", default="cpu")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_demo)

    from .evaluate import add_eval_arguments
    from .plot import add_plot_arguments

    s = sub.add_parser("eval", help="rate-distortion (or machine-perception) evaluation on an image folder")
    add_eval_arguments(s)
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("plot", help="plot rate-distortion curves and print a BD-rate table")
    add_plot_arguments(s)
    s.set_defaults(func=cmd_plot)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except NeuralCodecsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
