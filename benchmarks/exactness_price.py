"""The price of exact entropy parameters: hyperprior exact vs float, Kodak BD-rate.

Both versions use the same shipped weights and the same coder and tables; they differ only
in how the decoder-side entropy parameters are computed:

* exact (what files use): integer hyper-synthesis, fixed-point gains, nearest scale in the
  log domain (bitstreams/FORMAT.md);
* float (the conventional way, deterministic only on one machine): the float
  hyper-synthesis kept in the weights file and float gains, with the *same* scale-table
  rule as the exact path (nearest table entry in the log domain), so that the difference
  measured is the integer arithmetic alone.  ``--float-indexes compressai`` uses
  CompressAI's ``GaussianConditional.build_indexes`` instead (the next larger table scale),
  which also measures the rounding rule; earlier versions of this script reported that.

Both are encoded and decoded for real in this process (the float version cannot travel
between machines, which is the point), bpp from the payload plus the same container bytes.

Usage: python benchmarks/exactness_price.py [--kodak DIR] [--float-indexes nearest|compressai]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import DEFAULT_KODAK, RESULTS, kodak_files  # noqa: E402  (also puts the repository on sys.path)

import neuralcodecs as nc  # noqa: E402
from neuralcodecs import bitstream  # noqa: E402
from neuralcodecs.entropy.coders import SYMBOL_LIMIT  # noqa: E402
from neuralcodecs.image.base import pixels_to_tensor, tensor_to_pixels  # noqa: E402
from neuralcodecs.entropy.gaussian import LOG_SCALE_FRACTION_BITS, NUM_SCALES, SCALE_BASE, SCALE_STEP  # noqa: E402
from neuralcodecs.image.hyperprior import LOG_SCALE_CLAMP, Z_INPUT_BOUND  # noqa: E402
from neuralcodecs.metrics import bd_psnr, bd_rate, psnr  # noqa: E402



@torch.no_grad()
def nearest_scale_indexes(log_scales: torch.Tensor) -> torch.Tensor:
    """The exact path's rule applied to float natural-log scales: nearest entry in the log domain."""
    unit = 2.0**LOG_SCALE_FRACTION_BITS
    k = torch.floor((log_scales * unit - SCALE_BASE + SCALE_STEP / 2) / SCALE_STEP)
    return k.clamp_(0, NUM_SCALES - 1).to(torch.int64)


def float_round_trip(frozen, x: torch.Tensor, level: int, rule: str = "nearest") -> tuple[int, torch.Tensor]:
    """Encode and decode with float entropy parameters; returns (payload bytes, x_hat)."""
    model = frozen.model
    gain = torch.exp(model.gain_log[level]).reshape(1, -1, 1, 1)
    inv_gain = torch.exp(model.inv_gain_log[level]).reshape(1, -1, 1, 1)

    def parameters(z_int):
        mean, log_scale = model.hyper_parameters(z_int.float())
        means = mean * gain
        if rule == "nearest":
            return means, nearest_scale_indexes(log_scale.clamp(*LOG_SCALE_CLAMP) + torch.log(gain))
        scales = torch.exp(log_scale.clamp(*LOG_SCALE_CLAMP)) * gain
        return means, model.gaussian_conditional.build_indexes(scales).to(torch.int64)

    y = model.g_a(x) * gain
    z_int = torch.round(model.h_a(y)).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)
    means, indexes = parameters(z_int)
    y_sym = torch.round(y - means).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT).to(torch.int64)
    z_sym = z_int - frozen.z_medians.reshape(1, -1, 1, 1)
    z_bytes = frozen.z_coder.encode(z_sym.numpy(), frozen.z_indexes(z_sym.shape))
    y_bytes = frozen.y_coder.encode(y_sym.numpy(), indexes.numpy())
    # decoder side (same process, so the float parameters agree)
    z_dec = torch.from_numpy(frozen.z_coder.decode(z_bytes, frozen.z_indexes(z_sym.shape)))
    means_d, indexes_d = parameters(z_dec + frozen.z_medians.reshape(1, -1, 1, 1))
    y_dec = torch.from_numpy(frozen.y_coder.decode(y_bytes, indexes_d.numpy()))
    x_hat = model.g_s((y_dec.float() + means_d) * inv_gain).clamp(0, 1)
    return len(z_bytes) + len(y_bytes), x_hat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--json", default=str(RESULTS / "exactness_price.json"))
    ap.add_argument("--float-indexes", choices=["nearest", "compressai"], default="nearest",
                    help="scale-table rule of the float path (nearest = the exact path's rule)")
    args = ap.parse_args()
    codec = nc.load_codec("hyperprior")
    frozen = codec.frozen
    files = kodak_files(args.kodak)
    levels = range(frozen.num_levels)
    curves = {"exact": {"bpp": [], "psnr": []}, "float": {"bpp": [], "psnr": []}}
    for level in levels:
        per = {"exact": ([], []), "float": ([], [])}
        for path in files:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            n = pixels.shape[0] * pixels.shape[1]
            data = codec.encode(pixels, quality=level + 1)
            _, sections = bitstream.unpack(data)
            container = len(data) - sum(len(s) for s in sections)
            per["exact"][0].append(len(data) * 8 / n)
            per["exact"][1].append(psnr(pixels, codec.decode(data)))
            payload, x_hat = float_round_trip(
                frozen, pixels_to_tensor(pixels, 64, torch.device("cpu")), level, args.float_indexes
            )
            per["float"][0].append((payload + container) * 8 / n)
            per["float"][1].append(psnr(pixels, tensor_to_pixels(x_hat, *pixels.shape[:2])))
        for k in curves:
            curves[k]["bpp"].append(float(np.mean(per[k][0])))
            curves[k]["psnr"].append(float(np.mean(per[k][1])))
        print(f"level {level + 1}: exact {curves['exact']['bpp'][-1]:.4f} bpp {curves['exact']['psnr'][-1]:.3f} dB, "
              f"float {curves['float']['bpp'][-1]:.4f} bpp {curves['float']['psnr'][-1]:.3f} dB", file=sys.stderr)
    f, e = curves["float"], curves["exact"]
    price = bd_rate(f["bpp"], f["psnr"], e["bpp"], e["psnr"])
    dpsnr = bd_psnr(f["bpp"], f["psnr"], e["bpp"], e["psnr"])
    out = {"weights_fingerprint": codec.fingerprint.hex(), "float_scale_indexes": args.float_indexes,
           "curves": curves, "bd_rate_exact_vs_float_pct": price,
           "bd_psnr_exact_vs_float_db": dpsnr}
    Path(args.json).write_text(json.dumps(out, indent=1))
    print("| level | float bpp | float PSNR | exact bpp | exact PSNR |")
    print("|---:|---:|---:|---:|---:|")
    for i in levels:
        print(f"| {i + 1} | {f['bpp'][i]:.4f} | {f['psnr'][i]:.3f} | {e['bpp'][i]:.4f} | {e['psnr'][i]:.3f} |")
    print(f"\nBD-rate of exact vs float (PSNR-RGB, Kodak): {price:+.3f}%  (BD-PSNR {dpsnr:+.4f} dB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
