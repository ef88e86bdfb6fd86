"""Decoder resource budget: what a crafted header costs, and peak decoding memory per picture.

Each measurement runs in a fresh process:

``--codec`` picks the codec (default ``hyperprior``).

* **crafted**: a 4096x4096 header whose sections hold 4 bytes each (valid
  CRCs): wall time until it is rejected and the extra peak memory it cost;
* **kodak**: for each Kodak image (quality 4), the peak memory a decode adds above a loaded
  codec that has decoded one 64x64 picture;
* **large**: the same for a 2048x2048 and a 4096x4096 picture (tiled synthesis).

``--code DIR`` measures another checkout (e.g. a worktree of an earlier commit) for the
"before" column; the streams are written by this checkout in the format that code reads
(``--format-version 1`` for the pre-v2 code).

    python benchmarks/decoder_memory.py --json benchmarks/results/decoder_memory.json
    git worktree add /tmp/before cee2058
    python benchmarks/decoder_memory.py --code /tmp/before --format-version 1 --json benchmarks/results/decoder_memory_before.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_KODAK as KODAK, ROOT  # noqa: E402

_CHILD = r"""
import json, os, sys, threading, time
code = os.environ["NCODEC_CODE"]
# an editable install's import hook would shadow PYTHONPATH: drop it, put the checkout first
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, code)
import neuralcodecs as nc
assert os.path.dirname(os.path.dirname(os.path.abspath(nc.__file__))) == os.path.abspath(code), nc.__file__
mode, path, small = sys.argv[1], sys.argv[2], sys.argv[3]
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * page
nc.decode(open(small, "rb").read())  # loads the codec and warms it up
data = open(path, "rb").read()
base = rss()
peak = [base]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.001)
thread = threading.Thread(target=sample, daemon=True)
thread.start()
t0 = time.perf_counter()
outcome = "decoded"
try:
    nc.decode(data, max_pixels=2**31)
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc)[:160]
seconds = time.perf_counter() - t0
done.set(); thread.join()
peak[0] = max(peak[0], rss())
print(json.dumps({"seconds": seconds, "extra_peak_bytes": peak[0] - base, "outcome": outcome}))
"""


def measure(code: Path, stream: Path, small: Path) -> dict:
    env = dict(os.environ, NCODEC_CODE=str(code))
    out = subprocess.run([sys.executable, "-c", _CHILD, "m", str(stream), str(small)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def crafted_stream(codec, version: int) -> bytes:
    """A 4096x4096 header with the codec's own config (that of a quality-4 file) and one 4-byte section
    for each section such a file has."""
    import dataclasses

    from neuralcodecs.bitstream import pack, unpack

    header, sections = unpack(codec.encode(np.full((64, 64, 3), 128, np.uint8), quality=4))
    header = dataclasses.replace(header, width=4096, height=4096)
    return pack(header, [b"\x01\x00\x00\x00"] * len(sections), version=version)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--code", default=str(ROOT), help="checkout whose decoder is measured")
    p.add_argument("--format-version", type=int, default=2)
    p.add_argument("--limit", type=int, default=24, help="Kodak images")
    p.add_argument("--large", type=int, nargs="*", default=[2048, 4096], help="sides of the large pictures")
    p.add_argument("--json")
    p.add_argument("--codec", default="hyperprior")
    args = p.parse_args()
    import neuralcodecs as nc
    from neuralcodecs.bitstream import pack, unpack

    codec = nc.load_codec(args.codec)

    def write(folder: Path, name: str, pixels: np.ndarray) -> Path:
        header, sections = unpack(codec.encode(pixels, quality=4))
        path = folder / name
        path.write_bytes(pack(header, sections, version=args.format_version))
        return path

    report = {"code": args.code, "codec": args.codec, "format_version": args.format_version}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = write(tmp, "small.ncb", np.full((64, 64, 3), 128, np.uint8))
        crafted = tmp / "crafted.ncb"
        crafted.write_bytes(crafted_stream(codec, args.format_version))
        report["crafted_4096x4096"] = measure(Path(args.code), crafted, small)
        print("crafted", report["crafted_4096x4096"], flush=True)
        kodak = []
        for path in sorted(KODAK.glob("*.png"))[: args.limit]:
            stream = write(tmp, path.stem + ".ncb", np.asarray(Image.open(path).convert("RGB")))
            r = measure(Path(args.code), stream, small)
            r["image"] = path.name
            r["bytes_per_pixel"] = r["extra_peak_bytes"] / (768 * 512)
            kodak.append(r)
            print(path.name, r, flush=True)
        report["kodak"] = kodak
        report["kodak_mean_extra_peak_mib"] = float(np.mean([r["extra_peak_bytes"] for r in kodak]) / 2**20)
        large = []
        photo = np.asarray(Image.open(sorted(KODAK.glob("*.png"))[0]).convert("RGB"))
        for side in args.large:
            reps = (side // photo.shape[0] + 1, side // photo.shape[1] + 1, 1)
            stream = write(tmp, f"large{side}.ncb", np.tile(photo, reps)[:side, :side])
            r = measure(Path(args.code), stream, small)
            r["side"] = side
            r["bytes_per_pixel"] = r["extra_peak_bytes"] / side**2
            large.append(r)
            print(side, r, flush=True)
        report["large"] = large
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
