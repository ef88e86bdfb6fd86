"""Ablation of the overfitted codec's fitting quantizer at equal budget: C3's soft rounding with
noise against additive uniform noise, on BSDS500 training images (never Kodak).

Each fit runs the same steps, learning rates and phases (``ImageFitConfig`` defaults but the
``quantizer``); the result is the fit's own estimate after fitting (rounded latents, float ARM,
network bits not counted), set beside WebP on the same image at the same rate (PSNR
interpolated in log-rate between WebP's qualities; None when the rate is outside WebP's range).

    python benchmarks/overfit_fit_ablation.py                       # 2 images x 2 lambdas x 2 quantizers: ~10 min on 2 cores
    python benchmarks/overfit_fit_ablation.py --steps 20 --out /tmp/smoke

Writes ``benchmarks/results/overfit_fit_ablation.{json,md}``.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from common import RESULTS, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

IMAGES = ("100075", "100080")  # the first chose the fitting settings; the second was not looked at
LAMBDAS = (0.0032, 0.001)
QUANTIZERS = ("noise", "soft")


def _pixels(name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(SHARED_DATA / "images" / "bsds500" / "images" / "train" / f"{name}.jpg").convert("RGB"))


def webp_curve(img: np.ndarray) -> tuple[list[float], list[float]]:
    from PIL import Image

    H, W, _ = img.shape
    rates, psnrs = [], []
    for q in range(5, 100, 5):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "WEBP", quality=q, method=6)
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(np.float64)
        rates.append(8 * len(buf.getvalue()) / (H * W))
        psnrs.append(float(10 * np.log10(255**2 / np.mean((out - img) ** 2))))
    return rates, psnrs


def run_fit(name: str, lam: float, quantizer: str, steps: int) -> dict:
    import torch

    from neuralcodecs.inr.overfit.fitting import ImageFitConfig, fit_image
    from neuralcodecs.inr.overfit.model import OverfitConfig, OverfitModel

    torch.set_num_threads(1)
    img = _pixels(name)
    H, W, _ = img.shape
    torch.manual_seed(0)
    model = OverfitModel(OverfitConfig(), H, W)
    image = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
    fit = fit_image(model, image, ImageFitConfig(steps=steps, lam=lam, quantizer=quantizer))
    return {"image": name, "lambda": lam, "quantizer": quantizer, "steps": steps, "bpp": fit["bpp"], "psnr": fit["psnr"],
            "fit_minutes": fit["seconds"] / 60}


def beside_webp(row: dict, curve: tuple[list[float], list[float]]) -> dict:
    """``row`` plus WebP's PSNR at its rate (log-rate interpolation; None outside WebP's range)."""
    rates, psnrs = curve
    inside = min(rates) <= row["bpp"] <= max(rates)
    webp = float(np.interp(np.log(row["bpp"]), np.log(rates), psnrs)) if inside else None
    return {**row, "webp_psnr_at_rate": webp, "gain_vs_webp_db": None if webp is None else row["psnr"] - webp}


def markdown(rows: list[dict]) -> str:
    lines = [f"BSDS500 train {', '.join(sorted({r['image'] for r in rows}))}, {rows[0]['steps']} fitting steps, one core per fit; "
             "`python benchmarks/overfit_fit_ablation.py`", "",
             "| image | phase-1 quantizer | lambda | bpp (fit estimate) | PSNR (dB) | WebP at that rate (dB) | vs WebP (dB) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    label = {"noise": "additive uniform noise", "soft": "C3 soft rounding + noise"}
    for r in sorted(rows, key=lambda r: (r["image"], -r["lambda"], r["quantizer"])):
        webp = "-" if r["webp_psnr_at_rate"] is None else f"{r['webp_psnr_at_rate']:.2f}"
        gain = "-" if r["gain_vs_webp_db"] is None else f"{r['gain_vs_webp_db']:+.2f}"
        lines.append(f"| {r['image']} | {label[r['quantizer']]} | {r['lambda']:g} | {r['bpp']:.3f} | {r['psnr']:.2f} | {webp} | {gain} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="*", default=list(IMAGES))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "overfit_fit_ablation"))
    args = ap.parse_args()
    jobs = [(i, lam, q) for i in args.images for lam in LAMBDAS for q in QUANTIZERS]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_fit, *zip(*jobs), [args.steps] * len(jobs)))
    curves = {name: webp_curve(_pixels(name)) for name in args.images}  # once per image
    rows = [beside_webp(r, curves[r["image"]]) for r in rows]
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps({"rows": rows, "date": time.strftime("%Y-%m-%d")}, indent=1))
    out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
