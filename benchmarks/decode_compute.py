"""Decoding time against the compute estimate every codec gives before it decodes (the decode budget).

``neuralcodecs.budget`` turns a codec's :class:`~neuralcodecs.budget.DecodeEstimate` (multiply-
accumulates, parameter values read per network call, network calls) into seconds of the reference
machine with three rates.  This script measures them: it makes streams of every codec that stress
each term (large pictures for arithmetic, a big network on tiny frames for weight reads, thousands
of tiny frames and an auto-regressive model's wavefronts for calls), decodes each (best of
``--repeat`` in one process, one decode at a time, nothing else running), fits the three rates by
non-negative least squares on relative error, and writes the table of estimated against measured
seconds with the shipped rates and with the fitted ones.

Streams of the overfitted codecs are fitted for a few steps (their decoding cost does not depend on
how well they fit); images are BSDS500 / Sun-Hays photos, clips BasketballPass frames (never Kodak).

    python benchmarks/decode_compute.py [--repeat 2] [--only nerv,hnerv]
      -> benchmarks/results/decode_compute.{json,md}
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from common import RESULTS, ROOT, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

OUT = ROOT / "benchmarks" / "out" / "decode_compute"
PHOTO = SHARED_DATA / "images" / "sun_hays80" / "abbey_sun_asztnlqhlrvirneh.jpg"
CLIP = SHARED_DATA / "video" / "basketballpass_416x240"


def photo(height: int, width: int) -> np.ndarray:
    from PIL import Image

    with Image.open(PHOTO) as im:
        return np.asarray(im.convert("RGB").resize((width, height), Image.BICUBIC))


def clip(frames: int, height: int, width: int) -> np.ndarray:
    from PIL import Image

    files = sorted(CLIP.glob("*.png"))
    out = []
    for i in range(frames):
        with Image.open(files[i % len(files)]) as im:
            out.append(np.asarray(im.convert("RGB").resize((width, height), Image.BICUBIC)))
    return np.stack(out)


def short_fits():
    """Overfitted codecs fit a few steps (a stream's decoding cost does not depend on its fit)."""
    from neuralcodecs.inr import video_codec
    from neuralcodecs.inr.overfit import options as overfit_options

    video_codec.EFFORT_EPOCHS = {**video_codec.EFFORT_EPOCHS, "fast": 0}
    overfit_options.EFFORT_STEPS["fast"] = 30


#: name -> (codec, media maker, encode keywords): each stresses a term of the estimate
CASES = {
    "hyperprior-1024x768": ("hyperprior", lambda: photo(768, 1024), {"quality": 4}),
    "s2lic-768x512": ("s2lic", lambda: photo(512, 768), {"quality": 4}),
    "mcquic-1024x768": ("mcquic", lambda: photo(768, 1024), {"quality": 3}),
    "vqgan-1024x768": ("vqgan", lambda: photo(768, 1024), {"quality": 64}),
    "walloc-1024x768": ("walloc", lambda: photo(768, 1024), {"quality": 3}),
    "overfit-768x512": ("overfit", lambda: photo(512, 768), {"quality": 3, "effort": "fast"}),
    "overfit-256x4096": ("overfit", lambda: photo(256, 4096), {"quality": 3, "effort": "fast"}),
    "stem-416x240x12": ("stem", lambda: clip(12, 240, 416), {"quality": 4, "intra_period": 4}),
    "nerv-0.3M-320x180x24": ("nerv", lambda: clip(24, 180, 320), {"quality": 0.3, "effort": "fast"}),
    # the encoder refuses a network larger than its clip; the decoder must still bound what such a stream costs
    "nerv-8M-16x16x40": ("nerv", lambda: clip(40, 16, 16), {"quality": 8.0, "effort": "fast", "forge": True}),
    "nerv-0.005M-16x16x3000": ("nerv", lambda: clip(3000, 16, 16), {"quality": 0.005, "effort": "fast"}),
    "hnerv-0.3M-320x180x24": ("hnerv", lambda: clip(24, 180, 320), {"quality": 0.3, "effort": "fast"}),
    "nirvana-0.05M-320x180x12": ("nirvana", lambda: clip(12, 180, 320), {"quality": 0.05, "effort": "fast"}),
}


def stream(name: str) -> bytes:
    """The case's stream (made once, kept in benchmarks/out/decode_compute)."""
    import neuralcodecs as nc

    path = OUT / f"{name}.ncb"
    if not path.exists():
        codec, media, keywords = CASES[name]
        OUT.mkdir(parents=True, exist_ok=True)
        if keywords.pop("forge", False):
            path.write_bytes(fitted_without_size_rule(codec, media(), keywords))
        else:
            path.write_bytes(nc.encode(media(), codec=codec, **keywords))
    return path.read_bytes()


def fitted_without_size_rule(name: str, frames: np.ndarray, keywords: dict) -> bytes:
    """An overfitted video codec's stream fitted and packed as ``encode`` does, without its size rule."""
    from fractions import Fraction

    import neuralcodecs as nc
    from neuralcodecs.inr.video_codec import frames_to_tensor

    codec = nc.load_codec(name)
    options = codec.check_options({"effort": keywords["effort"]})
    fitted = codec.fit_clip(frames_to_tensor(frames), int(round(keywords["quality"] * 1e6)), options, False)
    T, H, W, _ = frames.shape
    return codec.pack_fitted(fitted, T, H, W, Fraction(25))


def measure(name: str, repeat: int) -> dict:
    import neuralcodecs as nc
    from neuralcodecs.bitstream import unpack
    from neuralcodecs.budget import Budget

    data = stream(name)
    header, sections = unpack(data)
    codec = nc.load_codec(header.codec)
    estimate = codec.decode_estimate(header, sections)
    unlimited = Budget(max_pixels=2**31, max_memory=2**40, max_compute=1e9)
    seconds = []
    for _ in range(repeat):
        began = time.perf_counter()
        codec.decode_parsed(header, sections, budget=unlimited)
        seconds.append(time.perf_counter() - began)
    return {"case": name, "codec": header.codec, "bytes": len(data), "geometry": [header.frames, header.height, header.width],
            "macs": estimate.macs, "weight_reads": estimate.weight_reads, "calls": estimate.calls,
            "estimated_s": estimate.seconds, "measured_s": min(seconds), "memory_estimate_mib": estimate.memory / 2**20}


def fit_rates(rows: list[dict]) -> dict:
    """Rates minimizing the relative error of ``macs / R + weights / W + calls * c`` (NNLS)."""
    from scipy.optimize import nnls

    a = np.array([[r["macs"], r["weight_reads"], r["calls"]] for r in rows]) / np.array([[r["measured_s"]] for r in rows])
    scale = a.max(0)
    coef, _ = nnls(a / scale, np.ones(len(rows)))
    inv = coef / scale
    return {"macs_per_second": 1 / inv[0] if inv[0] else None, "weights_per_second": 1 / inv[1] if inv[1] else None,
            "seconds_per_call": inv[2]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", help="comma-separated codec names")
    args = parser.parse_args()
    import torch

    from neuralcodecs import budget

    short_fits()
    names = [n for n in CASES if not args.only or CASES[n][0] in args.only.split(",")]
    rows = []
    for name in names:
        rows.append(measure(name, args.repeat))
        print(json.dumps(rows[-1]))
    fitted = fit_rates(rows)
    for r in rows:
        r["ratio"] = r["measured_s"] / r["estimated_s"]
    shipped = {"macs_per_second": budget.MACS_PER_SECOND, "weights_per_second": budget.WEIGHTS_PER_SECOND,
               "seconds_per_call": budget.SECONDS_PER_CALL}
    result = {"rates_shipped": shipped, "rates_fitted": fitted, "cases": rows,
              "meta": {"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                       "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}}
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if not args.only else "_" + args.only.replace(",", "_")
    (RESULTS / f"decode_compute{suffix}.json").write_text(json.dumps(result, indent=2))
    lines = ["| case | G MAC | G weight reads | calls | estimated s | measured s | measured / estimated |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['macs'] / 1e9:.2f} | {r['weight_reads'] / 1e9:.3f} | {r['calls']:.0f} | "
                     f"{r['estimated_s']:.2f} | {r['measured_s']:.2f} | {r['ratio']:.2f} |")
    lines.append("")
    lines.append(f"Shipped rates: {shipped['macs_per_second'] / 1e9:.1f} G MAC/s, {shipped['weights_per_second'] / 1e9:.2f} G "
                 f"weight reads/s, {shipped['seconds_per_call'] * 1e6:.0f} us per call.  Fitted on these cases: "
                 + ", ".join(f"{k} {v:.3g}" for k, v in fitted.items() if v is not None)
                 + f".  {result['meta']['machine']}, {result['meta']['threads']} threads, torch {result['meta']['torch']}.")
    (RESULTS / f"decode_compute{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
