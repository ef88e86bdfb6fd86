"""NeRV vs HNeRV at the papers' scale (Big Buck Bunny 1280x640 centre crop, as HNeRV; 132
frames; 1.5M values each), for a machine with a GPU.  Same effort (epochs) for both.

    python benchmarks/inr_paper_scale.py --device cuda --effort fast --out results/inr_paper_scale.json
    python benchmarks/inr_paper_scale.py --frames 4 --crop 64x128 --size 0.02   # a CPU smoke run

Frames come from the mp4 through PyAV, or OpenCV where PyAV is missing (the GPU machine).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from common import RESULTS, SHARED_DATA  # noqa: E402  (also puts the repository on sys.path)

BUNNY = SHARED_DATA / "video" / "bunny" / "bigbuckbunny.mp4"


def read_frames(path: Path) -> np.ndarray:
    try:
        from neuralcodecs.video.io import read_video

        return read_video(path).frames
    except Exception:  # no PyAV here: OpenCV (BGR -> RGB)
        import cv2

        capture, frames = cv2.VideoCapture(str(path)), []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame[:, :, ::-1])
        return np.ascontiguousarray(np.stack(frames))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", default=str(BUNNY))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--effort", default="fast")
    ap.add_argument("--size", type=float, default=1.5, help="million values")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--crop", default="640x1280", help="HxW, centre crop")
    ap.add_argument("--codecs", default="nerv,hnerv")
    ap.add_argument("--out", default=str(RESULTS / "inr_paper_scale.json"))
    args = ap.parse_args()
    import torch

    from neuralcodecs import registry
    from neuralcodecs.video.colour import psnr_rgb

    torch.backends.cuda.matmul.allow_tf32 = True
    clip = read_frames(Path(args.video))[: args.frames]
    h, w = (int(v) for v in args.crop.split("x"))
    top, left = (clip.shape[1] - h) // 2, (clip.shape[2] - w) // 2
    clip = np.ascontiguousarray(clip[:, top : top + h, left : left + w])
    T = len(clip)
    rows = []
    for name in args.codecs.split(","):
        codec = registry.load(name, device=args.device)
        t0 = time.perf_counter()
        data = codec.encode(clip, quality=args.size, effort=args.effort, progress=False)
        encode_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        from neuralcodecs.budget import Budget

        decoded = codec.decode(data, budget=Budget(max_pixels=T * h * w, max_memory=2**36, max_compute=10**9))
        decode_s = time.perf_counter() - t0
        row = {"codec": name, "size_m": args.size, "effort": args.effort, "bytes": len(data),
               "bpp": 8 * len(data) / (T * h * w), "psnr-rgb": psnr_rgb(clip, decoded), **codec.last_report,
               "encode_seconds": encode_s, "decode_fps": T / decode_s}
        rows.append(row)
        print(json.dumps(row), flush=True)
    device = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    result = {"meta": {"clip": f"{Path(args.video).name} {h}x{w} centre crop", "frames": T, "device": device,
                       "torch": torch.__version__}, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
