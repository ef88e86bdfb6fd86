"""Encode and decode milliseconds per Kodak image: ours vs a CompressAI model of comparable size.

``--codec hyperprior`` is compared with CompressAI's ``mbt2018_mean``; ``--codec s2lic`` with
``Cheng2020AnchorCheckerboard`` (checkerboard context, the closest CompressAI model to S2LIC's
two-pass entropy model) at S2LIC's N.  ``--against CODEC`` compares with another of our codecs
instead, both end to end through the public API (``--codec mcquic --against hyperprior``: the
McQuic paper's decode-speed claim); ``--against-quality`` sets its quality.  The table gives
megapixels per second as well.

Both run in this process on the same device with the same thread count.  Ours is timed end
to end through the public API (pixels -> complete .ncb bytes -> pixels, container and CRC
included); CompressAI's ``mbt2018_mean`` with the same channel sizes (N, M) is timed from
the same padded float tensor through ``compress``/``decompress`` (its weights are untrained,
which does not change its amount of work; its CDF tables are built by ``update()``).
Each image is coded ``--repeat`` times after one warm-up; the fastest run counts, and the
table gives the median over images.

Usage: python benchmarks/speed.py [--codec NAME] [--against NAME] [--device cpu|cuda] [--kodak DIR] [--json OUT] [--images N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import DEFAULT_KODAK, kodak_files  # noqa: E402  (also puts the repository on sys.path)

import neuralcodecs as nc  # noqa: E402
from neuralcodecs.evaluation.common import machine_meta  # noqa: E402
from neuralcodecs.image.base import pixels_to_tensor, tensor_to_pixels  # noqa: E402



def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeat: int) -> tuple[float, object]:
    fn()  # warm-up
    _sync(device)
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--quality", type=float, default=4.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--images", type=int, default=24, help="the first N Kodak images")
    ap.add_argument("--against", help="compare with this codec of ours instead of a CompressAI model")
    ap.add_argument("--against-quality", type=float, default=None)
    args = ap.parse_args()
    device = args.device

    codec = nc.load_codec(args.codec, device=device)
    reference, ref_name, sizes = _reference(args, codec, device)

    files = kodak_files(args.kodak)[: args.images]
    rows = []
    with torch.no_grad():
        for path in files:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            enc_s, data = timed(lambda: codec.encode(pixels, quality=args.quality), device, args.repeat)
            dec_s, _ = timed(lambda: codec.decode(data), device, args.repeat)

            if args.against:
                ref_enc_s, ref_data = timed(lambda: reference.encode(pixels, quality=args.against_quality), device, args.repeat)
                ref_dec_s, _ = timed(lambda: reference.decode(ref_data), device, args.repeat)
            else:
                def ref_encode():
                    x = pixels_to_tensor(pixels, 64, torch.device(device))
                    return reference.compress(x)

                ref_enc_s, ref_out = timed(ref_encode, device, args.repeat)

                def ref_decode():
                    x_hat = reference.decompress(ref_out["strings"], ref_out["shape"])["x_hat"]
                    return tensor_to_pixels(x_hat, pixels.shape[0], pixels.shape[1])

                ref_dec_s, _ = timed(ref_decode, device, args.repeat)
            megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
            rows.append({"image": path.name, "encode_ms": enc_s * 1e3, "decode_ms": dec_s * 1e3,
                         "ref_encode_ms": ref_enc_s * 1e3, "ref_decode_ms": ref_dec_s * 1e3,
                         "decode_mp_per_s": megapixels / dec_s, "ref_decode_mp_per_s": megapixels / ref_dec_s})
            print(f"{path.name}: ours {enc_s * 1e3:.0f}/{dec_s * 1e3:.0f} ms, reference {ref_enc_s * 1e3:.0f}/{ref_dec_s * 1e3:.0f} ms", file=sys.stderr)

    keys = ("encode_ms", "decode_ms", "ref_encode_ms", "ref_decode_ms", "decode_mp_per_s", "ref_decode_mp_per_s")
    med = {k: statistics.median(r[k] for r in rows) for k in keys}
    meta = machine_meta(device)
    result = {"meta": meta, "codec": args.codec, "reference": ref_name, "quality": args.quality, **sizes,
              "median": med, "rows": rows}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    where = f"{meta['device']}, {meta['machine']['cpu']}, {meta['torch_threads']} threads"
    print(f"Kodak ({len(files)} images, 768x512 or 512x768), median ms per image, {where}")
    print("| codec | encode ms | decode ms | decode MP/s |")
    print("|---|---:|---:|---:|")
    size = ", ".join(f"{k}={v}" for k, v in sizes.items())
    print(f"| neuralcodecs {args.codec} ({size}) quality {args.quality:g}, pixels to .ncb bytes and back | "
          f"{med['encode_ms']:.0f} | {med['decode_ms']:.0f} | {med['decode_mp_per_s']:.2f} |")
    how = "pixels to .ncb bytes and back" if args.against else "compress / decompress"
    print(f"| {ref_name}, {how} | {med['ref_encode_ms']:.0f} | {med['ref_decode_ms']:.0f} | {med['ref_decode_mp_per_s']:.2f} |")
    return 0


def _reference(args, codec, device):
    """``(reference, its name, our model's sizes)``: another codec of ours, or a CompressAI model of S2LIC's/the hyperprior's size."""
    sizes = {}
    if hasattr(codec, "frozen"):
        sizes = {"N": codec.frozen.model.N, "M": codec.frozen.model.M}
    if args.against:
        other = nc.load_codec(args.against, device=device)
        if args.against_quality is None:
            args.against_quality = other.quality.default
        return other, f"neuralcodecs {args.against} quality {args.against_quality:g}", sizes
    from compressai.models import Cheng2020AnchorCheckerboard, MeanScaleHyperprior

    if args.codec == "hyperprior":
        reference, name = MeanScaleHyperprior(sizes["N"], sizes["M"]), f"compressai mbt2018_mean (N={sizes['N']}, M={sizes['M']})"
    elif args.codec == "s2lic":
        reference, name = Cheng2020AnchorCheckerboard(sizes["N"]), f"compressai Cheng2020AnchorCheckerboard (N={sizes['N']})"
    else:
        raise SystemExit(f"no CompressAI reference for {args.codec}; pass --against CODEC")
    reference = reference.to(device).eval()
    reference.update(force=True)
    return reference, name, sizes


if __name__ == "__main__":
    sys.exit(main())
