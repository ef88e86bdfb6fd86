"""Encode Kodak images with the overfitted codec on any torch device and keep the files, so that
``overfit_kodak.py --streams DIR`` can measure them (size, PSNR, decode time, threads) on this CPU.

For the effort levels that take too long here: a GPU fits ``best`` (10,000 steps) in a fraction
of the CPU's 52 minutes per image.  The file is the same kind of file whatever fitted it: after
fitting, quantization, parameter coding and the arithmetic coder run on the CPU, and decoding
never sees the device.  Points run in ``--workers`` processes (spawned, one CPU thread each),
image-major, so a run stopped early leaves whole images; each finished point writes
``DIR/<image>_q<Q>_<effort>.ncb`` atomically and appends a line to ``DIR/fits.jsonl``
(image, quality, effort, device, fit minutes).  Points already in ``DIR`` are skipped.

    python benchmarks/overfit_fit_streams.py --device cuda --effort best --workers 8 --out /tmp/streams
    python benchmarks/overfit_fit_streams.py --effort fast --images kodim23 --qualities 3 --out /tmp/s   # CPU smoke
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from common import DEFAULT_KODAK  # noqa: E402  (also puts the repository on sys.path)
from overfit_kodak import SUBSET


def stream_name(image: str, quality: int, effort: str) -> str:
    return f"{image}_q{quality}_{effort}.ncb"


def fit_point(kodak: str, image: str, quality: int, effort: str, device: str, out: str) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from neuralcodecs import registry

    torch.set_num_threads(1)
    pixels = np.asarray(Image.open(Path(kodak) / f"{image}.png").convert("RGB"))
    codec = registry.load("overfit", device=device)
    t0 = time.perf_counter()
    data = codec.encode(pixels, quality=quality, effort=effort)
    minutes = (time.perf_counter() - t0) / 60
    path = Path(out) / stream_name(image, quality, effort)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    report = codec.last_report
    return {"image": image, "quality": quality, "effort": effort, "device": name, "fit_minutes": minutes,
            "bytes": len(data), **{k: report[k] for k in ("fit_psnr", "fit_bpp", "latent_ideal_bits", "parameter_bytes", "arm_bytes")}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="*", default=list(SUBSET))
    ap.add_argument("--qualities", default="2,3,4,5")
    ap.add_argument("--effort", default="best")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(i, int(q)) for i in args.images for q in args.qualities.split(",")
            if not (out / stream_name(i, int(q), args.effort)).exists()]
    context = multiprocessing.get_context("spawn")  # CUDA cannot be used in forked workers
    with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
        futures = [pool.submit(fit_point, args.kodak, i, q, args.effort, args.device, str(out)) for i, q in jobs]
        for f in as_completed(futures):
            point = f.result()
            with open(out / "fits.jsonl", "a") as fh:
                fh.write(json.dumps(point) + "\n")
            print(json.dumps(point), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
