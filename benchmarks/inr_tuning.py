"""Tuning of the implicit video codecs on a training clip, never on an evaluation clip.

DAVIS 2016 blackswan (the first 24 frames, bicubic to 320x180), one fit per ``CODEC:SIZE:EFFORT:LR``
(the codec's module learning rate replaced for that fit), one torch thread: PSNR-RGB, bpp and
fitting minutes.  Every finished point is appended to ``OUT.points.jsonl`` and a rerun skips the
points there.

    python benchmarks/inr_tuning.py hnerv:0.1:fast:1e-3 hnerv-boost:0.1:fast:1e-3 hnerv-boost:0.1:fast:3e-3 \\
        nerv:0.1:fast:1e-3 nerv-boost:0.1:fast:1e-3 nerv-boost:0.1:fast:3e-3

Writes ``benchmarks/results/inr_tuning.{points.jsonl,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import RESULTS, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

CLIP = SHARED_DATA / "video" / "davis2016" / "blackswan"


def load_clip(folder: Path, frames: int = 24) -> np.ndarray:
    files = sorted(folder.glob("*.jpg"))[:frames]
    return np.stack([np.asarray(Image.open(f).convert("RGB").resize((320, 180), Image.BICUBIC)) for f in files])


def run(spec: str, clip: np.ndarray) -> dict:
    import torch

    import neuralcodecs as nc
    from neuralcodecs import registry
    from neuralcodecs.inr import hnerv_boost_codec, hnerv_codec, nerv_boost_codec, nerv_codec

    torch.set_num_threads(1)
    name, size, effort, lr = spec.split(":")
    module = {"nerv": nerv_codec, "hnerv": hnerv_codec, "nerv-boost": nerv_boost_codec,
              "hnerv-boost": hnerv_boost_codec}[name]
    attribute = "BOOST_LR" if name.endswith("boost") else "FIT_LR"
    before = getattr(module, attribute)
    setattr(module, attribute, float(lr))
    try:
        codec = registry.load(name)
        started = time.time()
        data = codec.encode(clip, quality=float(size), effort=effort)
        minutes = (time.time() - started) / 60
    finally:
        setattr(module, attribute, before)
    out = nc.decode(data)
    mse = np.mean((clip.astype(float) - out) ** 2)
    return {"codec": name, "size": size, "effort": effort, "lr": lr, "bpp": 8 * len(data) / clip[..., 0].size,
            "psnr": float(10 * np.log10(255**2 / mse)), "fit_min": codec.last_report["fit_seconds"] / 60, "minutes": minutes}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="CODEC:SIZE:EFFORT:LR")
    ap.add_argument("--clip", default=str(CLIP))
    ap.add_argument("--out", default=str(RESULTS / "inr_tuning"))
    args = ap.parse_args()
    points_path = Path(args.out).with_suffix(".points.jsonl")
    points = [json.loads(line) for line in points_path.read_text().splitlines()] if points_path.exists() else []
    done = {f"{p['codec']}:{p['size']}:{p['effort']}:{p['lr']}" for p in points}
    clip = load_clip(Path(args.clip))
    for spec in args.runs:
        if spec in done:
            continue
        point = run(spec, clip)
        print(json.dumps(point), flush=True)
        with points_path.open("a") as f:
            f.write(json.dumps(point) + "\n")
        points.append(point)
    wanted = [p for p in points if f"{p['codec']}:{p['size']}:{p['effort']}:{p['lr']}" in args.runs]
    lines = [f"DAVIS blackswan, first {len(clip)} frames at 320x180, one core per fit beside other jobs; "
             "`python benchmarks/inr_tuning.py " + " ".join(args.runs) + "`", "",
             "| codec | size (M) | effort | learning rate | PSNR-RGB (dB) | bpp | fitting (min) |", "|---|---:|---|---:|---:|---:|---:|"]
    for p in wanted:
        lines.append(f"| `{p['codec']}` | {p['size']} | {p['effort']} | {p['lr']} | {p['psnr']:.2f} | {p['bpp']:.3f} | {p['fit_min']:.1f} |")
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
