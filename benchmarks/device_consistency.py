"""Cross-device decoding: files made on one device/thread count decode on every other.

Configurations: CPU with the default thread count, CPU with ``torch.set_num_threads(1)``,
and CUDA when a GPU is present.  For every Kodak image, every shipped rate point and every
(encoder configuration, decoder configuration) pair, the decoder must recover exactly the
quantized latents the encoder produced (z and y symbols; means and scale indexes equal to
the encoder's), and the pixels decoded from one file by different configurations may
differ by at most one level (only the float synthesis network may differ).

Other codecs (``--codec s2lic``) are checked through the codec contract: every decoder
configuration must recover the same integer symbols (``codec.symbol_arrays``) from every
encoder configuration's file, and the pixels may differ by at most one level.

Usage: python benchmarks/device_consistency.py [--codec hyperprior] [--kodak DIR] [--levels 1 2 ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import DEFAULT_KODAK, RESULTS, kodak_files  # noqa: E402  (also puts the repository on sys.path)

import neuralcodecs as nc  # noqa: E402
from neuralcodecs.errors import BitstreamError  # noqa: E402
from neuralcodecs.evaluation.common import machine_meta  # noqa: E402
from neuralcodecs.image.base import pixels_to_tensor, tensor_to_pixels  # noqa: E402



def configurations() -> list[tuple[str, str, int]]:
    default = torch.get_num_threads()
    out = [("cpu", "cpu", default), ("cpu-1thread", "cpu", 1)]
    if torch.cuda.is_available():
        out.append(("cuda", "cuda", default))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--levels", type=int, nargs="*")
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--images", type=int, default=24, help="the first N Kodak images (contract check)")
    ap.add_argument("--json", help="default: benchmarks/results/device_consistency[_CODEC].json")
    args = ap.parse_args()
    if args.codec != "hyperprior":
        return contract_check(args)
    args.json = args.json or str(RESULTS / "device_consistency.json")
    configs = configurations()
    codecs = {name: nc.load_codec("hyperprior", device=device) for name, device, _ in configs}
    levels = args.levels or list(range(1, codecs["cpu"].frozen.num_levels + 1))
    files = kodak_files(args.kodak)
    default_threads = torch.get_num_threads()
    pairs = desyncs = 0
    max_pixel_diff = 0
    failures = []
    try:
        for path in files:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            for q in levels:
                encoded = {}
                for name, device, threads in configs:
                    torch.set_num_threads(threads)
                    frozen = codecs[name].frozen
                    out = frozen.compress(pixels_to_tensor(pixels, 64, torch.device(device)), q * 256)
                    encoded[name] = (out["strings"], out["shape"], {k: v.cpu() for k, v in out["symbols"].items()})
                for enc_name in encoded:
                    strings, shape, sym = encoded[enc_name]
                    decoded_pixels = []
                    for dec_name, device, threads in configs:
                        torch.set_num_threads(threads)
                        frozen = codecs[dec_name].frozen
                        pairs += 1
                        try:
                            dec = frozen.decode_symbols(strings, shape, q * 256, device=device)
                        except BitstreamError as exc:
                            desyncs += 1
                            failures.append((path.name, q, enc_name, dec_name, repr(exc)))
                            continue
                        same = all(torch.equal(dec[k].cpu(), sym[k]) for k in ("z_symbols", "y_symbols", "means", "y_indexes"))
                        if not same:
                            desyncs += 1
                            failures.append((path.name, q, enc_name, dec_name, "latents differ"))
                        x_hat = frozen.synthesize(dec["y_symbols"], dec["means"], q * 256)
                        decoded_pixels.append(tensor_to_pixels(x_hat, *pixels.shape[:2]).astype(np.int16))
                    for a, b in itertools.combinations(decoded_pixels, 2):
                        max_pixel_diff = max(max_pixel_diff, int(np.abs(a - b).max()))
            print(f"{path.name}: pairs {pairs}, desyncs {desyncs}, max pixel diff {max_pixel_diff}", file=sys.stderr)
    finally:
        torch.set_num_threads(default_threads)
    report = {
        "meta": machine_meta("cuda" if torch.cuda.is_available() else "cpu"),
        "configurations": [c[0] for c in configs],
        "images": len(files),
        "levels": levels,
        "encoder_decoder_pairs": pairs,
        "desynchronized": desyncs,
        "max_pixel_difference_between_decoders": max_pixel_diff,
        "failures": failures[:50],
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "meta"}, indent=1))
    return 0 if desyncs == 0 and max_pixel_diff <= 1 else 1


def contract_check(args) -> int:
    """The check through the codec contract (files, symbol arrays, pixels) for any image codec."""
    from neuralcodecs import bitstream

    configs = configurations()
    codecs = {name: nc.load_codec(args.codec, device=device) for name, device, _ in configs}
    levels = args.levels or [int(q) for q in codecs["cpu"].quality.sweep]
    default_threads = torch.get_num_threads()
    pairs = desyncs = max_pixel_diff = 0
    failures = []
    files = kodak_files(args.kodak)[: args.images]
    try:
        for path in files:
            pixels = np.asarray(Image.open(path).convert("RGB"))
            for q in levels:
                for enc_name, _, threads in configs:
                    torch.set_num_threads(threads)
                    header, sections = bitstream.unpack(codecs[enc_name].encode(pixels, quality=q))
                    symbols, decoded = [], []
                    for dec_name, _, threads in configs:
                        torch.set_num_threads(threads)
                        pairs += 1
                        try:
                            symbols.append(codecs[dec_name].symbol_arrays(header, sections))
                            decoded.append(codecs[dec_name].decode_parsed(header, sections).astype(np.int16))
                        except BitstreamError as exc:
                            desyncs += 1
                            failures.append((path.name, q, enc_name, dec_name, repr(exc)))
                    for other in symbols[1:]:
                        if not all(np.array_equal(a, b) for a, b in zip(symbols[0], other)):
                            desyncs += 1
                            failures.append((path.name, q, enc_name, "latents differ"))
                    for a, b in itertools.combinations(decoded, 2):
                        max_pixel_diff = max(max_pixel_diff, int(np.abs(a - b).max()))
            print(f"{path.name}: pairs {pairs}, desyncs {desyncs}, max pixel diff {max_pixel_diff}", file=sys.stderr)
    finally:
        torch.set_num_threads(default_threads)
    report = {
        "meta": machine_meta("cuda" if torch.cuda.is_available() else "cpu"),
        "codec": args.codec,
        "configurations": [c[0] for c in configs],
        "images": len(files),
        "levels": levels,
        "encoder_decoder_pairs": pairs,
        "desynchronized": desyncs,
        "max_pixel_difference_between_decoders": max_pixel_diff,
        "failures": failures[:50],
    }
    out = Path(args.json or RESULTS / f"device_consistency_{args.codec}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "meta"}, indent=1))
    return 0 if desyncs == 0 and max_pixel_diff <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
