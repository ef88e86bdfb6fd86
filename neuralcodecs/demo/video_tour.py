"""The video tour: a short camera move (pan and zoom) over the bundled photo through ``stem``, an implicit codec (``nerv``)
and x264, all at about one file size.

As in the image tour, the implicit codec fits a network to the clip (seconds per encode), so it
is encoded once, with its smallest network at its fastest effort, and its file's size is the
target: ``stem`` comes to it by rate control, x264 by the crf nearest the size.  Without a fitted
codec in the tour the target is :data:`DEFAULT_TARGET_BPP`.  Every ``.ncb`` file is decoded from its
bytes alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np

from .. import decode, registry
from ..codec import VIDEO
from ..errors import CodecArgumentError
from ..metrics import ms_ssim
from ..ratecontrol import encode_to_budget
from ..video.colour import psnr_rgb
from .common import OFF_TARGET, Clock, fastest_options, is_fitted, nearest_size, off_target, ready_codecs, torch_threads
from .drawing import grid, png_bytes, tile
from .media import CLIP_FPS, camera_clip

#: the tour's codecs when none is named: the spatiotemporal codec and the fastest implicit one
#: (nerv fits this clip in seconds at effort fast; hnerv took five times longer here)
DEFAULT_CODECS = ("stem", "nerv")
ANCHOR = "x264"
DEFAULT_TARGET_BPP = 0.5
SHOWN_FRAMES = 4
ZOOM = 2
FILES = ("x264.mp4", "video_frames.png", "video_results.json")


@dataclass
class CodedClip:
    """One codec's file of the clip, decoded, with its measurements (``quality`` as the table shows it)."""

    name: str
    learned: bool
    quality: str
    data: bytes
    decoded: np.ndarray
    encode_seconds: float
    decode_seconds: float
    filename: str
    how: str
    psnr: float = 0.0
    ms_ssim: float = 0.0


@dataclass
class VideoTour:
    clip: np.ndarray
    target_bytes: int
    target_source: str
    rows: list[CodedClip]
    seconds: float = 0.0

    @property
    def samples(self) -> int:
        t, h, w = self.clip.shape[:3]
        return t * h * w

    def bpp(self, row: CodedClip) -> float:
        return 8 * len(row.data) / self.samples

    @property
    def target_bpp(self) -> float:
        return 8 * self.target_bytes / self.samples

    def off_target(self, row: CodedClip) -> bool:
        return off_target(len(row.data), self.target_bytes) > OFF_TARGET


def tour_codecs(wanted: list[str] | None) -> list[str]:
    if wanted:
        return ready_codecs(VIDEO, wanted)
    names = [n for n in DEFAULT_CODECS if n in registry.names(VIDEO) and registry.spec(n).ready]
    if not names:
        raise CodecArgumentError("no video codec of the tour is installed; name one with --codec")
    return names


def output_names(codecs: list[str]) -> list[str]:
    return [f"{n}.ncb" for n in codecs] + list(FILES)


def _measure(row: CodedClip, clip: np.ndarray) -> CodedClip:
    row.psnr = psnr_rgb(clip, row.decoded)
    row.ms_ssim = float(np.mean([ms_ssim(a, b) for a, b in zip(clip, row.decoded)]))
    return row


def _code_learned(name: str, clip: np.ndarray, target_bytes: int | None, device: str) -> CodedClip:
    codec = registry.load(name, device=device)
    options = {**fastest_options(name), "fps": CLIP_FPS}
    effort = f", effort {options['effort']}" if "effort" in options else ""
    started = time.perf_counter()
    if target_bytes is None:  # a fitted codec: its smallest network, once
        with torch_threads(1):
            data = codec.encode(clip, quality=codec.quality.low, **options)
        seconds = time.perf_counter() - started
        parameters = getattr(codec, "last_report", {}).get("parameters")
        quality = f"{parameters / 1e3:.0f}k params" if parameters else f"{codec.quality.low:g}"
        how = f"one fit, its smallest network{effort}"
    else:
        found = encode_to_budget(codec, clip, target_bpp=8 * target_bytes / clip[..., 0].size, **options)
        data, seconds = found.data, (time.perf_counter() - started) / found.trials
        quality = f"{found.quality:.2f}"
        how = f"rate control, {found.trials} encodes{effort}"
    started = time.perf_counter()
    decoded = np.asarray(decode(data, device=device))  # from the file's bytes alone
    row = CodedClip(name, True, quality, data, decoded, seconds, time.perf_counter() - started, f"{name}.ncb", how)
    return _measure(row, clip)


def _code_x264(clip: np.ndarray, target_bytes: int) -> CodedClip:
    from ..video.anchors import encode_anchor

    coded = {}

    def encode(minus_crf: float) -> bytes:  # lower crf, larger file: the grid ascends in -crf
        coded[minus_crf] = encode_anchor(clip, CLIP_FPS, ANCHOR, -minus_crf)
        return coded[minus_crf].bytes

    minus_crf, data, _ = nearest_size(encode, [-float(c) for c in range(51, -1, -1)], target_bytes)
    result = coded[minus_crf]
    row = CodedClip(ANCHOR, False, f"crf {-minus_crf:g}", data, result.decoded, result.encode_seconds,
                    result.decode_seconds, "x264.mp4", "crf nearest the target size: libx264 preset medium, yuv420p, mp4")
    return _measure(row, clip)


def run_video_tour(clip: np.ndarray, codecs: list[str], device: str = "cpu", log=print) -> VideoTour:
    clock = Clock()
    t, h, w = clip.shape[:3]
    fitted = [n for n in codecs if is_fitted(n)]
    rows: list[CodedClip] = []
    target_bytes, source = None, None
    for name in fitted:
        log(f"{clock.stamp()} {name}: fitting a network to the {t} frames of {w}x{h}")
        row = _code_learned(name, clip, target_bytes, device)
        rows.append(row)
        if target_bytes is None:
            target_bytes = len(row.data)
            source = f"the size of {name}'s file with its smallest network, fitted once"
        log(f"{clock.stamp()} {name}: {len(row.data)} bytes, {row.psnr:.2f} dB ({row.encode_seconds:.0f} s)")
    if target_bytes is None:
        target_bytes = max(1, round(DEFAULT_TARGET_BPP * t * h * w / 8))
        source = f"{DEFAULT_TARGET_BPP:g} bpp (no fitted codec in the tour)"
    log(f"{clock.stamp()} target: {target_bytes} bytes = {8 * target_bytes / (t * h * w):.3f} bpp, {source}")
    for name in codecs:
        if name not in fitted:
            row = _code_learned(name, clip, target_bytes, device)
            rows.append(row)
            log(f"{clock.stamp()} {name}: quality {row.quality}, {len(row.data)} bytes, {row.psnr:.2f} dB")
    row = _code_x264(clip, target_bytes)
    rows.append(row)
    log(f"{clock.stamp()} x264: {row.quality}, {len(row.data)} bytes, {row.psnr:.2f} dB")
    rows.sort(key=lambda r: -r.psnr)
    return VideoTour(clip, target_bytes, source, rows, clock())


def table(tour: VideoTour) -> str:
    x264 = next(r for r in tour.rows if not r.learned)
    lines = [f"{'':2s} {'codec':8s} {'kind':12s} {'quality':>12s} {'bytes':>7s} {'bpp':>6s} {'size':>6s} "
             f"{'PSNR-RGB':>9s} {'MS-SSIM':>8s} {'vs x264':>9s} {'encode':>8s} {'decode':>7s}"]
    for i, r in enumerate(tour.rows, 1):
        size = 100 * (len(r.data) - tour.target_bytes) / tour.target_bytes
        flag = "*" if tour.off_target(r) else " "
        lines.append(f"{i:2d} {r.name:8s} {'neuralcodecs' if r.learned else 'classical':12s} {r.quality:>12s} "
                     f"{len(r.data):7d} {tour.bpp(r):6.3f} {size:+5.0f}%{flag}{r.psnr:7.2f} dB {r.ms_ssim:8.4f} "
                     f"{r.psnr - x264.psnr:+6.2f} dB {r.encode_seconds:7.2f}s {r.decode_seconds:6.2f}s")
    return "\n".join(lines)


def verdict(tour: VideoTour) -> list[str]:
    winner = tour.rows[0]
    x264 = next(r for r in tour.rows if not r.learned)
    out = [f"Winner at {tour.target_bpp:.2f} bpp: {winner.name} ({'a neuralcodecs codec' if winner.learned else 'classical'}), "
           f"{winner.psnr:.2f} dB PSNR-RGB."]
    for r in tour.rows:
        if r.learned:
            word = "behind" if r.psnr < x264.psnr else "ahead of"
            out.append(f"{r.name}: {abs(r.psnr - x264.psnr):.2f} dB {word} x264 at the same size.")
    for r in tour.rows:
        if tour.off_target(r):
            out.append(f"* {r.name}: its nearest file is {off_target(len(r.data), tour.target_bytes) * 100:.0f}% off the "
                       f"target size: not an equal-size comparison.")
    return out


def frames_png(tour: VideoTour, zoom: int = ZOOM) -> bytes:
    """PNG: a row per codec (the original first, then the table's order), a few frames each."""
    t, h, w = tour.clip.shape[:3]
    shown = sorted(set(np.linspace(0, t - 1, min(SHOWN_FRAMES, t)).round().astype(int).tolist()))
    tiles = []
    rows = [("original", tour.clip, "black", None)] + [
        (f"{i}. {r.name} ({r.quality})", r.decoded, "#1f5fbf" if r.learned else "#7a4a00", r) for i, r in enumerate(tour.rows, 1)]
    for label, frames, colour, row in rows:
        summary = f"{t} frames, {w}x{h}" if row is None else f"clip: {tour.bpp(row):.3f} bpp, {row.psnr:.2f} dB"
        for k, f in enumerate(shown):
            detail = f"frame {f}" if row is None else f"frame {f}: {psnr_rgb(tour.clip[f], frames[f]):.2f} dB"
            head = [label, summary] if k == 0 else ["", ""]
            tiles.append(tile(frames[f], [*head, detail], zoom, colour=colour))
    title = (f"a {t}-frame {w}x{h} camera move over kodim23 at about {tour.target_bpp:.2f} bpp, x{zoom}: best PSNR first "
             f"(blue: neuralcodecs, brown: classical)")
    return png_bytes(grid(tiles, len(shown), title))


def results_json(tour: VideoTour) -> bytes:
    t, h, w = tour.clip.shape[:3]
    rows = [{"rank": i, "name": r.name, "learned": r.learned, "quality": r.quality, "how": r.how, "file": r.filename,
             "bytes": len(r.data), "bpp": tour.bpp(r), "psnr-rgb": r.psnr, "ms-ssim-rgb": r.ms_ssim,
             "encode_seconds": r.encode_seconds, "decode_seconds": r.decode_seconds, "off_target": tour.off_target(r)}
            for i, r in enumerate(tour.rows, 1)]
    doc = {"clip": f"{t} frames of {w}x{h} at {CLIP_FPS} fps, a camera move over kodim23", "target_bytes": tour.target_bytes,
           "target_bpp": tour.target_bpp, "target": tour.target_source, "seconds": tour.seconds, "rows": rows}
    return (json.dumps(doc, indent=1) + "\n").encode()


def tour_files(tour: VideoTour) -> dict[str, bytes]:
    files = {r.filename: r.data for r in tour.rows}
    files["video_frames.png"] = frames_png(tour)
    files["video_results.json"] = results_json(tour)
    return files


def run(out_dir, force, device, codecs, log) -> int:
    from .outputs import output_folder, write_outputs

    names = tour_codecs(codecs)
    folder = output_folder(out_dir, output_names(names), force)
    from ..video.pyav import _import_av

    _import_av()  # x264 runs through PyAV: a missing one is said before any fitting
    clip = camera_clip()
    t, h, w = clip.shape[:3]
    log(f"ncodec demo --video: a {t}-frame {w}x{h} camera move over kodim23 through {', '.join(names)} and x264 at one file size")
    tour = run_video_tour(clip, names, device, log)
    write_outputs(folder, tour_files(tour), force)
    log("")
    log(f"target {tour.target_bytes} bytes ({tour.target_bpp:.3f} bpp): {tour.target_source}")
    log(table(tour))
    log("")
    for line in verdict(tour):
        log(line)
    log("")
    log(f"wrote {folder}/: video_frames.png, video_results.json and every file "
        f"({', '.join(r.filename for r in tour.rows)}); {tour.seconds:.0f} s")
    return 0
