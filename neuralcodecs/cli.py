"""The ``ncodec`` command.

``ncodec list | encode | encode-dataset | decode | info | latents | tokens | train | export | demo | eval | plot``;
``ncodec COMMAND --help`` documents each.  Every failure prints one ``error: ...`` line and
exits with status 2, after checks that run before the work where they can (outputs,
devices, folders, arguments); outputs are written atomically, an existing output is kept
unless ``--force`` is given, and a failed command leaves no empty folder or temporary file.
Commands dispatch on the codec contract (:mod:`neuralcodecs.codec`) and the registry, never
on a codec's name.  ``list`` and ``info`` do not import torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import CodecArgumentError, NeuralCodecsError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line (exit status 2), like every other."""

    def error(self, message):  # noqa: D401 - argparse's hook
        print(f"error: {self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _read_input(path) -> bytes:
    from .cli_checks import check_input_file

    try:
        return check_input_file(path).read_bytes()
    except OSError as exc:
        raise CodecArgumentError(f"cannot read {path}: {exc.strerror or exc}") from None


def _codec_options(args, spec) -> dict:
    """The declared options of ``spec`` that were given on the command line (a fitting state file is
    checked to be one before any codec is loaded)."""
    from . import registry

    given = {}
    declared = {o.name for o in spec.options}
    for option in registry.all_options():
        value = getattr(args, option.name, None)
        if value is None:
            continue
        if option.name not in declared:
            raise CodecArgumentError(f"codec {spec.name!r} has no option {option.flag}")
        given[option.name] = value
    if given.get("fit_state"):
        from pathlib import Path

        from .statefile import read_metadata

        if Path(given["fit_state"]).exists():
            read_metadata(given["fit_state"])  # StateFileError for anything but a state (never unpickled)
    return given


# --------------------------------------------------------------------------- commands


def cmd_list(args) -> int:
    """Every codec: kind, quality, options and what each effort level costs, where the weights come
    from, the headline measured result (:mod:`neuralcodecs.catalog`; no torch)."""
    from .catalog import describe_all, format_text

    catalog = describe_all()
    print(json.dumps(catalog, indent=1) if args.json else format_text(catalog))
    return 0


def cmd_encode(args) -> int:
    from . import registry
    from .atomic import atomic_write_bytes
    from .bitstream import read_header
    from .cli_checks import check_output

    out = check_output(args.output, args.force, suffixes=(".ncb",))
    name = args.codec or registry.default_codec("video" if _looks_like_video(args.input) else "image")
    spec = registry.spec(name)
    if spec.kind == "video":
        data, quality = _encode_video(args, name, spec)
    else:
        data, quality = _encode_image(args, name, spec)
    atomic_write_bytes(out, data, overwrite=args.force)
    header = read_header(data)
    bpp = len(data) * 8 / (header.width * header.height * header.frames)
    frames = f" x {header.frames} frames" if header.frames > 1 else ""
    chosen = f"quality {quality:g}" if quality is not None else "its default quality for this input"
    print(f"{out}: {len(data)} bytes, {bpp:.4f} bpp, {header.width}x{header.height}{frames}, {name} {chosen}")
    return 0


def _encode_image(args, name: str, spec) -> tuple[bytes, float]:
    from . import ratecontrol, registry
    from .cli_checks import check_input_file

    check_input_file(args.input)
    if args.size is not None or args.fps is not None:
        raise CodecArgumentError("--size and --fps are for video codecs (raw .yuv input)")
    options = _codec_options(args, spec)
    chosen = [v is not None for v in (args.quality, args.target_bpp, args.max_bytes)]
    if sum(chosen) > 1:
        raise CodecArgumentError("give at most one of --quality, --target-bpp, --max-bytes")
    if args.quality is not None:
        spec.quality.check(args.quality)
    from .image.io import load_image

    load_image(args.input, alpha=args.alpha)  # an unusable image is refused before any codec is loaded
    codec = registry.load(name, args.weights, args.device)
    if args.target_bpp is not None or args.max_bytes is not None:
        result = ratecontrol.encode_to_budget(
            codec, args.input, target_bpp=args.target_bpp, max_bytes=args.max_bytes, alpha=args.alpha, **options
        )
        return result.data, result.quality
    quality = args.quality if args.quality is not None else codec.quality.default
    # codecs whose encoding takes long (fitting, latent refinement) show its progress and time estimate
    return codec.encode(args.input, quality=quality, alpha=args.alpha, progress=True, **options), quality


def cmd_encode_dataset(args) -> int:
    """An image folder or file list -> WebDataset shards of .ncb files and a manifest (:mod:`neuralcodecs.shards`)."""
    import time

    from . import registry
    from .shards.writer import encode_dataset

    name = args.codec or registry.default_codec("image")
    if args.quality is not None:
        registry.spec(name).quality.check(args.quality)  # before any image is listed or codec loaded
    started = time.perf_counter()
    manifest = encode_dataset(args.source, args.output, name, args.quality, shard_size=args.shard_size,
                              jobs=args.jobs if args.jobs is not None else (1 if args.engine == "local" else None),
                              engine=args.engine, mirror=args.mirror, force=args.force, progress=True)
    seconds = time.perf_counter() - started
    print(json.dumps({"output": str(args.output), "codec": manifest.codec, "quality": manifest.quality,
                      "samples": manifest.samples, "shards": len(manifest.shards),
                      "bytes": sum(r.bytes for r in manifest.shards), "seconds": round(seconds, 2)}))
    return 0


VIDEO_INPUT_SUFFIXES = (".y4m", ".yuv", ".mp4", ".mkv", ".mov", ".avi", ".webm")


def _looks_like_video(path: str) -> bool:
    """A folder (of frames), a video file suffix or an image file of several frames: ``ncodec encode``
    then defaults to a video codec."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir() or p.suffix.lower() in VIDEO_INPUT_SUFFIXES:
        return True
    if p.suffix.lower() in (".gif", ".tif", ".tiff", ".webp", ".png", ".apng") and p.is_file():
        from PIL import Image

        from .image.io import INPUT_FORMATS, frame_count

        try:
            with Image.open(p, formats=INPUT_FORMATS) as img:  # an animation or a multi-page file is a clip
                return frame_count(img) > 1
        except (OSError, ValueError, SyntaxError):
            return False  # the image codec's reader names the problem
    return False


def _encode_video(args, name: str, spec) -> tuple[bytes, float]:
    from pathlib import Path

    from . import registry
    from .inr.options import SIZE_UNIT, looks_like_model_size, parse_model_size

    if not Path(args.input).exists():
        raise CodecArgumentError(f"input not found: {args.input}")
    if args.target_bpp is not None or args.max_bytes is not None:
        raise CodecArgumentError("--target-bpp and --max-bytes are not offered for video codecs yet; give --quality")
    if args.alpha != "refuse":
        raise CodecArgumentError("--alpha is for images")
    options = _codec_options(args, spec)
    quality, size = args.quality, args.size
    if looks_like_model_size(size):  # --size 0.3M: a model size (overfitted codecs), not a raw clip's WxH
        if spec.quality.unit != SIZE_UNIT:
            raise CodecArgumentError(f"--size {size} is a model size; codec {name!r} has none (--size WxH is for raw .yuv)")
        if quality is not None:
            raise CodecArgumentError("give the model size once: --size 0.3M or --quality 0.3")
        quality, size = parse_model_size(size), None
    if quality is not None:
        spec.quality.check(quality)
    codec = registry.load(name, args.weights, args.device)
    return codec.encode(args.input, quality=quality, size=size, fps=args.fps, progress=True, **options), quality


def _check_video_output(args):
    """The output of a video decode, checked before any work: a writable .mp4/.mkv/.y4m file, or a
    folder of PNG frames (no suffix) that can be created (or, with ``--force``, refilled)."""
    from pathlib import Path

    from .cli_checks import check_output, check_output_folder

    out = Path(args.output)
    if out.suffix:
        return check_output(out, args.force, suffixes=(".mp4", ".mkv", ".y4m"))
    if out.exists() and not args.force:
        raise CodecArgumentError(f"output exists: {out} (pass --force to overwrite)")
    return check_output_folder(out)


def cmd_decode(args) -> int:
    from . import decode, registry
    from .bitstream import check_image_stream, check_video_stream, unpack
    from .budget import Budget
    from .cli_checks import check_output
    from .frame_selection import parse_frames, wanted_frames

    budget = Budget.of(args.max_pixels, args.max_memory, args.max_compute)
    frames = parse_frames(args.frames) if args.frames is not None else None
    data = _read_input(args.input)
    header, sections = unpack(data)
    # the codec's kind decides the output, after the header is checked against that kind's rules
    # (FORMAT.md, "Image and video streams"): before any output check or decoding work
    if registry.spec(header.codec).kind == "video":
        check_video_stream(header)
        if args.restore_lost is not None or args.simulate_loss is not None:
            raise CodecArgumentError("--restore-lost and --simulate-loss are for codebook image codecs")
        out = _check_video_output(args)
        if frames is not None:
            wanted_frames(frames, header.frames)  # checked against the header before any codec is loaded
        pixels = decode(data, weights=args.weights, device=args.device, frames=frames, progress=True,
                        max_pixels=budget.max_pixels, max_memory=budget.max_memory, max_compute=budget.max_compute)
        from .video.io import write_video

        write_video(out, pixels, fps=f"{header.fps[0]}/{header.fps[1]}", overwrite=args.force)
        print(f"{out}: {pixels.shape[0]} frames of {pixels.shape[2]}x{pixels.shape[1]}")
        return 0
    check_image_stream(header)
    if args.frames is not None:
        raise CodecArgumentError("--frames is for video streams")
    if registry.spec(header.codec).kind == "features":
        return _decode_features(args, data, budget)
    if args.output is None:
        raise CodecArgumentError("give the output image: -o OUT.png")
    out = check_output(args.output, args.force)
    from .image.io import output_format, save_image

    output_format(out)  # refuse an extension we cannot write before decoding
    lost = _loss_mask(args, data)
    pixels = decode(data, weights=args.weights, device=args.device, restore_lost=lost, restore_method=args.restore_method,
                    max_pixels=budget.max_pixels, max_memory=budget.max_memory, max_compute=budget.max_compute)
    fmt = save_image(out, pixels, overwrite=args.force)
    print(f"{out}: {pixels.shape[1]}x{pixels.shape[0]} {fmt}")
    return 0


def _decode_features(args, data: bytes, budget, top: int = 5) -> int:
    """A ``features`` stream: print the most probable classes, or (``-o X.safetensors``) write every
    decoded output (:meth:`~neuralcodecs.codec.Codec.features`) as float32 tensors."""
    import numpy as np

    from . import features, registry
    from .bitstream import read_header
    from .cli_checks import check_output

    if args.restore_lost is not None or args.simulate_loss is not None:
        raise CodecArgumentError("--restore-lost and --simulate-loss are for codebook image codecs")
    out = check_output(args.output, args.force, suffixes=(".safetensors",)) if args.output is not None else None
    outputs = features(data, weights=args.weights, device=args.device, max_pixels=budget.max_pixels,
                       max_memory=budget.max_memory, max_compute=budget.max_compute)
    if out is not None:
        import torch
        from safetensors.torch import save

        from .atomic import atomic_write_bytes

        atomic_write_bytes(out, save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in outputs.items()}))
        print(f"{out}: " + ", ".join(f"{k} {tuple(v.shape)}" for k, v in outputs.items()))
        return 0
    header = read_header(data)
    names = registry.load(header.codec, args.weights, args.device, fingerprint=header.fingerprint).output_labels()
    probabilities = outputs["probabilities"]
    for k in np.argsort(-probabilities, kind="stable")[:top]:
        print(f"{probabilities[k]:.4f}  {k:4d}  {names[k]}")
    return 0


def _loss_mask(args, data: bytes):
    """The loss mask of ``--restore-lost MASK`` (.npy, or an image: nonzero = lost) or ``--simulate-loss F``."""
    import numpy as np

    if args.restore_lost is None and args.simulate_loss is None:
        return None
    if args.restore_lost is not None and args.simulate_loss is not None:
        raise CodecArgumentError("give --restore-lost or --simulate-loss, not both")
    if args.simulate_loss is not None:
        from . import registry
        from .bitstream import read_header
        from .transmission import drop_indices

        header = read_header(data)
        codec = registry.load(header.codec, args.weights, args.device, fingerprint=header.fingerprint)
        grid = codec.index_grid(header)  # from the header alone: no decoding twice
        if grid is None:
            raise CodecArgumentError("--simulate-loss needs a stream of a codebook codec (an index map)")
        return drop_indices(grid, args.simulate_loss, args.loss_seed)
    from .cli_checks import check_input_file

    path = check_input_file(args.restore_lost)
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, allow_pickle=False) != 0
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im.convert("L")) != 0
    except (OSError, ValueError) as exc:
        raise CodecArgumentError(f"cannot read loss mask {path}: {exc}") from None


def cmd_info(args) -> int:
    from .bitstream import COLOR_FORMATS, ENTROPY_CODERS, WHOLE_STREAM, open_stream
    from .cli_checks import check_input_file

    path = check_input_file(args.input)
    try:
        reader = open_stream(path)
    except OSError as exc:
        raise CodecArgumentError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        header = reader.header
        damaged = []
        sizes = []
        for i in range(len(header.section_frames)):
            try:
                sizes.append(len(reader.section(i)))
            except NeuralCodecsError as exc:
                damaged.append(str(exc))
                sizes.append(None)
    finally:
        reader.file.close()
    info = {
        "file": str(args.input),
        "bytes": reader.size,
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
        "sections": sizes,
        "section_frames": ["stream" if f == WHOLE_STREAM else f for f in header.section_frames],
        "keyframes": [f for f, _ in header.keyframes],
        "bpp": reader.size * 8 / (header.width * header.height * header.frames),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:20s} {value}")
    if damaged:
        raise CodecArgumentError("; ".join(damaged))
    return 0


def cmd_latents(args) -> int:
    from . import latents

    data = _read_input(args.input)
    lat = latents(data, weights=args.weights, device=args.device)
    summary = {
        "codec": lat.codec,
        "quality": lat.quality,
        "shape": list(lat.tensor.shape),
        "stride": list(lat.stride),
        "picture": [lat.height, lat.width],
        "bits_total": float(lat.bits.sum()) if lat.bits is not None else None,
        "file_bits": len(data) * 8,
    }
    if args.output:
        from .atomic import atomic_write_bytes
        from .cli_checks import check_output
        from safetensors.torch import save

        out = check_output(args.output, args.force, suffixes=(".safetensors",))
        tensors = {"latents": lat.tensor.contiguous()}
        if lat.bits is not None:
            tensors["bits"] = lat.bits.contiguous()
        atomic_write_bytes(out, save(tensors, metadata={k: json.dumps(v) for k, v in summary.items()}), overwrite=args.force)
        summary["written"] = str(out)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_tokens(args) -> int:
    from safetensors.torch import save

    from .adapter.core import tokens_from_file
    from .adapter.strategies import get_strategy, parse_budget
    from .atomic import atomic_write_bytes
    from .cli_checks import check_input_file, check_output

    out = check_output(args.output, args.force, suffixes=(".safetensors",))
    budget = parse_budget(args.budget) if args.budget is not None else None
    get_strategy(args.strategy)
    projector = None
    if args.projector:
        from .adapter.train_projector import load_projector

        check_input_file(args.projector, "token projector weights")
        projector, _ = load_projector(args.projector)
    visual = tokens_from_file(_read_input(args.input), projector, args.strategy, budget, weights=args.weights)
    tokens, positions = visual.sample(0)
    summary = {"codec": visual.codec, "strategy": visual.strategy, "budget": args.budget, "tokens": len(tokens),
               "dim": int(tokens.shape[1]), "grid": list(visual.grid), "projector": args.projector}
    held = visual.grid[0] * visual.grid[1] * visual.grid[2]
    if budget is not None and args.strategy == "all":
        summary["note"] = "strategy 'all' keeps every token: the budget is not applied"
    elif isinstance(budget, int) and budget > held:
        summary["note"] = f"the token grid holds only {held} tokens: all of them are kept"
    blob = save({"tokens": tokens.float().contiguous(), "positions": positions.contiguous()},
                metadata={k: json.dumps(v) for k, v in summary.items()})
    atomic_write_bytes(out, blob, overwrite=args.force)
    summary["written"] = str(out)
    print(json.dumps(summary, indent=2))
    return 0


def _model_args(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CodecArgumentError(f"--model-args is not JSON ({exc.msg}); e.g. '{{\"N\": 128, \"M\": 192}}'") from None
    if not isinstance(value, dict):
        raise CodecArgumentError("--model-args must be a JSON object, e.g. '{\"N\": 128}'")
    return value


def _check_training_folders(objective, folders) -> None:
    """Every folder exists, none is an evaluation set, and they hold what the objective trains on:
    images, or (video data kinds) sequences of two or more frames."""
    if objective.data in ("image_crops", "labelled_images"):
        from .data import list_images

        list_images(folders)
    else:
        from .video.training_data import list_sequences

        list_sequences(folders)


def cmd_train(args) -> int:
    from . import registry
    from .cli_checks import check_input_file, check_output_folder, folder_removed_if_empty_on_failure
    from .devices import resolve_device
    from .train import CHECKPOINT_NAME, TrainConfig, train

    name = args.codec or registry.default_codec()
    objective = registry.objective(name)
    model_args = _model_args(args.model_args)
    if args.teacher:  # supervised codecs: the pretrained network they learn from
        check_input_file(args.teacher, "teacher weights")
        model_args["teacher"] = os.path.abspath(args.teacher)
    if args.class_map:
        check_input_file(args.class_map, "class map")
    for flag, value, low in (("--steps", args.steps, 1), ("--batch-size", args.batch_size, 1), ("--crop", args.crop, 16),
                             ("--save-every", args.save_every, 1), ("--log-every", args.log_every, 1)):
        if value < low:
            raise CodecArgumentError(f"{flag} must be at least {low}, got {value}")
    if not args.lr > 0:
        raise CodecArgumentError(f"--lr must be positive, got {args.lr}")
    if not 0 <= args.lr_final_factor <= 1:
        raise CodecArgumentError(f"--lr-final-factor must lie in [0, 1], got {args.lr_final_factor}")
    if not 0 <= args.ema_decay < 1:
        raise CodecArgumentError(f"--ema-decay must lie in [0, 1), got {args.ema_decay}")
    for flag, value in (("--warmup-steps", args.warmup_steps), ("--max-minutes", args.max_minutes),
                         ("--budget-minutes", args.budget_minutes), ("--clip-grad", args.clip_grad)):
        if value < 0:
            raise CodecArgumentError(f"{flag} must not be negative, got {value}")
    if args.init_from:
        check_input_file(args.init_from, "checkpoint")
    resolve_device(args.device)
    _check_training_folders(objective, args.data)
    out = check_output_folder(args.out)
    if args.resume and not (out / CHECKPOINT_NAME).is_file():
        raise CodecArgumentError(f"--resume given but {out / CHECKPOINT_NAME} does not exist")
    if not args.resume and (out / CHECKPOINT_NAME).exists():
        raise CodecArgumentError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
    try:
        objective.build(**model_args)
    except TypeError as exc:
        raise CodecArgumentError(f"--model-args do not fit codec {name!r}: {exc}") from None
    cfg = TrainConfig(
        codec=name, data=args.data, out=str(out), steps=args.steps, batch_size=args.batch_size, crop=args.crop,
        lr=args.lr, lr_decay_steps=args.lr_decay_steps, precision=args.precision, device=args.device,
        threads=args.threads, seed=args.seed, save_every=args.save_every, log_every=args.log_every,
        resume=args.resume, model_args=model_args, lr_schedule=args.lr_schedule, warmup_steps=args.warmup_steps,
        clip_grad=args.clip_grad, ema_decay=args.ema_decay, max_minutes=args.max_minutes, init_from=args.init_from,
        budget_minutes=args.budget_minutes, lr_final_factor=args.lr_final_factor, class_map=args.class_map or "",
    )
    with folder_removed_if_empty_on_failure(out):
        last = train(cfg, objective)
    print(json.dumps(last))
    return 0


def cmd_export(args) -> int:
    from . import registry
    from .cli_checks import check_input_file, check_output

    objective = registry.objective(args.codec or registry.default_codec())
    if objective.export is None:
        raise CodecArgumentError(f"codec {args.codec!r} has no export step")
    out = check_output(args.output, args.force, suffixes=(".safetensors",))
    check_input_file(args.checkpoint, "checkpoint")
    _check_training_folders(objective, args.calibration_data)
    report = objective.export(args.checkpoint, out, args.calibration_data)
    print(json.dumps(report, indent=2))
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    mode = "video" if args.video else "tokens" if args.tokens else "image"
    return run_demo(out_dir=args.out, force=args.force, device=args.device, mode=mode, codecs=args.codec)


def cmd_eval(args) -> int:
    from .evaluation.command import run_eval_cli

    return run_eval_cli(args)


def cmd_plot(args) -> int:
    from .plot import run_plot_cli

    return run_plot_cli(args)


# --------------------------------------------------------------------------- parser


def _add_codec_options(parser) -> None:
    from . import registry

    for option in registry.all_options():
        helps: dict[str, list[str]] = {}  # one option name may be declared by several codecs, each with its help
        for name in registry.names():
            for declared in registry.spec(name).options:
                if declared.name == option.name:
                    helps.setdefault(declared.help, []).append(name)
        text = option.help if len(helps) == 1 else "; ".join(f"{', '.join(names)}: {h}" for h, names in helps.items())
        kwargs = {"type": option.type, "default": None, "help": text}
        if option.choices:
            kwargs["choices"] = option.choices
        parser.add_argument(option.flag, dest=option.name, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from . import registry

    codecs = ", ".join(f"{n} ({registry.spec(n).kind})" for n in registry.names())
    p = _Parser(prog="ncodec", description="learned image and video codecs (neuralcodecs)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("list", help="list codecs: quality, options and the cost of each effort level, the weights' "
                       "provenance, the headline measured result; and the anchors")
    s.add_argument("--json", action="store_true", help="the same as JSON")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("encode", help="encode an image (or, with a video codec, a video) into a .ncb file")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True, help="the .ncb file to write")
    s.add_argument("--codec", help=f"one of: {codecs}; default: the default image codec, or for a video file or a "
                   "folder of frames the default video codec")
    s.add_argument("--quality", type=float, help="codec quality (ncodec list shows each codec's range)")
    s.add_argument("--target-bpp", type=float, help="pick the quality whose rate is nearest this bpp")
    s.add_argument("--max-bytes", type=int, help="highest quality whose file fits this many bytes")
    s.add_argument("--alpha", choices=["refuse", "composite"], default="refuse", help="transparent images")
    s.add_argument("--weights", help="weights file (default: the shipped one)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--force", action="store_true", help="overwrite an existing output")
    s.add_argument("--size", help="video codecs: WxH of raw .yuv input; or a model size such as 0.3M or 300k "
                   "(codecs whose quality is a model size: the same as --quality 0.3)")
    s.add_argument("--fps", help="video codecs: frame rate of raw .yuv or frame-folder input (e.g. 30000/1001)")
    _add_codec_options(s)
    s.set_defaults(func=cmd_encode)

    s = sub.add_parser("encode-dataset", help="encode an image folder (class sub-folders become labels) or a file list "
                       "into WebDataset shards of .ncb files with a manifest; rerun to resume")
    s.add_argument("source", help="an image folder (the folder holding an image names its class) or a text file "
                   "listing one image per line (PATH or PATH<TAB>CLASS, relative to the list's folder)")
    s.add_argument("-o", "--output", required=True, help="dataset folder: shard-NNNNNN.tar and manifest.json; a rerun "
                   "with the same arguments keeps the finished, intact shards and redoes the others")
    s.add_argument("--codec", help="an image codec (default: the default image codec)")
    s.add_argument("--quality", type=float, help="codec quality (default: the codec's default)")
    s.add_argument("--shard-size", type=int, default=1000, help="samples per shard (default 1000)")
    s.add_argument("--jobs", type=int, help="local: worker processes (default 1); ray: most tasks at once (default: every CPU)")
    s.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: processes on this machine; ray: Ray Data on the cluster at RAY_ADDRESS, or a local "
                        "instance (needs the 'scale' extra)")
    s.add_argument("--mirror", action="store_true", help="also encode each image's mirror image, as the next sample "
                   "(the training sets of the latent classifiers)")
    s.add_argument("--force", action="store_true", help="delete an earlier dataset in the output folder and start over")
    s.set_defaults(func=cmd_encode_dataset)

    s = sub.add_parser("decode", help="decode a .ncb file to an image (format from the extension), or a features "
                       "codec's file to its predicted classes")
    s.add_argument("input")
    s.add_argument("-o", "--output", help=".png, .bmp, .ppm, .tif, .webp (lossless) or .jpg (quality 95); "
                   "video: .y4m (lossless), .mp4/.mkv (x264 crf 18) or a folder of PNG frames (no suffix); features "
                   "codecs (student): .safetensors with every decoded output, or none to print the top-5 classes")
    s.add_argument("--frames", help="video: decode only these frames, e.g. 57 or 0,5,10-19 (from the intra frame before each)")
    s.add_argument("--weights", help="weights file (default: the one the stream names)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--max-pixels", type=int, help="largest picture to accept (default 40000000)")
    s.add_argument("--max-memory", help="largest estimated decoding memory to accept, e.g. 2G (default 4G)")
    s.add_argument("--max-compute", help="largest estimated decoding time to accept, in time on the reference 2-core "
                   "CPU, e.g. 90s, 30m or 2h (default 15m)")
    s.add_argument("--force", action="store_true")
    s.add_argument("--restore-lost", metavar="MASK",
                   help="codebook codecs: treat the indices marked nonzero in MASK (.npy or image, index-grid size) as lost and restore them")
    s.add_argument("--simulate-loss", type=float, metavar="FRACTION",
                   help="codebook codecs: drop this fraction of indices at random, then restore them")
    s.add_argument("--loss-seed", type=int, default=0, help="seed of --simulate-loss")
    s.add_argument("--restore-method", default="transformer", choices=["transformer", "nearest"])
    s.set_defaults(func=cmd_decode)

    s = sub.add_parser("info", help="print a .ncb file's header and check every section")
    s.add_argument("input")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)

    s = sub.add_parser("latents", help="entropy-decode a .ncb file's latents (no synthesis)")
    s.add_argument("input")
    s.add_argument("-o", "--output", help="write latents and bits per position to a .safetensors file")
    s.add_argument("--weights")
    s.add_argument("--device", default="cpu")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_latents)

    s = sub.add_parser("tokens", help="a .ncb file's latents as visual tokens for a vision-language model (no synthesis)")
    s.add_argument("input")
    s.add_argument("-o", "--output", required=True, help="tokens (N, D) and positions (N, 3) as .safetensors")
    s.add_argument("--strategy", default="all", help="token-budget strategy: all (every token, no budget), uniform, dct, kcenter, "
                   "tome, rate, rate_nms, keyframe; each but all keeps exactly the budget when the grid holds that many")
    s.add_argument("--budget", help="tokens to keep: a count, a fraction in (0, 1] or 'adaptive' (default: all)")
    s.add_argument("--projector", help="token-projector weights for this codec (default: the latent vectors are the tokens)")
    s.add_argument("--weights", help="codec weights (default: the shipped ones)")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_tokens)

    s = sub.add_parser("train", help="train a learned codec")
    s.add_argument("--codec", help="default: the default image codec")
    s.add_argument("--data", nargs="+", required=True, help="training image folders (never Kodak)")
    s.add_argument("--out", required=True, help="run folder: checkpoint.safetensors and log.jsonl")
    s.add_argument("--steps", type=int, default=100_000)
    s.add_argument("--batch-size", type=int, default=8)
    s.add_argument("--crop", type=int, default=256)
    s.add_argument("--lr", type=float, default=1e-4)
    s.add_argument("--lr-decay-steps", type=int, nargs="*", default=[])
    s.add_argument("--lr-schedule", choices=["step", "cosine"], default="step",
                   help="step: x0.1 at each --lr-decay-steps; cosine: to --lr-final-factor x --lr at --steps")
    s.add_argument("--lr-final-factor", type=float, default=0.01, help="cosine: the final learning rate as a fraction of --lr")
    s.add_argument("--warmup-steps", type=int, default=0, help="linear learning-rate warm-up")
    s.add_argument("--clip-grad", type=float, default=1.0, help="gradient-norm clip (0 = none)")
    s.add_argument("--ema-decay", type=float, default=0.0, help="moving average of the weights, e.g. 0.999 (export uses it)")
    s.add_argument("--max-minutes", type=float, default=0.0,
                   help="stop with a checkpoint after this many minutes (e.g. 9 per GPU command); --resume continues")
    s.add_argument("--budget-minutes", type=float, default=0.0,
                   help="total training time; with --lr-schedule cosine the decay runs on time and ends here")
    s.add_argument("--init-from", default="", help="start from this checkpoint's weights (fine-tuning)")
    s.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    s.add_argument("--device", default="auto")
    s.add_argument("--threads", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--save-every", type=int, default=1000)
    s.add_argument("--log-every", type=int, default=50)
    s.add_argument("--resume", action="store_true")
    s.add_argument("--model-args", default="{}", help='JSON, e.g. \'{"N": 128, "M": 192}\'')
    s.add_argument("--teacher", help="supervised codecs (student): the MobileNetV2 ImageNet-1k weights file (torchvision layout)")
    s.add_argument("--class-map", help="labelled data: '<folder> ... <class index>' lines (default: the data's SOURCE.txt)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("export", help="freeze a training checkpoint into a weights file")
    s.add_argument("checkpoint")
    s.add_argument("-o", "--output", required=True, help="the .safetensors file to write")
    s.add_argument("--codec", help="default: the default image codec")
    s.add_argument("--calibration-data", nargs="+", required=True, help="training folders for calibration")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("demo", help="a tour on the bundled photo: every image codec beside JPEG, WebP and AVIF at one size "
                                    "(--video: a clip through stem, nerv and x264; --tokens: visual tokens under a budget)")
    tour = s.add_mutually_exclusive_group()
    tour.add_argument("--video", action="store_true", help="a short camera move over the photo through stem, nerv and x264")
    tour.add_argument("--tokens", action="store_true", help="the photo's file as visual tokens: what a few budget strategies keep")
    s.add_argument("--out", help="output folder (default: a new ./ncodec-demo folder)")
    s.add_argument("--codec", action="append", metavar="NAME",
                   help="tour only this codec (repeatable; default: every ready image codec, or stem and nerv with --video)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--force", action="store_true", help="overwrite the outputs of an earlier demo in --out")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("eval", help="rate-distortion (or machine-perception) evaluation on an image folder or video clips")
    s.add_argument("--dataset", help="folder of images (searched recursively); or give --video")
    s.add_argument("--video", action="append", metavar="SOURCE",
                   help="a clip (mp4/mkv/..., .y4m, raw .yuv with --size and --fps, or a folder of frames); "
                        "repeatable; evaluates video codecs and the video anchors x264, x265, svtav1")
    s.add_argument("--frames", type=int, help="--video: evaluate the first N frames of each clip")
    s.add_argument("--size", metavar="WxH", help="--video: frame size of raw .yuv clips (a check for others)")
    s.add_argument("--fps", help="--video: frame rate of raw .yuv clips, e.g. 30000/1001 (default 25 for frame folders)")
    s.add_argument("--codec", action="append", default=None,
                   help="NAME or NAME:q1,q2 (repeatable); default: every ready image codec and every image anchor "
                        "(--dataset), the video anchors x264, x265, svtav1 (--video)")
    s.add_argument("--json", required=True, help="output JSON file; every point is also written as it is measured to "
                   "JSON.partial.jsonl, from which a rerun with the same arguments resumes")
    s.add_argument("--metrics", default="psnr,ms-ssim",
                   help="what to measure besides bpp and times: psnr,ms-ssim (default) or psnr (MS-SSIM costs seconds per point)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--jobs", type=int, default=1, help="worker processes (images are spread over them)")
    s.add_argument("--limit", type=int, help="evaluate N evenly spaced images")
    s.add_argument("--task", choices=["rd", "classify"], default="rd")
    s.add_argument("--classifier-weights", help="torchvision MobileNetV2 ImageNet weights (.pth), for --task classify")
    s.add_argument("--class-map", help="text file with lines '<folder> ... <imagenet index>' (Imagenette SOURCE.txt)")
    s.add_argument("--domain", choices=["pixel", "latent", "both"], default="pixel",
                   help="classify decoded pixels, the files' latents (no synthesis; needs --latent-classifier), or both")
    s.add_argument("--latent-classifier", action="append", metavar="WEIGHTS",
                   help="latent-domain classifier weights for one (codec, quality); repeatable")
    s.add_argument("--pixel-classifier", action="append", metavar="WEIGHTS",
                   help="MobileNetV2 fine-tuned on one (codec, quality)'s decoded pixels, the latent path's fair "
                        "pixel counterpart (reported as tuned_*); repeatable")
    s.add_argument("--force", action="store_true", help="overwrite the output JSON and discard an unfinished run's points (start over)")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("plot", help="plot rate-distortion curves and print a BD-rate table")
    s.add_argument("results", nargs="+", help="ncodec eval JSON and/or CompressAI results JSON files")
    s.add_argument("--metric", choices=["psnr", "ms-ssim"], default="psnr")
    s.add_argument("--anchor", default="webp", help="curve name the BD-rates are measured against")
    s.add_argument("--title")
    s.add_argument("-o", "--output", required=True, help="PNG file")
    s.add_argument("--force", action="store_true")
    s.set_defaults(func=cmd_plot)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return int(exc.code or 0)
    try:
        return args.func(args)
    except NeuralCodecsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions changed during the work, ...
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("NCODEC_DEBUG"):
            raise
        print(f"error: internal error {type(exc).__name__}: {exc} (set NCODEC_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
