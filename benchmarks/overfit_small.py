"""The overfitted image codec on small images against WebP.

``python benchmarks/overfit_small.py`` (the table, issue 27): the shipped codec at its default
effort on 96x128 and 256x256 crops of BSDS500 test photos (never Kodak), three rate points each:
PSNR beside the WebP anchor's (method 6) largest file of at most the same size, and the share of the file that is the
network (parameters and the integer ARM).  ``-> benchmarks/results/overfit_small_table.{json,md}``

``python benchmarks/overfit_small.py --widths`` (the study behind the small-image widths):

A Cool-chic-style file carries its decoder, about 1.1 k parameters at the default widths (hidden
40, ARM 16 x 16 over 16 neighbours, 7 levels): some 9 kbit, which is most of the file of a small
image.  This fits 96x128 crops of two BSDS500 training photos (never Kodak) at two rate points with
three width sets at effort ``fast`` (1,000 steps, one thread each) and reports each set's BD-rate
against WebP on the same crop; the smallest set became the small-image configuration
(``neuralcodecs.inr.overfit.model.SMALL_IMAGE``).

    python benchmarks/overfit_small.py --widths  ->  benchmarks/results/overfit_small.{json,md}
"""

from __future__ import annotations

import io
import json
import time

import numpy as np

from common import RESULTS, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

CROPS = {"100075": (100, 150), "108073": (100, 150)}  # BSDS500 train photo -> top-left of a 96x128 crop
WIDTHS = {
    "default": {},
    "h16": {"hidden": 16, "context": 8, "arm_hidden": 8, "levels": 6},
    "h8": {"hidden": 8, "context": 8, "arm_hidden": 8, "levels": 5},
}
QUALITIES = (2, 4)


def webp_curve(img: np.ndarray) -> list[tuple[float, float]]:
    from PIL import Image

    from neuralcodecs.metrics import psnr

    points = []
    for q in (10, 30, 50, 70, 85, 95):
        buffer = io.BytesIO()
        Image.fromarray(img).save(buffer, "WEBP", quality=q)
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        points.append((len(buffer.getvalue()) * 8 / img.shape[0] / img.shape[1], psnr(img, decoded)))
    return points


TABLE_CROPS = {("100007", 96, 128): (100, 150), ("10081", 96, 128): (100, 150),
               ("100039", 256, 256): (30, 100), ("100099", 256, 256): (30, 100)}  # BSDS500 test -> top-left
TABLE_QUALITIES = (2, 3, 4)


def webp_at_most(img: np.ndarray, size: int) -> tuple[int, float] | None:
    """The WebP anchor's largest file of at most ``size`` bytes (bisection on its quality):
    ``(bytes, PSNR)``, or None when even quality 0 is larger."""
    from neuralcodecs.anchors import anchor
    from neuralcodecs.metrics import psnr
    from neuralcodecs.ratecontrol import search_quality

    webp = anchor("webp")
    found = search_quality(lambda q: webp.encode(img, q), list(range(101)), score=lambda n: -n, feasible=lambda n: n <= size)
    return None if found is None else (len(found[1]), psnr(img, webp.decode(found[1])))


def table() -> None:
    import torch
    from PIL import Image

    import neuralcodecs as nc
    from neuralcodecs import bitstream
    from neuralcodecs.inr.overfit.codec import OverfitCodec
    from neuralcodecs.metrics import psnr

    torch.set_num_threads(1)
    rows = []
    for (name, h, w), (top, left) in TABLE_CROPS.items():
        photo = np.asarray(Image.open(SHARED_DATA / "images" / "bsds500" / "images" / "test" / f"{name}.jpg").convert("RGB"))
        img = np.ascontiguousarray(photo[top : top + h, left : left + w])
        for q in TABLE_QUALITIES:
            codec = OverfitCodec()
            began = time.time()
            data = codec.encode(img, quality=q)  # the default effort
            seconds = time.time() - began
            _, sections = bitstream.unpack(data)
            webp = webp_at_most(img, len(data))
            rows.append({"crop": f"{name} {h}x{w}", "quality": q, "bytes": len(data), "bpp": 8 * len(data) / (h * w),
                         "psnr": psnr(img, nc.decode(data)), "network_share": (len(sections[0]) + len(sections[1])) / len(data),
                         "webp_bytes": webp[0] if webp else None, "webp_psnr": webp[1] if webp else None,
                         "steps": codec.last_report["steps"], "seconds": seconds})
            print(json.dumps(rows[-1]), flush=True)
    write_table(rows)


def write_table(rows: list[dict]) -> None:
    """``overfit_small_table.{json,md}`` of the table's rows."""
    lines = ["Overfitted codec at its default effort on BSDS500 test crops beside the WebP anchor's largest file in at "
             "most as many bytes (`python benchmarks/overfit_small.py`)", "",
             "| crop | quality | bytes | bpp | PSNR (dB) | WebP bytes | WebP PSNR (dB) | network share | steps | fit s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        webp = (f"{r['webp_bytes']} | {r['webp_psnr']:.2f}" if r["webp_bytes"] else "none that small | ")
        lines.append(f"| {r['crop']} | {r['quality']} | {r['bytes']} | {r['bpp']:.2f} | {r['psnr']:.2f} | {webp} | "
                     f"{100 * r['network_share']:.0f}% | {r['steps']} | {r['seconds']:.0f} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "overfit_small_table.json").write_text(json.dumps({"rows": rows, "date": time.strftime("%Y-%m-%d")}, indent=1))
    (RESULTS / "overfit_small_table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def widths_study():
    import torch
    from PIL import Image

    import neuralcodecs as nc
    from neuralcodecs.inr.overfit import model as overfit_model
    from neuralcodecs.inr.overfit.codec import OverfitCodec
    from neuralcodecs.inr.overfit.model import OverfitConfig
    from neuralcodecs.metrics import bd_rate, psnr

    torch.set_num_threads(1)
    overfit_model.SMALL_IMAGE = {}  # fit exactly the widths under test
    results = {}
    for name, (top, left) in CROPS.items():
        photo = np.asarray(Image.open(SHARED_DATA / "images" / "bsds500" / "images" / "train" / f"{name}.jpg").convert("RGB"))
        img = np.ascontiguousarray(photo[top : top + 96, left : left + 128])
        webp = webp_curve(img)
        for label, widths in WIDTHS.items():
            codec = OverfitCodec(cfg=OverfitConfig(**widths))
            points = []
            for q in QUALITIES:
                began = time.time()
                data = codec.encode(img, quality=q, effort="fast")
                points.append({"quality": q, "bpp": len(data) * 8 / (img.shape[0] * img.shape[1]), "psnr": psnr(img, nc.decode(data)),
                               "seconds": time.time() - began})
            bd = bd_rate([p[0] for p in webp], [p[1] for p in webp], [p["bpp"] for p in points], [p["psnr"] for p in points])
            results[f"{name}/{label}"] = {"widths": widths, "points": points, "bd_rate_vs_webp": bd}
            print(name, label, json.dumps(results[f"{name}/{label}"]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "overfit_small.json").write_text(json.dumps(results, indent=2))
    lines = ["| crop (96x128) | widths | BD-rate vs WebP | points (bpp / dB) |", "|---|---|---:|---|"]
    for key, r in results.items():
        crop, label = key.split("/")
        pts = ", ".join(f"{p['bpp']:.2f} / {p['psnr']:.2f}" for p in r["points"])
        lines.append(f"| {crop} | {label} {r['widths'] or ''} | {r['bd_rate_vs_webp']:+.1f}% | {pts} |")
    (RESULTS / "overfit_small.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    import sys

    widths_study() if "--widths" in sys.argv[1:] else table()
