"""The image tour: a crop of the bundled photo through every ready image codec and JPEG, WebP and
AVIF, all at about one file size.

The target size: an overfitted codec (``overfit``) fits a network to the picture, which costs
tens of seconds per encode, so it is encoded once, at its default rate point and fastest
effort, and the size of its file is the target every other codec comes to.  Without an
overfitted codec in the tour the target is :data:`DEFAULT_TARGET_BPP`.  Every other learned codec
gets the quality nearest the target by rate control (:func:`~neuralcodecs.ratecontrol.encode_to_budget`,
a bisection over its qualities, at its fastest effort); each anchor the quality nearest the
target size (:func:`~neuralcodecs.ratecontrol.anchor_nearest_size`).  A codec whose qualities
cannot reach the target (a ladder too coarse, a range that ends short of it) keeps its nearest
file and is flagged in the table.

Every learned file is decoded from its bytes alone (:func:`neuralcodecs.decode`).  Besides the
matched point, a few points of each fast codec's quality sweep and of each anchor's are measured
for the rate-distortion plot.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .. import decode, registry
from ..anchors import anchor
from ..metrics import ms_ssim, psnr
from ..ratecontrol import anchor_nearest_size, encode_to_budget
from .common import OFF_TARGET, Clock, fastest_options, is_fitted, off_target, torch_threads
from .drawing import grid, png_bytes, tile

IMAGE_ANCHORS = ("jpeg", "webp", "avif")
ANCHOR_FILES = {"jpeg": "jpeg.jpg", "webp": "webp.webp", "avif": "avif.avif"}
ANCHOR_LABELS = {"jpeg": "JPEG", "webp": "WebP", "avif": "AVIF"}
#: the target rate when no overfitted codec sets it (bits per pixel of the crop, header included)
DEFAULT_TARGET_BPP = 0.6
#: sweep points per codec measured for the rate-distortion plot (evenly spread over its sweep)
CURVE_POINTS = 4
#: the plot shows rates up to this multiple of the target
PLOT_RATE_SPAN = 3.0
ZOOM = 2
FILES = ("original.png", "side_by_side.png", "rd.png", "results.json")


@dataclass
class Coded:
    """One codec's file at the target size, decoded, with its measurements.

    Attributes:
        name: registry or anchor name; label: what the table prints; learned: a neuralcodecs codec.
        quality: the quality chosen; how: how it was chosen; encode_seconds: one encode
            (rate control: the mean over its trials).
        curve: ``(bpp, PSNR)`` of the sweep points measured for the plot.
    """

    name: str
    label: str
    learned: bool
    quality: float
    data: bytes
    decoded: np.ndarray
    encode_seconds: float
    filename: str
    how: str
    psnr: float = 0.0
    ms_ssim: float = 0.0
    curve: list[tuple[float, float]] = field(default_factory=list)

    def bpp(self, pixels: int) -> float:
        return 8 * len(self.data) / pixels


@dataclass
class ImageTour:
    """The tour's result: the crop, the target and every codec's row, best PSNR first."""

    original: np.ndarray
    target_bytes: int
    target_source: str
    rows: list[Coded]
    seconds: float = 0.0

    @property
    def pixels(self) -> int:
        return self.original.shape[0] * self.original.shape[1]

    @property
    def target_bpp(self) -> float:
        return 8 * self.target_bytes / self.pixels

    def off_target(self, row: Coded) -> bool:
        return off_target(len(row.data), self.target_bytes) > OFF_TARGET


def available_anchors() -> list[str]:
    """The anchors of :data:`IMAGE_ANCHORS` this Pillow can write (AVIF needs a Pillow built with libavif)."""
    from PIL import features

    return [a for a in IMAGE_ANCHORS if a != "avif" or features.check("avif")]


def output_names(codecs: list[str]) -> list[str]:
    return [f"{n}.ncb" for n in codecs] + [ANCHOR_FILES[a] for a in IMAGE_ANCHORS] + list(FILES)


def quality_text(quality: float) -> str:
    """A quality as the table prints it: whole numbers whole, fractions to two decimals."""
    return f"{quality:.0f}" if float(quality).is_integer() else f"{quality:.2f}"


def _sweep_points(values: tuple[float, ...], count: int = CURVE_POINTS) -> list[float]:
    """``count`` values spread evenly over ``values`` (its ends included)."""
    if len(values) <= count:
        return list(values)
    picks = np.linspace(0, len(values) - 1, count).round().astype(int)
    return [values[i] for i in sorted(set(picks.tolist()))]


def _measure(row: Coded, original: np.ndarray) -> Coded:
    row.psnr = psnr(original, row.decoded)
    row.ms_ssim = ms_ssim(original, row.decoded)
    return row


def _code_learned(name: str, original: np.ndarray, target_bytes: int | None, device: str) -> Coded:
    """One learned codec at the target (``None``: its default quality, once)."""
    codec = registry.load(name, device=device)
    options = fastest_options(name)
    pixels = original.shape[0] * original.shape[1]
    effort = f", effort {options['effort']}" if options else ""
    started = time.perf_counter()
    if target_bytes is None:
        quality = codec.quality.default
        with torch_threads(1):
            data = codec.encode(original, quality=quality, **options)
        seconds = time.perf_counter() - started
        how = f"one fit at its default rate point{effort}"
    else:
        found = encode_to_budget(codec, original, target_bpp=8 * target_bytes / pixels, **options)
        quality, data = found.quality, found.data
        seconds = (time.perf_counter() - started) / found.trials
        how = f"rate control, {found.trials} encodes{effort}"
    decoded = decode(data, device=device)  # from the file's bytes alone
    row = Coded(name, name, True, quality, data, decoded, seconds, f"{name}.ncb", how)
    row.curve = [(row.bpp(pixels), psnr(original, decoded))]
    if target_bytes is not None:  # a fast codec: a few points of its sweep for the plot
        for q in _sweep_points(codec.quality.sweep):
            if q != quality:
                point = codec.encode(original, quality=q, **options)
                row.curve.append((8 * len(point) / pixels, psnr(original, decode(point, device=device))))
    return _measure(row, original)


def _code_anchor(name: str, original: np.ndarray, target_bytes: int) -> Coded:
    a = anchor(name)
    pixels = original.shape[0] * original.shape[1]
    quality, data = anchor_nearest_size(name, original, target_bytes)
    started = time.perf_counter()
    a.encode(original, quality)  # timed once at the chosen quality
    seconds = time.perf_counter() - started
    row = Coded(name, ANCHOR_LABELS.get(name, name), False, quality, data, a.decode(data), seconds, ANCHOR_FILES[name],
                f"quality nearest the target size: {a.description}")
    row.curve = [(row.bpp(pixels), psnr(original, row.decoded))]
    for q in a.sweep:
        if q != quality:
            coded = a.encode(original, q)
            row.curve.append((8 * len(coded) / pixels, psnr(original, a.decode(coded))))
    return _measure(row, original)


def run_image_tour(original: np.ndarray, codecs: list[str], device: str = "cpu", log=print) -> ImageTour:
    """Code ``original`` (uint8 ``(H, W, 3)``) with every codec of ``codecs`` and the anchors."""
    clock = Clock()
    pixels = original.shape[0] * original.shape[1]
    fitted = [n for n in codecs if is_fitted(n)]
    rows: list[Coded] = []
    target_bytes, source = None, None
    for name in fitted:
        log(f"{clock.stamp()} {name}: fitting a network to the {original.shape[1]}x{original.shape[0]} crop "
            f"(the slow part of the tour: tens of seconds)")
        row = _code_learned(name, original, target_bytes, device)
        rows.append(row)
        if target_bytes is None:
            target_bytes = len(row.data)
            source = f"the size of {name}'s file at its default rate point (quality {row.quality:g}), fitted once"
        log(f"{clock.stamp()} {name}: {len(row.data)} bytes, {row.psnr:.2f} dB ({row.encode_seconds:.0f} s)")
    if target_bytes is None:
        target_bytes = max(1, round(DEFAULT_TARGET_BPP * pixels / 8))
        source = f"{DEFAULT_TARGET_BPP:g} bpp (no overfitted codec in the tour)"
    log(f"{clock.stamp()} target: {target_bytes} bytes = {8 * target_bytes / pixels:.3f} bpp, {source}")
    for name in codecs:
        if name in fitted:
            continue
        row = _code_learned(name, original, target_bytes, device)
        rows.append(row)
        log(f"{clock.stamp()} {name}: quality {quality_text(row.quality)}, {len(row.data)} bytes, {row.psnr:.2f} dB")
    anchors = available_anchors()
    for name in IMAGE_ANCHORS:
        if name not in anchors:
            log(f"{clock.stamp()} {ANCHOR_LABELS[name]}: skipped, this Pillow cannot write it")
            continue
        row = _code_anchor(name, original, target_bytes)
        rows.append(row)
        log(f"{clock.stamp()} {row.label}: quality {quality_text(row.quality)}, {len(row.data)} bytes, {row.psnr:.2f} dB")
    rows.sort(key=lambda r: -r.psnr)
    return ImageTour(original, target_bytes, source, rows, clock())


# --------------------------------------------------------------------------- what it prints


def table(tour: ImageTour) -> str:
    """The rows, best PSNR first, with each one's distance to the best classical codec."""
    best_anchor = max((r for r in tour.rows if not r.learned), key=lambda r: r.psnr)
    lines = [f"{'':2s} {'codec':12s} {'kind':12s} {'quality':>8s} {'bytes':>7s} {'bpp':>6s} {'size':>6s} "
             f"{'PSNR-RGB':>9s} {'MS-SSIM':>8s} {'vs ' + best_anchor.label:>9s} {'encode':>8s}"]
    for i, r in enumerate(tour.rows, 1):
        size = 100 * (len(r.data) - tour.target_bytes) / tour.target_bytes
        flag = "*" if tour.off_target(r) else " "
        lines.append(f"{i:2d} {r.label:12s} {'neuralcodecs' if r.learned else 'classical':12s} {quality_text(r.quality):>8s} "
                     f"{len(r.data):7d} {r.bpp(tour.pixels):6.3f} {size:+5.0f}%{flag}{r.psnr:7.2f} dB {r.ms_ssim:8.4f} "
                     f"{r.psnr - best_anchor.psnr:+6.2f} dB {r.encode_seconds:7.2f}s")
    return "\n".join(lines)


def verdict(tour: ImageTour) -> list[str]:
    """Plain sentences: who wins, how far each neuralcodecs codec is from the classical ones, and
    which rows are not at the target size."""
    winner = tour.rows[0]
    anchors = [r for r in tour.rows if not r.learned]
    learned = [r for r in tour.rows if r.learned]
    kind = "a neuralcodecs codec" if winner.learned else "a classical codec"
    out = [f"Winner at {tour.target_bpp:.2f} bpp: {winner.label} ({kind}), {winner.psnr:.2f} dB PSNR-RGB."]
    if learned:
        best = max(learned, key=lambda r: r.psnr)
        beaten = [a.label for a in anchors if a.psnr > best.psnr]
        if beaten:
            gaps = ", ".join(f"{a.label} by {a.psnr - best.psnr:.2f} dB" for a in anchors if a.psnr > best.psnr)
            out.append(f"The best neuralcodecs codec, {best.label} ({best.psnr:.2f} dB), loses to {gaps}.")
        else:
            out.append(f"The best neuralcodecs codec, {best.label} ({best.psnr:.2f} dB), beats every classical codec here.")
        losers = [r.label for r in learned if all(a.psnr > r.psnr for a in anchors)]
        if losers and len(losers) == len(learned):
            out.append(f"Every neuralcodecs codec is behind all {len(anchors)} classical codecs at this size.")
        elif losers:
            out.append(f"Behind all {len(anchors)} classical codecs: {', '.join(losers)}.")
    for r in tour.rows:
        if tour.off_target(r):
            side = "larger" if len(r.data) > tour.target_bytes else "smaller"
            out.append(f"* {r.label}: no quality comes within {100 * OFF_TARGET:.0f}% of the target; its nearest file is "
                       f"{off_target(len(r.data), tour.target_bytes) * 100:.0f}% {side} ({r.bpp(tour.pixels):.3f} bpp): "
                       f"not an equal-size comparison (rd.png shows its curve).")
    return out


# --------------------------------------------------------------------------- what it draws


def side_by_side(tour: ImageTour, zoom: int = ZOOM, columns: int = 5) -> bytes:
    """PNG: the original and every decoded crop, enlarged ``zoom`` times, in the table's order."""
    tiles = [tile(tour.original, ["original", f"{tour.original.shape[1]}x{tour.original.shape[0]} crop, x{zoom}"], zoom)]
    for i, r in enumerate(tour.rows, 1):
        colour = "#1f5fbf" if r.learned else "#7a4a00"
        tiles.append(tile(r.decoded, [f"{i}. {r.label}{' *' if tour.off_target(r) else ''}",
                                      f"{r.bpp(tour.pixels):.3f} bpp  {r.psnr:.2f} dB"], zoom, colour=colour))
    title = (f"kodim23 crop at about {tour.target_bpp:.2f} bpp: best PSNR first "
             f"(blue: neuralcodecs, brown: classical; * off the target size)")
    return png_bytes(grid(tiles, columns, title))


def rd_plot(tour: ImageTour) -> bytes:
    """PNG: PSNR against bpp of every point measured; the matched points large, the target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limit = PLOT_RATE_SPAN * tour.target_bpp
    fig, ax = plt.subplots(figsize=(8.5, 6), dpi=110)
    markers = "osD^v<>phX*"
    for i, r in enumerate(tour.rows):  # the table's order: best PSNR first
        pts = sorted(p for p in r.curve if p[0] <= limit)
        colour = f"C{i % 10}"
        style = "-" if r.learned else "--"
        if len(pts) > 1:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=colour, alpha=0.6, linewidth=1.2)
        ax.plot([r.bpp(tour.pixels)], [r.psnr], markers[i % len(markers)], color=colour, markersize=9,
                markeredgecolor="black", label=f"{i + 1}. {r.label}  {r.psnr:.2f} dB")
    ax.axvline(tour.target_bpp, color="grey", linestyle=":", linewidth=1)
    ax.set_xlim(0, limit)
    ax.set_xlabel("bits per pixel (complete file, header included)")
    ax.set_ylabel("PSNR-RGB [dB]")
    ax.set_title(f"kodim23 crop {tour.original.shape[1]}x{tour.original.shape[0]}: large markers at the target "
                 f"{tour.target_bpp:.2f} bpp (dotted);\nlines: other qualities (solid: neuralcodecs, dashed: classical)",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def results_json(tour: ImageTour) -> bytes:
    rows = [{"rank": i, "name": r.name, "label": r.label, "learned": r.learned, "quality": r.quality, "how": r.how,
             "file": r.filename, "bytes": len(r.data), "bpp": r.bpp(tour.pixels), "psnr-rgb": r.psnr,
             "ms-ssim-rgb": r.ms_ssim, "encode_seconds": r.encode_seconds, "off_target": tour.off_target(r),
             "curve": [{"bpp": b, "psnr-rgb": p} for b, p in sorted(r.curve)]}
            for i, r in enumerate(tour.rows, 1)]
    doc = {"image": f"kodim23 crop {tour.original.shape[1]}x{tour.original.shape[0]}", "target_bytes": tour.target_bytes,
           "target_bpp": tour.target_bpp, "target": tour.target_source, "seconds": tour.seconds, "rows": rows}
    return (json.dumps(doc, indent=1) + "\n").encode()


def tour_files(tour: ImageTour) -> dict[str, bytes]:
    """Every file the tour writes, ``{name: bytes}``."""
    files = {r.filename: r.data for r in tour.rows}
    files["original.png"] = png_bytes(Image.fromarray(tour.original))
    files["side_by_side.png"] = side_by_side(tour)
    files["rd.png"] = rd_plot(tour)
    files["results.json"] = results_json(tour)
    return files
