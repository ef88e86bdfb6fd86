"""``ncodec eval --video``: video codecs and the classical video anchors, side by side, on clips.

For every clip, contender and quality one point: the bytes of the real file (an mp4 for the
anchors, a complete .ncb file for learned codecs) and ``bpp = 8 * bytes / (T * H * W)``;
PSNR-RGB over the clip (one MSE over every frame, pixel and channel); PSNR-Y, -U, -V of the
4:2:0 limited-range planes of :func:`~neuralcodecs.video.colour.psnr_yuv` (the colour rule of
:mod:`neuralcodecs.video.colour`) and PSNR-YUV ``(6 Y + U + V) / 8``; MS-SSIM-RGB, the mean over
frames of :func:`neuralcodecs.metrics.ms_ssim` (which edge-pads frames under 161 pixels per
side to the five-scale minimum, as the image evaluation does; such clips are flagged
``ms_ssim_padded`` in ``meta``; ``metrics=("psnr",)`` leaves MS-SSIM out); encode and decode
seconds and frames per second.  With ``partial``, every point is written as it is measured and
an interrupted run resumes (as the image evaluation does).

Contenders:

* the anchors ``x264``, ``x265``, ``svtav1`` (:func:`~neuralcodecs.video.anchors.encode_anchor`,
  single-threaded by default; sweep :data:`~neuralcodecs.video.anchors.ANCHOR_SWEEPS` unless
  qualities are given); their times cover the encoder and the decoder, not the RGB <-> YUV
  conversions;
* the registry's video codecs (``kind == "video"``), by name or loaded (:func:`neuralcodecs.load_codec`):
  ``codec.encode(frames, quality=q, fps=fps) -> bytes`` (a complete .ncb file) and
  ``codec.decode(bytes) -> (T, H, W, 3)`` uint8, timed whole; sweep ``codec.quality.sweep``
  unless qualities are given; the curve names the weights' fingerprint.

Image codecs and image anchors are refused with :class:`CodecArgumentError`.  Every argument,
contender and quality is checked and every clip opened (first frame) before the first frame
is coded; clips are then read, coded and released one at a time.

The result follows the image evaluation's schema (:mod:`neuralcodecs.evaluation.image`):
``{"meta", "curves": [{"name", "description", "results": {"quality", "bpp", "psnr-rgb", ...},
"per_clip": {clip: {"bytes": [...], "bpp": [...], ...}}}]}``; a curve's values are the means of
the per-clip values at each quality.  ``meta`` is the image evaluation's machine block plus the
clips (path, frames, size, frame rate, SHA-256 of the RGB frames evaluated), the frame limit,
threads and the PyAV / FFmpeg versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..codec import VIDEO, Codec
from ..errors import CodecArgumentError, UnsupportedVideoError
from ..metrics import ms_ssim
from ..video.anchors import ANCHOR_CODECS, ANCHOR_SWEEPS, encode_anchor
from ..video.colour import psnr_rgb, psnr_yuv
from .common import DEFAULT_METRICS

#: the anchors a video evaluation runs when no codec is named
VIDEO_ANCHORS = tuple(ANCHOR_SWEEPS)

#: frames smaller than this on a side are edge-padded by :func:`neuralcodecs.metrics.ms_ssim`
MS_SSIM_MIN_SIDE = 161

ANCHOR_DESCRIPTIONS = {
    "x264": "H.264 (libx264 via PyAV), preset medium, crf sweep, yuv420p 8-bit, mp4, default GOP",
    "x265": "HEVC (libx265 via PyAV), preset medium, crf sweep, yuv420p 8-bit, mp4, default GOP",
    "svtav1": "AV1 (SVT-AV1 via PyAV), preset 8, crf sweep, yuv420p 8-bit, mp4, default GOP",
}

#: per-point values averaged into a curve, in the order of ``results``
METRICS = ("bpp", "psnr-rgb", "psnr-y", "psnr-u", "psnr-v", "psnr-yuv", "ms-ssim-rgb",
           "encoding_time", "decoding_time", "encoding_fps", "decoding_fps")


@dataclass(frozen=True)
class CodedClip:
    """One clip coded and decoded: the file's bytes, the decoded ``(T, H, W, 3)`` uint8 frames and
    the seconds spent encoding and decoding."""

    data: bytes
    decoded: np.ndarray
    encode_seconds: float
    decode_seconds: float


@dataclass
class VideoContender:
    """One codec in a video evaluation.

    Attributes:
        name, description: for the result file.
        qualities: the qualities swept, in order.
        code: ``code(frames (T, H, W, 3) uint8, fps Fraction, quality) -> CodedClip``.
    """

    name: str
    description: str
    qualities: list[float]
    code: Callable[[np.ndarray, Fraction, float], CodedClip]
    fingerprint: bytes | None = None  # of a learned codec's weights


def _anchor_contender(name: str, qualities: list[float] | None, threads: int) -> VideoContender:
    from ..video.pyav import _check_crf

    chosen = list(qualities) if qualities else list(ANCHOR_SWEEPS[name])
    chosen = [_check_crf(ANCHOR_CODECS[name], q) for q in chosen]  # range (and integer for SVT-AV1)

    def code(frames: np.ndarray, fps: Fraction, quality: float) -> CodedClip:
        r = encode_anchor(frames, fps, name, quality, threads=threads)
        return CodedClip(r.bytes, r.decoded, r.encode_seconds, r.decode_seconds)

    return VideoContender(name, ANCHOR_DESCRIPTIONS[name], chosen, code)


def _learned_contender(name: str | Codec, qualities: list[float] | None, device: str) -> VideoContender:
    from .. import registry

    if isinstance(name, Codec):
        codec, name = name, name.name
    else:
        codec = registry.load(name, device=device)
    description = registry.spec(name).description if name in registry.names() else type(codec).__name__
    chosen = [codec.quality.check(q) for q in qualities] if qualities else list(codec.quality.sweep)

    def code(frames: np.ndarray, fps: Fraction, quality: float) -> CodedClip:
        t0 = time.perf_counter()
        data = codec.encode(frames, quality=quality, fps=fps)
        t1 = time.perf_counter()
        decoded = np.asarray(codec.decode(data))
        t2 = time.perf_counter()
        if decoded.shape != frames.shape or decoded.dtype != np.uint8:
            raise UnsupportedVideoError(f"{name} decoded {decoded.dtype} frames of shape {decoded.shape}, "
                                        f"expected uint8 {frames.shape}")
        return CodedClip(bytes(data), decoded, t1 - t0, t2 - t1)

    fingerprint = codec.fingerprint if isinstance(codec, Codec) else None  # registered test doubles may not derive from Codec
    return VideoContender(name, f"neuralcodecs {name}: {description}", chosen, code, fingerprint)


def build_video_contender(name: str | Codec, qualities: list[float] | None, *, device: str = "cpu",
                          threads: int = 1) -> VideoContender:
    """A video anchor or a learned video codec of the registry (by name, or loaded: it runs where it
    was loaded); :class:`CodecArgumentError` for anything else (image codecs, image anchors,
    unknown names) and for qualities out of range."""
    from .. import registry
    from ..anchors import ANCHORS

    if isinstance(name, Codec):
        if name.kind != VIDEO:
            raise CodecArgumentError(f"{name.name!r} is an {name.kind} codec; video evaluation needs video codecs or anchors")
        return _learned_contender(name, qualities, device)
    if name in ANCHOR_SWEEPS:
        return _anchor_contender(name, qualities, threads)
    choices = ", ".join(list(VIDEO_ANCHORS) + registry.names(VIDEO))
    if name in ANCHORS:
        raise CodecArgumentError(f"{name!r} is an image anchor; video evaluation needs video codecs or anchors: {choices}")
    if name not in registry.names():
        raise CodecArgumentError(f"no video codec or anchor named {name!r}; choose from: {choices}")
    kind = registry.spec(name).kind
    if kind != VIDEO:
        raise CodecArgumentError(f"{name!r} is an {kind} codec; video evaluation needs video codecs or anchors: {choices}")
    return _learned_contender(name, qualities, device)


# --------------------------------------------------------------------------- clips


def _check_frames(frames) -> int | None:
    if frames is None:
        return None
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)) or frames < 1:
        raise CodecArgumentError(f"frames must be a positive number of frames, got {frames!r}")
    return int(frames)


def _clip_names(sources: list[Path]) -> list[str]:
    """The key of each clip in ``per_clip``: its file name, or the path as given where names clash."""
    names = [p.name or str(p) for p in sources]
    return [n if names.count(n) == 1 else str(p) for n, p in zip(names, sources)]


def probe_clips(sources, *, size=None, fps=None) -> list[Path]:
    """Open every clip (its first frame only): missing, unreadable or contradicting clips raise
    :class:`UnsupportedVideoError` / :class:`CodecArgumentError` before any coding starts."""
    from ..video.io import read_video

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    paths = [Path(s) for s in sources]
    if not paths:
        raise CodecArgumentError("no clip given; pass at least one video (--video SOURCE)")
    seen = set()
    for p in paths:
        key = p.resolve()
        if key in seen:
            raise CodecArgumentError(f"clip {p} is given twice")
        seen.add(key)
        read_video(p, size=size, fps=fps, count=1)
    return paths


def frames_checksum(frames: np.ndarray) -> str:
    """SHA-256 of the uint8 RGB frames in C order (``T x H x W x 3`` bytes)."""
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()


# --------------------------------------------------------------------------- per clip


def evaluate_clip(frames: np.ndarray, fps: Fraction, contenders: list[VideoContender],
                  on_point: Callable[..., None] | None = None, metrics=DEFAULT_METRICS,
                  done: dict | None = None) -> dict[str, list[dict]]:
    """Every point of every contender on one clip: ``{contender: [point, ...]}`` with a point
    ``{quality, bytes, bpp, psnr-rgb, psnr-y, psnr-u, psnr-v, psnr-yuv, ms-ssim-rgb,
    encoding_time, decoding_time, encoding_fps, decoding_fps}`` (times in seconds;
    ``ms-ssim-rgb`` only when ``metrics`` has ``ms-ssim``).

    ``done``: ``{(contender, quality): point}`` measured before (an interrupted run), used as they
    are; ``on_point(contender, quality, point)`` is called after each newly measured point.
    """
    t, h, w, _ = frames.shape
    done = done or {}
    out = {}
    for c in contenders:
        points = []
        for q in c.qualities:
            point = done.get((c.name, float(q)))
            if point is None:
                point = _measure(frames, fps, c, q, metrics)
                if on_point is not None:
                    on_point(c.name, q, point)
            points.append(point)
        out[c.name] = points
    return out


def _measure(frames: np.ndarray, fps: Fraction, c: VideoContender, q: float, metrics) -> dict:
    t, h, w, _ = frames.shape
    coded = c.code(frames, fps, q)
    yuv = psnr_yuv(frames, coded.decoded)
    point = {
        "quality": q,
        "bytes": len(coded.data),
        "bpp": 8.0 * len(coded.data) / (t * h * w),
        "psnr-rgb": psnr_rgb(frames, coded.decoded),
        "psnr-y": yuv.y,
        "psnr-u": yuv.u,
        "psnr-v": yuv.v,
        "psnr-yuv": yuv.yuv,
    }
    if "ms-ssim" in metrics:
        point["ms-ssim-rgb"] = float(np.mean([ms_ssim(a, b) for a, b in zip(frames, coded.decoded)]))
    point.update({
        "encoding_time": coded.encode_seconds,
        "decoding_time": coded.decode_seconds,
        "encoding_fps": t / coded.encode_seconds if coded.encode_seconds > 0 else None,
        "decoding_fps": t / coded.decode_seconds if coded.decode_seconds > 0 else None,
    })
    return point


def _mean(values: list) -> float | None:
    return None if any(v is None for v in values) else float(np.mean(values))


def aggregate_clips(records: dict[str, dict[str, list[dict]]], contenders: list[VideoContender],
                    metrics=DEFAULT_METRICS) -> list[dict]:
    """One curve per contender: per quality the mean over clips of every metric measured."""
    fields = tuple(m for m in METRICS if m != "ms-ssim-rgb" or "ms-ssim" in metrics)
    curves = []
    for c in contenders:
        results: dict[str, list] = {"quality": list(c.qualities)}
        for m in fields:
            results[m] = [_mean([points[c.name][i][m] for points in records.values()]) for i in range(len(c.qualities))]
        per_clip = {name: {m: [p[m] for p in points[c.name]] for m in ("bytes",) + fields}
                    for name, points in records.items()}
        curve = {"name": c.name, "description": c.description, "results": results, "per_clip": per_clip}
        if c.fingerprint is not None:
            curve["weights_fingerprint"] = c.fingerprint.hex()
        curves.append(curve)
    return curves


def _av_versions() -> dict:
    import av

    libs = {name: ".".join(map(str, v)) for name, v in av.library_versions.items() if name in ("libavcodec", "libavformat")}
    return {"pyav": av.__version__, **libs}


def run_video_evaluation(
    sources,
    codec_args: Sequence[tuple[str, list[float] | None]],
    *,
    frames: int | None = None,
    size=None,
    fps=None,
    progress: bool = True,
    threads: int = 1,
    device: str = "cpu",
    metrics=DEFAULT_METRICS,
    partial: str | os.PathLike | None = None,
    restart: bool = False,
) -> dict:
    """Evaluate video contenders on clips; return the JSON-ready result (``meta`` + ``curves``).

    Args:
        sources: a clip or a list of clips (video files, ``.y4m``, raw ``.yuv`` with ``size`` and
            ``fps``, or folders of PNG/JPEG frames).
        codec_args: ``[(name or loaded codec, qualities or None), ...]`` (or ``"NAME:q1,q2"``
            items): ``x264``, ``x265``, ``svtav1`` or a registered video codec, by name or loaded.
        frames: evaluate the first ``frames`` frames of each clip (default: all).
        size, fps: ``(W, H)`` / ``"WxH"`` and the frame rate of raw ``.yuv`` clips (checks for
            other sources, see :func:`~neuralcodecs.video.io.read_video`).
        progress: a progress bar over the coded points, with the time left.
        threads: anchor encoder/decoder threads (1: reproducible bytes and timing; 0: automatic).
        device: torch device of learned codecs.
        metrics: ``("psnr", "ms-ssim")`` (default) or ``("psnr",)`` (or ``"psnr,ms-ssim"``).
        partial, restart: the partial-results file of :func:`neuralcodecs.evaluation.image.run_evaluation`
            (points written as measured; same arguments resume, other arguments are refused
            unless ``restart``); a clip whose frames changed since is refused too.
    Raises:
        CodecArgumentError: bad arguments, image codecs, qualities out of range, a codec or clip
            given twice (all before any coding).
        UnsupportedVideoError: a clip is missing or unreadable.
    """
    from tqdm import tqdm

    from .common import PartialResults, codec_entries, entry_name, machine_meta, parse_metrics, resumed_note
    from ..video.io import read_video

    frames = _check_frames(frames)
    metrics = parse_metrics(metrics)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise CodecArgumentError(f"threads must be an integer >= 0, got {threads!r}")
    entries = codec_entries(codec_args)
    if not entries:
        raise CodecArgumentError("no codec given")
    if len({entry_name(n) for n, _ in entries}) != len(entries):
        raise CodecArgumentError("each codec may appear once; give several qualities as NAME:q1,q2")
    contenders = [build_video_contender(n, q, device=device, threads=threads) for n, q in entries]
    paths = probe_clips(sources, size=size, fps=fps)
    names = _clip_names(paths)
    run = {
        "kind": "video", "clips": [str(p.resolve()) for p in paths], "frames": frames,
        "size": None if size is None else str(size), "fps": None if fps is None else str(fps),
        "codecs": [[c.name, c.qualities, c.fingerprint.hex() if c.fingerprint is not None else None] for c in contenders],
        "metrics": list(metrics), "device": str(device), "threads": threads,
    }
    store = PartialResults(partial, run, restart) if partial is not None else None
    points_per_clip = sum(len(c.qualities) for c in contenders)
    records: dict[str, dict[str, list[dict]]] = {}
    clips = []
    with store if store is not None else contextlib.nullcontext():
        done = {name: store.points(name) if store else {} for name in names}
        with tqdm(total=points_per_clip * len(paths), initial=sum(map(len, done.values())), desc="eval", unit="point",
                  disable=not progress, dynamic_ncols=True) as bar:
            if store is not None and store.resumed and progress:
                bar.write(f"resuming: {store.resumed} of {bar.total} points read back from {store.path}")
            for path, name in zip(paths, names):
                video = read_video(path, size=size, fps=fps, count=frames)
                clip = video.frames
                checksum = frames_checksum(clip)
                clips.append({
                    "name": name, "path": str(path), "frames": video.num_frames, "width": video.width,
                    "height": video.height, "fps": str(video.fps), "source_format": video.source_format,
                    "sha256": checksum,
                    "ms_ssim_padded": min(video.width, video.height) < MS_SSIM_MIN_SIDE,
                })
                if store is not None:
                    before = store.facts(name).get("sha256")
                    if before is not None and before != checksum:
                        raise CodecArgumentError(f"clip {path} changed since the interrupted run that {store.path} "
                                                 "holds; start over with --force (restart=True from Python)")
                    if before is None:
                        store.add({"item": name, "facts": {"sha256": checksum}})

                def on_point(codec: str, quality: float, point: dict, name=name) -> None:
                    if store is not None:
                        store.add({"item": name, "codec": codec, "quality": quality, "point": point})
                    bar.set_postfix_str(f"{name} {codec} {quality:g}")
                    bar.update(1)

                records[name] = evaluate_clip(clip, video.fps, contenders, on_point, metrics, done[name])
                del video, clip
        resumed = resumed_note(store)
    meta = machine_meta(device)
    meta["versions"].update(_av_versions())
    meta["clips"] = clips
    meta["frames"] = frames
    meta["threads"] = threads
    meta["metrics"] = list(metrics)
    if resumed:
        meta["resumed"] = resumed
    return {"meta": meta, "curves": aggregate_clips(records, contenders, metrics)}


__all__ = [
    "CodedClip", "METRICS", "VIDEO_ANCHORS", "VideoContender", "aggregate_clips", "build_video_contender",
    "evaluate_clip", "frames_checksum", "probe_clips", "run_video_evaluation",
]
