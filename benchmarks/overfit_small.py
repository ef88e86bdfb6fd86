"""The overfitted image codec on small images: network widths against WebP.

A Cool-chic-style file carries its decoder, about 1.1 k parameters at the default widths (hidden
40, ARM 16 x 16 over 16 neighbours, 7 levels): some 9 kbit, which is most of the file of a small
image.  This fits 96x128 crops of two BSDS500 training photos (never Kodak) at two rate points with
three width sets at effort ``fast`` (1,000 steps, one thread each) and reports each set's BD-rate
against WebP on the same crop; the smallest set became the small-image configuration
(``neuralcodecs.inr.overfit.model.SMALL_IMAGE``).

    python benchmarks/overfit_small.py  ->  benchmarks/results/overfit_small.{json,md}
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


def main():
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
    main()
