"""Implicit neural video codecs (nerv, hnerv, nirvana; nerv-boost, hnerv-boost, nervpp on request) on
Big Buck Bunny 320x180 (132 frames), beside x264 and x265 measured in the same run.

Per point: bytes of the whole file, PSNR (RGB), MS-SSIM, fitting (encode) minutes, full-decode
frames per second, and the decode of one frame alone vs the full decode (time, identical pixels).
Weight coding: the quantized parameters of each nerv/hnerv file coded three ways
(:func:`neuralcodecs.inr.weight_coding.code_lengths`: constriction ANS with the log-count model,
Huffman with its table, fixed-length words).  Points run in ``--workers`` processes, one torch
thread each (fitting times are of one core shared with the other worker).

    python benchmarks/inr_video.py            # ~45 min on 2 cores: effort medium, with x264 and x265
    python benchmarks/inr_video.py --effort best --sizes hnerv= --add   # ~25 min: nerv and nirvana at 600 epochs, added
    python benchmarks/inr_video.py --frames 12 --effort fast --sizes nerv=0.05 hnerv=0.05 nirvana=0.02  # smoke run
    python benchmarks/inr_video.py --sizes nerv= hnerv= nirvana= hnerv-boost=0.3 --add   # one boosted point, added
    python benchmarks/inr_video.py --clip basketballpass    # BasketballPass 416x240, the first 100 frames

Writes ``benchmarks/results/inr_video.{json,md}`` (the ``inr_video`` table of docs/codecs/inr-video.md;
``inr_video_basketballpass`` for ``--clip basketballpass``).
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import numpy as np

from common import RESULTS  # noqa: E402  (also puts the repository on sys.path)
from stem_video import clips  # noqa: E402

DEFAULT_SIZES = {"nerv": (0.1, 0.3), "hnerv": (0.1, 0.3), "nirvana": (0.05, 0.1)}
ACCESS_FRAME = 100


#: the clips (``--clip``): stem_video's name and the frames taken by default
CLIPS = {"bunny": ("bunny-320x180", None), "basketballpass": ("BasketballPass", 100)}
TITLES = {"bunny": "Big Buck Bunny 320x180", "basketballpass": "BasketballPass 416x240"}


def clip_path(clip: str):
    """``(PNG folder, fps text)`` of a clip."""
    return clips()[CLIPS[clip][0]]


def load_clip(frames: int | None, clip: str = "bunny"):
    from neuralcodecs.video.io import read_video

    path, fps = clip_path(clip)
    frames = frames or CLIPS[clip][1]
    video = read_video(path, fps=Fraction(fps))
    return (video.frames[:frames] if frames else video.frames), video.fps


def weight_coding_table(codec_name: str, data: bytes) -> list[dict]:
    """Bits of each parameter section of a nerv-like or hnerv-like file three ways."""
    from neuralcodecs import registry
    from neuralcodecs.bitstream import unpack
    from neuralcodecs.inr import hnerv_codec
    from neuralcodecs.inr.weight_coding import code_lengths, decode

    header, sections = unpack(data)
    arch = json.loads(sections[0])
    codec = registry.load(codec_name)
    if codec_name in ("nerv", "nerv-boost", "nervpp"):
        parts = [("weights (8 bit)", decode(sections[1], codec.layout(codec.config_of(arch))))]
    elif codec_name in ("hnerv", "hnerv-boost"):
        cfg = codec.config_of(arch)
        parts = [("decoder (8 bit)", decode(sections[1], hnerv_codec.decoder_layout(cfg, codec.decoder))),
                 ("embeddings (6 bit)", decode(sections[2], hnerv_codec.embedding_layout(cfg, header.frames)))]
    else:
        return []
    return [{"part": name, **code_lengths(q)} for name, q in parts]


def run_point(codec_name: str, size: float, effort: str, frames: int | None, clip: str = "bunny") -> dict:
    import torch

    import neuralcodecs as nc
    from neuralcodecs import registry
    from neuralcodecs.metrics import ms_ssim
    from neuralcodecs.video.colour import psnr_rgb

    torch.set_num_threads(1)
    clip, fps = load_clip(frames, clip)
    codec = registry.load(codec_name)
    t0 = time.perf_counter()
    data = codec.encode(clip, quality=size, fps=fps, effort=effort)
    encode_s = time.perf_counter() - t0
    report = dict(codec.last_report)
    t0 = time.perf_counter()
    decoded = nc.decode(data)
    decode_s = time.perf_counter() - t0
    k = min(ACCESS_FRAME, len(clip) - 1)
    t0 = time.perf_counter()
    alone = nc.decode(data, frames=[k])
    alone_s = time.perf_counter() - t0
    T, H, W, _ = clip.shape
    point = {
        "codec": codec_name, "size_m": size, "effort": effort, "parameters": report.get("parameters"),
        "bytes": len(data), "bpp": 8 * len(data) / (T * H * W),
        "psnr-rgb": psnr_rgb(clip, decoded), "ms-ssim-rgb": float(np.mean([ms_ssim(a, b) for a, b in zip(clip, decoded)])),
        "psnr_fitted": report.get("psnr_fitted"), "psnr_quantized": report.get("psnr_quantized"),
        "fit_minutes": report["fit_seconds"] / 60, "encode_minutes": encode_s / 60, "fit_steps": report.get("steps"),
        "decode_seconds": decode_s, "decode_fps": T / decode_s,
        "access": {"frame": k, "alone_seconds": alone_s, "full_seconds": decode_s,
                   "identical": bool(np.array_equal(alone[0], decoded[k]))},
        "weight_coding": weight_coding_table(codec_name, data),
    }
    print(json.dumps({k: v for k, v in point.items() if k != "weight_coding"}), flush=True)
    return point


def run_anchors(frames: int | None, clip: str = "bunny") -> dict:
    import torch

    from neuralcodecs.evaluation.video import run_video_evaluation

    torch.set_num_threads(1)
    path, fps = clip_path(clip)
    result = run_video_evaluation(path, [("x264", None), ("x265", None)], fps=fps, threads=1,
                                  frames=frames or CLIPS[clip][1], progress=False)
    return {c["name"]: c["results"] for c in result["curves"]}


def _versus(a: dict, b: dict, why: str) -> dict:
    """``b`` against ``a``: sizes, efforts, rates, PSNR, fitting minutes (a first)."""
    return {"why": why, "codecs": [a["codec"], b["codec"]], "size_m": [a["size_m"], b["size_m"]],
            "effort": [a["effort"], b["effort"]], "bpp": [a["bpp"], b["bpp"]], "psnr": [a["psnr-rgb"], b["psnr-rgb"]],
            "psnr_gain_db": b["psnr-rgb"] - a["psnr-rgb"], "fit_minutes": [a["fit_minutes"], b["fit_minutes"]]}


def claims(points: list[dict]) -> dict:
    """HNeRV vs NeRV at equal size (same epochs, and the NeRV run whose fitting time is closest);
    NIRVANA vs NeRV at the nearest rate (same effort, and the NeRV run closest in fitting time);
    each boosted codec and NeRV++ vs its plain one at equal size (same epochs, nearest fitting time)."""
    out = {"hnerv_vs_nerv": [], "nirvana_vs_nerv": [], "boost_vs_plain": []}
    nervs = [q for q in points if q["codec"] == "nerv"]
    for p in points:
        if p["codec"] == "hnerv":
            out["hnerv_vs_nerv"] += _equal_size(p, nervs)
        if p["codec"] in BASELINES:
            out["boost_vs_plain"] += _equal_size(p, [q for q in points if q["codec"] == BASELINES[p["codec"]]])
        if p["codec"] == "nirvana" and nervs:
            same_effort = [q for q in nervs if q["effort"] == p["effort"]] or nervs
            q = min(same_effort, key=lambda q: abs(q["bpp"] - p["bpp"]))
            out["nirvana_vs_nerv"].append(_versus(q, p, "nearest rate, equal effort"))
            q = min(nervs, key=lambda q: (abs(q["fit_minutes"] - p["fit_minutes"]), abs(q["bpp"] - p["bpp"])))
            out["nirvana_vs_nerv"].append(_versus(q, p, "nearest fitting time"))
    return out


#: the codec each variant is measured against
BASELINES = {"nerv-boost": "nerv", "hnerv-boost": "hnerv", "nervpp": "nerv"}


def _equal_size(p: dict, others: list[dict]) -> list[dict]:
    """``p`` against the ``others`` of its size: the one of its epochs, and the one nearest in fitting time."""
    out = []
    same = [q for q in others if q["size_m"] == p["size_m"]]
    for q in same:
        if q["effort"] == p["effort"]:
            out.append(_versus(q, p, "equal size, equal epochs"))
    if same:
        q = min(same, key=lambda q: abs(q["fit_minutes"] - p["fit_minutes"]))
        if q["effort"] != p["effort"]:
            out.append(_versus(q, p, "equal size, nearest fitting time"))
    return out


def bd_rates_vs_x264(points: list[dict], anchors: dict) -> dict:
    """BD-rate (PSNR-RGB) of each codec's curve (one effort, two or more sizes) against x264's."""
    from neuralcodecs.metrics import bd_rate

    x264 = anchors.get("x264")
    out = {}
    if not x264:
        return out
    for key in sorted({(p["codec"], p["effort"]) for p in points}):
        curve = sorted((p["bpp"], p["psnr-rgb"]) for p in points if (p["codec"], p["effort"]) == key)
        if len(curve) < 2:
            continue
        try:
            out[f"{key[0]} ({key[1]})"] = bd_rate(x264["bpp"], x264["psnr-rgb"], [c[0] for c in curve], [c[1] for c in curve])
        except ValueError:  # no common PSNR range
            out[f"{key[0]} ({key[1]})"] = None
    return out


def markdown(result: dict) -> str:
    m = result["meta"]
    runs = "; ".join(m.get("runs", [f"`python benchmarks/inr_video.py` (effort {m['effort']})"]))
    lines = [f"{TITLES[m.get('clip_key', 'bunny')]}, {m['frames']} frames, this CPU (one core per process, {m['workers']} processes at "
             f"once): {runs}", "",
             "| codec | size (M) | effort | bpp | PSNR-RGB (dB) | MS-SSIM | fitting (min) | decode (fps) |",
             "|---|---|---|---|---|---|---|---|"]
    for p in result["points"]:
        lines.append(f"| {p['codec']} | {p['size_m']:g} | {p['effort']} | {p['bpp']:.4f} | {p['psnr-rgb']:.2f} | "
                     f"{p['ms-ssim-rgb']:.4f} | {p['fit_minutes']:.1f} | {p['decode_fps']:.1f} |")
    for name, pts in result["anchors"].items():
        for bpp, psnr, ssim, enc, dec in zip(pts["bpp"], pts["psnr-rgb"], pts["ms-ssim-rgb"], pts["encoding_time"], pts["decoding_time"]):
            lines.append(f"| {name} | - | medium preset | {bpp:.4f} | {psnr:.2f} | {ssim:.4f} | {enc / 60:.2f} | {m['frames'] / dec:.0f} |")
    c = result["claims"]
    lines += ["", "Claims (the second codec against the first):"]
    for e in c["hnerv_vs_nerv"] + c["nirvana_vs_nerv"] + c.get("boost_vs_plain", []):
        (a, b), (sa, sb), (ea, eb) = e["codecs"], e["size_m"], e["effort"]
        lines.append(f"- {b} {sb:g}M ({eb}) vs {a} {sa:g}M ({ea}), {e['why']}: {e['psnr'][1]:.2f} vs {e['psnr'][0]:.2f} dB "
                     f"({e['psnr_gain_db']:+.2f}) at {e['bpp'][1]:.4f} vs {e['bpp'][0]:.4f} bpp; fitting "
                     f"{e['fit_minutes'][1]:.1f} vs {e['fit_minutes'][0]:.1f} min")
    if result.get("bd_rate_vs_x264"):
        lines += ["", "BD-rate (PSNR-RGB) against x264 (medium preset), each codec's curve over its sizes:", ""]
        for name, value in result["bd_rate_vs_x264"].items():
            lines.append(f"- {name}: " + ("no common PSNR range" if value is None else f"{value:+.1f}%"))
    lines += ["", "Random access (frame decoded alone vs full decode, identical pixels):", ""]
    for p in result["points"]:
        a = p["access"]
        lines.append(f"- {p['codec']} {p['size_m']:g}M ({p['effort']}): frame {a['frame']} alone {a['alone_seconds']:.3f} s vs all "
                     f"{a['full_seconds']:.2f} s, identical: {a['identical']}")
    lines += ["", "Weight coding, same quantized values (bits; steps excluded from all three):", "",
              "| file | part | values | constriction ANS | Huffman + table | fixed length | ANS vs Huffman |", "|---|---|---|---|---|---|---|"]
    for p in result["points"]:
        for w in p["weight_coding"]:
            lines.append(f"| {p['codec']} {p['size_m']:g}M ({p['effort']}) | {w['part']} | {w['values']} | {w['entropy_coded_bits']} | "
                         f"{w['huffman_bits']} | {w['fixed_bits']} | {100 * (w['entropy_coded_bits'] / w['huffman_bits'] - 1):+.2f}% |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--effort", default="medium")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sizes", nargs="*", default=[], help="CODEC=S1,S2 (million parameters)")
    ap.add_argument("--clip", choices=tuple(CLIPS), default="bunny")
    ap.add_argument("--out", default=None, help="result stem (default benchmarks/results/inr_video, _basketballpass for that clip)")
    ap.add_argument("--add", action="store_true",
                    help="add these points to the existing OUT.json (its anchors kept; same codec, size and effort replaced)")
    args = ap.parse_args()
    args.out = args.out or str(RESULTS / ("inr_video" if args.clip == "bunny" else f"inr_video_{args.clip}"))
    sizes = dict(DEFAULT_SIZES)
    for item in args.sizes:
        name, values = item.split("=")
        sizes[name] = tuple(float(v) for v in values.split(",") if v)
    jobs = [(c, s) for c, ss in sizes.items() for s in ss]
    jobs.sort(key=lambda j: -j[1] if j[0].startswith("hnerv") else 0)  # the longest fits first
    started = time.time()
    previous = json.loads(open(args.out + ".json").read()) if args.add else None
    with ProcessPoolExecutor(args.workers) as pool:
        anchors = None if previous else pool.submit(run_anchors, args.frames, args.clip)
        futures = [pool.submit(run_point, c, s, args.effort, args.frames, args.clip) for c, s in jobs]
        points = [f.result() for f in futures]
        anchor_curves = previous["anchors"] if previous else anchors.result()
    command = f"`python benchmarks/inr_video.py --effort {args.effort}` ({len(jobs)} points, {time.strftime('%Y-%m-%d')})"
    if previous:
        fresh = {(p["codec"], p["size_m"], p["effort"]) for p in points}
        points += [p for p in previous["points"] if (p["codec"], p["size_m"], p["effort"]) not in fresh]
    order = {c: i for i, c in enumerate((*DEFAULT_SIZES, *BASELINES))}
    efforts = {"fast": 0, "medium": 1, "best": 2}
    points.sort(key=lambda p: (order.get(p["codec"], 9), efforts.get(p["effort"], 9), p["size_m"]))
    clip, _ = load_clip(args.frames, args.clip)
    runs = (previous["meta"].get("runs", []) if previous else []) + [command + (" with x264/x265" if not previous else "")]
    result = {"meta": {"clip": TITLES[args.clip], "clip_key": args.clip, "frames": len(clip), "effort": args.effort, "workers": args.workers,
                       "wall_minutes": (time.time() - started) / 60, "date": time.strftime("%Y-%m-%d"), "runs": runs},
              "points": points, "anchors": anchor_curves, "claims": claims(points),
              "bd_rate_vs_x264": bd_rates_vs_x264(points, anchor_curves)}
    RESULTS.mkdir(exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
