"""The high-rate ceiling of the trained image codecs: where their PSNR stops, and why.

At each codec's top quality, per Kodak image, the same latents go through the synthesis four
ways, so the causes separate:

* ``file``: the real file (bpp, PSNR);
* ``step 1``: the latents rounded as the file rounds them (``round(y - mean) + mean``), through
  the float synthesis -- the file's picture up to the exact-integer details;
* ``step 1/2``, ``step 1/4``: the same latents on a grid two and four times finer: what a level
  beyond the ladder's top would give if the synthesis could use it (no bits: a PSNR only);
* ``unquantized``: the continuous latents: the transforms' own capacity, the PSNR no rate can
  pass with this analysis transform;
* ``synthesis alone`` (on ``--synthesis-images``): continuous latents fitted to the image for
  its MSE through the synthesis, the PSNR no encoder can pass with this decoder.

If ``unquantized`` sits near ``file``, the ceiling is the transforms (their capacity and
training), and no level, lambda or entropy model lifts it (``synthesis alone`` then splits it
between the analysis and the synthesis); if the finer steps climb towards it,
the ladder's top step is the limit, and a higher level (wider gains, its own training) would
lift it.  ``walloc`` has no gain: its finer steps are the 8-bit latents' own quantization made
finer (``round(u * s) / s``), which its decoder never saw.  WebP at quality 95 on the same
images is the reference of what a classical codec reaches.

    python benchmarks/high_rate_ceiling.py            # 24 Kodak images, hyperprior, s2lic, walloc: ~10 min

Writes ``benchmarks/results/high_rate_ceiling.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import DEFAULT_KODAK, RESULTS

import neuralcodecs as nc
from neuralcodecs.anchors import anchor
from neuralcodecs.image.base import pixels_to_tensor, tensor_to_pixels
from neuralcodecs.metrics import psnr

KODAK = tuple(f"kodim{i:02d}" for i in range(1, 25))
STEPS = (1, 2, 4)  # latent grid refinement: step 1, 1/2, 1/4


def fine(step: int):
    """Rounding to a grid ``1 / step`` (``None``: no rounding)."""
    if step is None:
        return lambda v: v
    return lambda v: torch.round(v * step) / step


@torch.no_grad()
def hyperprior_pictures(codec, x: torch.Tensor, q256: int) -> dict:
    frozen = codec.frozen
    model = frozen.model
    y = model.g_a(x) * frozen.gain_float(q256)
    z_hat = torch.round(model.h_a(y))
    mean = model.hyper_parameters(z_hat)[0] * frozen.gain_float(q256)
    inv_gain = frozen.gains(q256)[2].reshape(1, -1, 1, 1)
    out = {}
    for step in (*STEPS, None):
        out[step] = model.g_s((fine(step)(y - mean) + mean) * inv_gain)
    return out


@torch.no_grad()
def s2lic_pictures(codec, x: torch.Tensor, q256: int) -> dict:
    frozen = codec.frozen
    model = frozen.model
    gain, inv_gain = frozen.gain_float(q256), frozen.ladder.at(q256)[2]
    y = model.g_a(x) * gain
    z_hat = torch.round(model.h_a(y))
    hyper = model.h_s(z_hat)
    out = {}
    for step in (*STEPS, None):
        r = model.context_model(y, hyper, gain, model.gaussian_conditional, rounding=fine(step))
        out[step] = model.g_s(r["y_hat"] * inv_gain.reshape(1, -1, 1, 1) + r["residual"])
    return out


@torch.no_grad()
def walloc_pictures(codec, x: torch.Tensor, quality: int) -> dict:
    model = codec.model
    u = model.companded(x, quality - 1)
    return {step: model.reconstruct(fine(step)(u), quality - 1) for step in (*STEPS, None)}


PICTURES = {"hyperprior": hyperprior_pictures, "s2lic": s2lic_pictures, "walloc": walloc_pictures}


def synthesis_ceiling(codec, x: torch.Tensor, arg, size: tuple[int, int], steps: int) -> torch.Tensor:
    """The synthesis alone: continuous latents fitted to the image by ``steps`` Adam steps on its
    MSE (no rate, no rounding), from the analysis transform's; the picture ``(1, 3, H, W)``."""
    from neuralcodecs.fitting import frozen_parameters, refine

    h, w = size
    if codec.name == "walloc":
        model, lr = codec.model, 0.5
        start = {"v": model.companded(x, arg - 1).detach()}
        synth = lambda v: model.reconstruct(v, arg - 1)  # noqa: E731
    elif codec.name == "hyperprior":
        frozen, lr = codec.frozen, 2e-2
        model = frozen.model
        inv_gain = frozen.gains(arg)[2].reshape(1, -1, 1, 1)
        start = {"v": (model.g_a(x) * frozen.gain_float(arg)).detach()}
        synth = lambda v: model.g_s(v * inv_gain)  # noqa: E731
    else:  # s2lic: the latent residual prediction is part of its synthesis
        frozen, lr = codec.frozen, 5e-2
        model = frozen.model
        gain, inv_gain = frozen.gain_float(arg), frozen.ladder.at(arg)[2]
        y = (model.g_a(x) * gain).detach()
        hyper = model.h_s(torch.round(model.h_a(y))).detach()
        start = {"v": y}

        def synth(v):
            r = model.context_model(v, hyper, gain, model.gaussian_conditional, rounding=lambda t: t)
            return model.g_s(r["y_hat"] * inv_gain.reshape(1, -1, 1, 1) + r["residual"])

    def loss(latents, tau, generator):
        return torch.mean((synth(latents["v"])[..., :h, :w] - x[..., :h, :w]) ** 2)

    with frozen_parameters(model):
        best = refine(loss, start, steps, lr)
    with torch.no_grad():
        return synth(best["v"])


def top_quality(codec) -> tuple[float, object]:
    """``(quality, argument of the picture function)``: the top of the codec's ladder."""
    q = float(codec.quality.high)
    return q, (int(q) if codec.name == "walloc" else int(round(q * 256)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--images", nargs="+", default=list(KODAK))
    ap.add_argument("--codecs", nargs="+", default=list(PICTURES))
    ap.add_argument("--synthesis-steps", type=int, default=100, help="steps of the synthesis-alone fit (0: none)")
    ap.add_argument("--synthesis-images", nargs="*", default=["kodim01", "kodim13"],
                    help="the images the synthesis-alone fit runs on (it costs a backward pass per step)")
    ap.add_argument("--out", default=str(RESULTS / "high_rate_ceiling"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    webp = anchor("webp")
    rows = []
    codecs = {name: nc.load_codec(name) for name in args.codecs}
    for image in args.images:
        pixels = np.asarray(Image.open(Path(args.kodak) / f"{image}.png").convert("RGB"))
        h, w = pixels.shape[:2]
        data = webp.encode(pixels, 95)
        rows.append({"image": image, "codec": "webp", "quality": 95, "bpp": 8 * len(data) / (h * w),
                     "psnr": {"file": psnr(pixels, webp.decode(data))}})
        for name, codec in codecs.items():
            q, arg = top_quality(codec)
            data = codec.encode(pixels, quality=q)
            row = {"image": image, "codec": name, "quality": q, "bpp": 8 * len(data) / (h * w),
                   "psnr": {"file": psnr(pixels, codec.decode(data))}}
            x = pixels_to_tensor(pixels, codec.pad_multiple, "cpu")
            for step, picture in PICTURES[name](codec, x, arg).items():
                key = "unquantized" if step is None else f"step 1/{step}" if step > 1 else "step 1"
                row["psnr"][key] = psnr(pixels, tensor_to_pixels(picture.clamp(0, 1), h, w))
            if args.synthesis_steps and image in args.synthesis_images:
                picture = synthesis_ceiling(codec, x, arg, (h, w), args.synthesis_steps)
                row["psnr"]["synthesis alone"] = psnr(pixels, tensor_to_pixels(picture.clamp(0, 1), h, w))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    keys = ["file", "step 1", "step 1/2", "step 1/4", "unquantized"]
    summary = {}
    for name in ["webp", *codecs]:
        r = [row for row in rows if row["codec"] == name]
        summary[name] = {"quality": r[0]["quality"], "bpp": float(np.mean([x["bpp"] for x in r])),
                         "psnr": {k: float(np.mean([x["psnr"][k] for x in r])) for k in keys if k in r[0]["psnr"]}}
    command = "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    out = {"images": args.images, "command": command, "summary": summary, "rows": rows}
    Path(args.out).with_suffix(".json").write_text(json.dumps(out, indent=1))
    lines = [f"Kodak ({len(args.images)} images), each codec at its top quality, mean PSNR-RGB (dB) of the same latents "
             f"through the synthesis; `{command}`", "",
             "| codec | quality | bpp (file) | file | step 1 | step 1/2 | step 1/4 | unquantized |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in summary.items():
        cells = " | ".join(f"{s['psnr'][k]:.2f}" if k in s["psnr"] else "" for k in keys)
        lines.append(f"| {name} | {s['quality']:g} | {s['bpp']:.3f} | {cells} |")
    fitted = [r for r in rows if "synthesis alone" in r["psnr"]]
    if fitted:
        names = sorted({r["image"] for r in fitted})
        lines += ["", f"The synthesis alone on {', '.join(names)}: latents fitted to the image for {args.synthesis_steps} "
                  "steps (MSE only, no rounding) against the analysis transform's (unquantized), PSNR-RGB (dB):", "",
                  "| codec | image | unquantized | synthesis alone |", "|---|---|---:|---:|"]
        for r in fitted:
            lines.append(f"| {r['codec']} | {r['image']} | {r['psnr']['unquantized']:.2f} | {r['psnr']['synthesis alone']:.2f} |")
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
