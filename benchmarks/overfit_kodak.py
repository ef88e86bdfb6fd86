"""The overfitted image codec on a fixed Kodak subset beside WebP, AVIF, JPEG 2000 and the best
amortized codec of the library (hyperprior), all measured in the same run.

Per image and rate point: bytes of the whole file, PSNR, MS-SSIM, encode (fitting) minutes,
decode milliseconds (one thread, best of two), decodes identical with 1 and 2 threads, the
latent section against the integer ARM's ideal code length and against the float model's
estimate at the end of fitting.  Points run in ``--workers`` processes, one torch thread each;
every finished point is appended to ``OUT.points.jsonl`` and a rerun skips the points there
(the run resumes).

    python benchmarks/overfit_kodak.py --effort fast                # 6 images x 4 rates: ~1 h on 2 cores
    python benchmarks/overfit_kodak.py --effort fast --images kodim23 --qualities 3 --out /tmp/smoke   # smoke
    python benchmarks/overfit_kodak.py --effort best --streams DIR  # files fitted elsewhere (overfit_fit_streams.py)

Writes ``benchmarks/results/overfit_kodak[_EFFORT].{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from common import DEFAULT_KODAK, RESULTS  # noqa: E402  (also puts the repository on sys.path)

SUBSET = ("kodim01", "kodim04", "kodim08", "kodim15", "kodim20", "kodim23")
ANCHOR_NAMES = ("webp", "avif", "jpeg2000")
AMORTIZED = "hyperprior"


#: the steps of each effort in runs made before the summaries recorded them (effort was then a step count)
RUN_STEPS_BEFORE_ISSUE_27 = {"fast": 1000, "medium": 3000, "best": 10000}


def run_steps(summary: dict) -> int:
    """The fitting steps of the run a summary describes (recorded, or the definition of its time)."""
    return summary.get("steps") or RUN_STEPS_BEFORE_ISSUE_27[summary["effort"]]


def result_stem(effort: str) -> str:
    """``benchmarks/results/<stem>.{json,md,points.jsonl}`` of a run at ``effort``."""
    return "overfit_kodak" if effort == "fast" else f"overfit_kodak_{effort}"


def _pixels(name: str, kodak: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(Path(kodak) / f"{name}.png").convert("RGB"))


def _quality(img: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    from neuralcodecs.metrics import ms_ssim

    mse = np.mean((img.astype(np.float64) - out) ** 2)
    return float(10 * np.log10(255**2 / mse)), float(ms_ssim(img, out))


def run_overfit(name: str, quality: int, effort: str, kodak: str, streams: str | None = None,
                fit_states: str | None = None) -> dict:
    """One rate point: encoded here, or with ``streams`` read from the files (and fitting report)
    that ``overfit_fit_streams.py`` wrote there.  ``fit_states``: a folder keeping each point's
    fitting state, its fitting minutes and its file; a later run with the same folder codes the
    finished fit again without fitting (a new stream revision measured on the same fits)."""
    import torch

    from neuralcodecs import bitstream, registry

    torch.set_num_threads(1)
    img = _pixels(name, kodak)
    codec = registry.load("overfit")
    if streams is None:
        state = Path(fit_states) / f"{name}_q{quality}_{effort}" if fit_states else None
        t0 = time.perf_counter()
        data = codec.encode(img, quality=quality, effort=effort, fit_state=str(state or ""))
        encode_s = time.perf_counter() - t0
        if state is not None:  # the first run's fitting time stays the point's encode time; the file is kept
            state.with_suffix(".ncb").write_bytes(data)
            minutes = state.with_suffix(".seconds")
            if not minutes.exists():
                minutes.write_text(f"{encode_s}\n")
            encode_s = float(minutes.read_text())
        report = dict(codec.last_report, device="this CPU")
    else:
        from overfit_fit_streams import stream_name

        data = (Path(streams) / stream_name(name, quality, effort)).read_bytes()
        fits = [json.loads(line) for line in (Path(streams) / "fits.jsonl").read_text().splitlines()]
        report = [f for f in fits if (f["image"], f["quality"], f["effort"]) == (name, quality, effort)][-1]
        encode_s = 60 * report["fit_minutes"]
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        out = codec.decode(data)
        times.append(time.perf_counter() - t0)
    torch.set_num_threads(2)
    two = codec.decode(data)
    torch.set_num_threads(1)
    psnr, msssim = _quality(img, out)
    _, sections = bitstream.unpack(data)
    H, W, _ = img.shape
    from neuralcodecs.inr.overfit.options import fitting_steps

    revision = codec.stream_revision(bitstream.read_header(data))
    return {"codec": "overfit", "image": name, "quality": quality, "effort": effort, "revision": revision,
            "encoded_on": report["device"], "bytes": len(data),
            "steps": report.get("steps", fitting_steps(effort, H * W)),
            "bpp": 8 * len(data) / (H * W), "psnr": psnr, "ms-ssim": msssim, "encode_minutes": encode_s / 60,
            "decode_ms": 1000 * min(times), "threads_identical": bool(np.array_equal(out, two)),
            "latent_bits": 8 * len(sections[2]), "latent_ideal_bits": report["latent_ideal_bits"],
            "fit_estimate_bits": report["fit_bpp"] * H * W, "parameter_bytes": report["parameter_bytes"],
            "arm_bytes": report["arm_bytes"]}


def run_reference(name: str, kodak: str) -> list[dict]:
    """The anchors' sweeps and the amortized codec's ladder on one image."""
    import torch

    from neuralcodecs import registry
    from neuralcodecs.anchors import ANCHORS

    torch.set_num_threads(1)
    img = _pixels(name, kodak)
    H, W, _ = img.shape
    rows = []
    for anchor in ANCHOR_NAMES:
        a = ANCHORS[anchor]
        for q in a.sweep:
            data = a.encode(img, q)
            rows.append({"codec": anchor, "image": name, "quality": q, "bpp": 8 * len(data) / (H * W),
                         **dict(zip(("psnr", "ms-ssim"), _quality(img, a.decode(data))))})
    codec = registry.load(AMORTIZED)
    for q in codec.quality.sweep:
        data = codec.encode(img, quality=q)
        t0 = time.perf_counter()
        out = codec.decode(data)
        rows.append({"codec": AMORTIZED, "image": name, "quality": q, "bpp": 8 * len(data) / (H * W),
                     "decode_ms": 1000 * (time.perf_counter() - t0), **dict(zip(("psnr", "ms-ssim"), _quality(img, out)))})
    return rows


def curves(rows: list[dict]) -> dict[str, dict]:
    """Mean bpp / PSNR / MS-SSIM per codec and quality over the images (each image at every quality)."""
    out: dict[str, dict] = {}
    for codec in sorted({r["codec"] for r in rows}):
        qs = sorted({r["quality"] for r in rows if r["codec"] == codec})
        pts = [[r for r in rows if r["codec"] == codec and r["quality"] == q] for q in qs]
        out[codec] = {k: [float(np.mean([r[k] for r in p])) for p in pts] for k in ("bpp", "psnr", "ms-ssim")}
        out[codec]["quality"] = qs
    return out


def image_bd_rate(points: list[dict], reference: list[dict], image: str) -> float | None:
    """BD-rate (PSNR) of the overfit points of ``image`` against WebP's sweep on it; None without overlap."""
    from neuralcodecs.metrics import bd_rate

    ours = sorted((p["bpp"], p["psnr"]) for p in points if p["image"] == image)
    webp = sorted((r["bpp"], r["psnr"]) for r in reference if r["image"] == image and r["codec"] == "webp")
    try:
        return bd_rate(*zip(*webp), *zip(*ours))
    except ValueError:
        return None


def summary(points: list[dict], reference: list[dict], effort: str) -> dict:
    from neuralcodecs.inr.overfit.model import OverfitConfig, macs_per_pixel
    from neuralcodecs.metrics import bd_rate

    c = curves(points + reference)
    bd = {}
    for codec in c:
        if codec == "webp":
            continue
        try:
            bd[codec] = bd_rate(c["webp"]["bpp"], c["webp"]["psnr"], c[codec]["bpp"], c[codec]["psnr"])
        except ValueError:
            bd[codec] = None
    per_image = {image: image_bd_rate(points, reference, image) for image in sorted({p["image"] for p in points})}
    steps = sorted({p["steps"] for p in points if "steps" in p})
    return {"effort": effort, "steps": steps[0] if len(steps) == 1 else None,
            "images": sorted({p["image"] for p in points}), "curves": c, "bd_rate_vs_webp_psnr": bd,
            "bd_rate_vs_webp_psnr_per_image": per_image,
            "encoded_on": sorted({p.get("encoded_on", "this CPU") for p in points}),
            "encode_minutes_per_image_and_rate": float(np.mean([p["encode_minutes"] for p in points])),
            "decode_ms_mean": float(np.mean([p["decode_ms"] for p in points])),
            "amortized_decode_ms_mean": float(np.mean([r["decode_ms"] for r in reference if "decode_ms" in r])),
            "macs_per_pixel": macs_per_pixel(OverfitConfig()),
            "threads_identical": all(p["threads_identical"] for p in points),
            "latent_section_vs_ideal": float(np.mean([p["latent_bits"] / p["latent_ideal_bits"] - 1 for p in points])),
            "latent_section_vs_fit_estimate": float(np.mean([p["latent_bits"] / p["fit_estimate_bits"] - 1 for p in points
                                                             if p["fit_estimate_bits"] > 0]))}  # 0 only on tiny images


def _percent(v: float | None) -> str:
    return "no overlap" if v is None else f"{v:+.1f}%"


def markdown(s: dict) -> str:
    lines = [f"Kodak subset ({', '.join(s['images'])}), effort `{s['effort']}`, fitted on {' and '.join(s['encoded_on'])} "
             "(one CPU core per process), measured on this CPU; `python benchmarks/overfit_kodak.py`", "",
             "| codec | quality | bpp | PSNR-RGB (dB) | MS-SSIM |", "|---|---|---|---|---|"]
    for codec, cv in s["curves"].items():
        for q, b, p, m in zip(cv["quality"], cv["bpp"], cv["psnr"], cv["ms-ssim"]):
            lines.append(f"| {codec} | {q:g} | {b:.3f} | {p:.2f} | {m:.4f} |")
    lines += ["", "| codec | BD-rate vs WebP (PSNR) |", "|---|---|"]
    for codec, v in s["bd_rate_vs_webp_psnr"].items():
        lines.append(f"| {codec} | {_percent(v)} |")
    lines += ["", "| image | " + " | ".join(s["bd_rate_vs_webp_psnr_per_image"]) + " |",
              "|---|" + "---|" * len(s["bd_rate_vs_webp_psnr_per_image"]),
              "| overfit vs WebP | " + " | ".join(_percent(v) for v in s["bd_rate_vs_webp_psnr_per_image"].values()) + " |"]
    lines += ["", f"- encode: {s['encode_minutes_per_image_and_rate']:.1f} min per image and rate point; decode "
              f"{s['decode_ms_mean']:.0f} ms per image (one thread; {AMORTIZED}: {s['amortized_decode_ms_mean']:.0f} ms); "
              f"{s['macs_per_pixel']:.0f} multiply-accumulates per pixel",
              f"- latent section vs the integer ARM's ideal code length: {100 * s['latent_section_vs_ideal']:+.2f}%; "
              f"vs the float model's estimate after fitting: {100 * s['latent_section_vs_fit_estimate']:+.2f}%; "
              f"decodes identical with 1 and 2 threads: {s['threads_identical']}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="*", default=list(SUBSET))
    ap.add_argument("--qualities", default="2,3,4,5")
    ap.add_argument("--effort", default="fast")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--streams", default=None, help="measure the files overfit_fit_streams.py wrote to this folder")
    ap.add_argument("--fit-states", default=None, help="keep (or reuse) each point's finished fit in this folder")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    out = Path(args.out or RESULTS / result_stem(args.effort))
    log = out.with_suffix(".points.jsonl")
    from neuralcodecs.inr.overfit.options import fitting_steps

    steps = fitting_steps(args.effort, 768 * 512)  # every Kodak image has 393,216 pixels
    done = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    # points of another effort definition or stream revision (or made before points recorded them) are not reused
    from neuralcodecs.inr.overfit.codec import REVISION

    done = [p for p in done if p["effort"] == args.effort and p.get("steps") == steps and p.get("revision") == REVISION]
    have = {(p["image"], p["quality"]) for p in done}
    jobs = [(i, int(q)) for i in args.images for q in args.qualities.split(",") if (i, int(q)) not in have]
    with ProcessPoolExecutor(args.workers) as pool:
        reference = pool.map(run_reference, args.images, [args.kodak] * len(args.images))
        futures = [pool.submit(run_overfit, i, q, args.effort, args.kodak, args.streams, args.fit_states)
                   for i, q in jobs]
        for f in futures:
            point = f.result()
            done.append(point)
            with open(log, "a") as fh:
                fh.write(json.dumps(point) + "\n")
            print(json.dumps(point), flush=True)
        reference = [r for rows in reference for r in rows]
    points = [p for p in done if p["effort"] == args.effort and p["image"] in args.images]
    s = summary(points, reference, args.effort)
    result = {"summary": s, "points": points, "reference": reference, "date": time.strftime("%Y-%m-%d")}
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(markdown(s))
    print(markdown(s))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
