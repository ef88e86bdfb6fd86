"""STEM on the evaluation clips: the P-frame saving of the temporal prior, its ablations, RD
beside x264 / x265 / SVT-AV1 measured in the same run, random access and thread consistency.

Clips: BasketballPass 416x240 (100 frames, ``../shared/data/video/basketballpass_416x240``) and
Big Buck Bunny downscaled to 320x180 (its 132 frames, Lanczos, cached as PNG frames under
``~/.cache/neuralcodecs/clips``).  Neither is ever trained on.

* ``saving``: every frame t >= 1 of a clip (and of foreman QCIF, the validation clip that picks
  the shipped variant) coded twice on the same lattice latent (identical
  pixels by construction): intra with the hyperprior's entropy model (the I-frame coder) and as
  a P-frame with the spatiotemporal model given frame t-1.  Real coded bytes, both sections.
  ``--variant NAME=WEIGHTS`` adds ablation models (trained with the same budget).
* ``rd``: ``ncodec eval --video``'s evaluation with stem's sweep and the anchors' sweeps; BD-rate
  of stem against each anchor (PSNR-RGB and PSNR-YUV 6:1:1).
* ``effort`` (not run by default): BasketballPass at ``--effort fast`` and ``medium`` (refined
  I-frames): I- and P-frame bytes, PSNR, encode seconds.
* ``access``: frame 57 of BasketballPass decoded alone vs the same frame of a full decode, and
  a full decode with 1 and with 2 torch threads.

Usage: python benchmarks/stem_video.py [--parts saving rd access effort] [--variant no-temporal=PATH ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from common import RESULTS  # noqa: E402  (also puts the repository on sys.path)

import neuralcodecs as nc  # noqa: E402
from neuralcodecs.metrics import bd_rate  # noqa: E402
from neuralcodecs.video.io import read_video  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
CACHE = Path.home() / ".cache" / "neuralcodecs" / "clips"
SAVING_QUALITIES = (2.0, 4.0, 6.0)
ANCHORS = ("x264", "x265", "svtav1")


def bunny_320x180() -> Path:
    """Big Buck Bunny downscaled to 320x180 (all frames), as a PNG folder; made once."""
    out = CACHE / "bunny_320x180"
    source = DATA / "bunny"
    if not (out / "done").exists():
        video = read_video(next(p for p in sorted(source.iterdir()) if p.suffix == ".mp4"))
        out.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(video.frames):
            Image.fromarray(frame).resize((320, 180), Image.LANCZOS).save(out / f"im{t + 1:03d}.png")
        (out / "fps").write_text(str(video.fps))
        (out / "done").write_text("")
    return out


FOREMAN = DATA / "foreman" / "foreman_qcif_176x144_10f_yuv420p.yuv"


def clips() -> dict[str, tuple[Path, str]]:
    bunny = bunny_320x180()
    return {"BasketballPass": (DATA / "basketballpass_416x240", "50"),
            "bunny-320x180": (bunny, (bunny / "fps").read_text())}


@torch.no_grad()
def pframe_saving(variants: dict, frames: np.ndarray, quality: float) -> dict:
    """Bytes of frames 1..T-1 coded intra vs as P-frames (each given the previous frame), same lattice,
    for every variant: ``{name: row}``.

    The variants share the image codec, so each frame is analysed and coded intra once.  The first
    variant's row also has the size of the image codec's own ``.ncb`` file of each frame (its own
    quantization around the predicted mean, container included), to show the lattice intra coder is
    that codec."""
    first = next(iter(variants.values()))
    if any(c.image.fingerprint != first.image.fingerprint for c in variants.values()):
        raise ValueError("the variants must be built on the same image codec")
    q256 = int(round(quality * 256))
    intra = intra_z = image = 0
    inter = {name: 0 for name in variants}
    inter_z = {name: 0 for name in variants}
    prev = None
    for t in range(len(frames)):
        y, values = first.analyze(frames[t], q256)
        if prev is not None:
            a = first.encode_intra(y, values, q256)
            intra, intra_z = intra + sum(map(len, a)), intra_z + len(a[0])
            image += len(first.image.encode(frames[t], quality=quality))
            for name, codec in variants.items():
                b = codec.encode_inter(y, values, prev, q256)
                inter[name] += sum(map(len, b))
                inter_z[name] += len(b[0])
        prev = values
    n = len(frames) - 1
    pixels = frames.shape[1] * frames.shape[2]
    rows = {}
    for name in variants:
        rows[name] = {"quality": quality, "p_frames": n, "intra_bpp": 8 * intra / (n * pixels),
                      "p_bpp": 8 * inter[name] / (n * pixels), "intra_z_share": intra_z / intra,
                      "p_z_share": inter_z[name] / inter[name], "saving_percent": 100 * (1 - inter[name] / intra)}
    rows[next(iter(variants))]["image_codec_file_bpp"] = 8 * image / (n * pixels)
    return rows


def part_saving(variants: dict, clip_frames: dict) -> dict:
    out = {name: {} for name in variants}
    for clip, frames in clip_frames.items():
        per_quality = [pframe_saving(variants, frames, q) for q in SAVING_QUALITIES]
        for name in variants:
            out[name][clip] = [rows[name] for rows in per_quality]
            print(name, clip, [f"q{r['quality']:g}: {r['saving_percent']:.1f}%" for r in out[name][clip]], flush=True)
    return out


def part_rd(paths: dict, qualities, frames: int | None) -> dict:
    from neuralcodecs.evaluation.video import run_video_evaluation

    runs = {}
    for clip, (path, fps) in paths.items():
        runs[clip] = run_video_evaluation(path, [("stem", qualities), *((a, None) for a in ANCHORS)], fps=fps, threads=1,
                                          frames=frames)
        curves = {c["name"]: c["results"] for c in runs[clip]["curves"]}
        s = curves["stem"]
        runs[clip]["bd_rate_stem_vs"] = {}
        for anchor in ANCHORS:
            a = curves[anchor]
            entry = {}
            for metric in ("psnr-rgb", "psnr-yuv"):
                try:
                    entry[metric] = bd_rate(a["bpp"], a[metric], s["bpp"], s[metric])
                except ValueError:
                    entry[metric] = None
            runs[clip]["bd_rate_stem_vs"][anchor] = entry
        print(clip, json.dumps(runs[clip]["bd_rate_stem_vs"]), flush=True)
    return runs


def part_access(codec, frames: np.ndarray, quality: float = 4.0, frame: int = 57) -> dict:
    data = codec.encode(frames, quality=quality)
    threads = torch.get_num_threads()
    out = {"frames": len(frames), "frame": frame, "quality": quality, "intra_period": codec.options[0].default, "bytes": len(data)}
    for n in (1, 2):
        torch.set_num_threads(n)
        t0 = time.perf_counter()
        full = nc.decode(data)
        out[f"full_decode_s_threads{n}"] = time.perf_counter() - t0
        if n == 1:
            reference = full
        else:
            out["threads_identical"] = bool(np.array_equal(reference, full))
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    alone = nc.decode(data, frames=[frame])
    out["frame_alone_s"] = time.perf_counter() - t0
    out["frame_alone_identical"] = bool(np.array_equal(alone[0], reference[frame]))
    period = out["intra_period"]
    out["frames_decoded_for_frame"] = frame - (frame - frame % period) + 1
    out.update(decode_peak_memory(data, codec))
    ideal = float(nc.latents(data).bits.sum()) / 8  # -sum(log2 p) of every coded symbol, z included
    out["ideal_bytes"] = ideal
    out["file_over_ideal_percent"] = 100 * (len(data) / ideal - 1)
    return out


def decode_peak_memory(data: bytes, codec) -> dict:
    """Resident memory of a fresh process that loads the codec, then decodes ``data``: after loading, and
    the peak during the decode (Linux: the peak is reset after loading through ``/proc/self/clear_refs``), MiB."""
    import subprocess
    import sys
    import tempfile

    probe = ("import sys, neuralcodecs as nc; c = nc.load_codec('stem'); d = open(sys.argv[1], 'rb').read()\n"
             "def kib(key): return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key))\n"
             "base = kib('VmRSS:'); open('/proc/self/clear_refs', 'w').write('5'); {}\n"
             "print(base, kib('VmHWM:'))")
    with tempfile.NamedTemporaryFile(suffix=".ncb") as f:
        f.write(data)
        f.flush()
        base, peak = (int(v) for v in subprocess.run([sys.executable, "-c", probe.format("nc.decode(d)"), f.name],
                                                      capture_output=True, text=True, check=True).stdout.split())
    header, sections = nc.unpack(data)
    return {"decode_peak_rss_mib": peak / 1024, "loaded_rss_mib": base / 1024, "decode_growth_mib": (peak - base) / 1024,
            "decode_memory_estimate_mib": codec.decode_estimate(header, sections).memory / 2**20}


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:+.1f}%"


def part_effort(codec, frames: np.ndarray, qualities=SAVING_QUALITIES) -> list[dict]:
    """BasketballPass coded at each effort (fast: the analysis output; medium: each I-frame's latents
    refined for it, P-frames coded as before given it): bytes of I- and P-frames, PSNR-RGB over all
    frames, encode seconds; one torch thread."""
    from neuralcodecs import bitstream
    from neuralcodecs.metrics import psnr

    torch.set_num_threads(1)
    rows = []
    for q in qualities:
        for effort in ("fast", "medium"):
            start = time.perf_counter()
            data = codec.encode(frames, quality=q, effort=effort)
            seconds = time.perf_counter() - start
            header, sections = bitstream.unpack(data)
            keyframes = {k for k, _ in header.keyframes}
            intra = sum(len(sections[2 * t]) + len(sections[2 * t + 1]) for t in keyframes)
            pixels = frames.shape[0] * frames.shape[1] * frames.shape[2]
            out = codec.decode(data)
            rows.append({"quality": q, "effort": effort, "bpp": 8 * len(data) / pixels,
                         "i_frame_bytes": intra, "p_frame_bytes": sum(map(len, sections)) - intra,
                         "psnr_rgb": psnr(frames, out), "psnr_i_frames": float(np.mean([psnr(frames[t], out[t]) for t in keyframes])),
                         "encode_s": seconds})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(result: dict) -> str:
    """The stem_video block of docs/codecs/stem.md: saving and ablations, RD with BD-rates, random access."""
    lines = []
    if "effort" in result:
        lines += ["BasketballPass (100 frames, intra period 32: 4 I-frames), `--effort medium` (each I-frame's latents "
                  "refined for it by 100 SGA steps) against `fast`; real files, one torch thread:", "",
                  "| quality | effort | bpp | I-frame bytes | P-frame bytes | PSNR-RGB (all frames) | PSNR-RGB (I-frames) | encode s |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in result["effort"]:
            lines.append(f"| {r['quality']:g} | {r['effort']} | {r['bpp']:.4f} | {r['i_frame_bytes']:,} | {r['p_frame_bytes']:,} | "
                         f"{r['psnr_rgb']:.2f} | {r['psnr_i_frames']:.2f} | {r['encode_s']:.0f} |")
        lines.append("")
    if "saving" in result:
        lines += ["P-frames coded with the spatiotemporal model vs the same frames (same lattice latents, hence "
                  "identical pixels) coded intra by the hyperprior's entropy model; bpp of frames 1..T-1, real coded bytes:", "",
                  "| model | clip | quality | hyperprior's own files, bpp | intra bpp | P-frame bpp | saving |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for name, per_clip in result["saving"].items():
            for clip, rows in per_clip.items():
                for r in rows:
                    own = f"{r['image_codec_file_bpp']:.4f}" if "image_codec_file_bpp" in r else ""
                    lines.append(f"| {name} | {clip} | {r['quality']:g} | {own} | {r['intra_bpp']:.4f} | {r['p_bpp']:.4f} | "
                                 f"{r['saving_percent']:.1f}% |")
        lines.append("")
    if "rd" in result:
        for clip, run in result["rd"].items():
            meta = run["meta"]["clips"][0]
            lines += [f"**{clip}** ({meta['frames']} frames, {meta['width']}x{meta['height']}), one run:", "",
                      "| codec | setting | bpp | PSNR-RGB | PSNR-YUV (6:1:1) | MS-SSIM | encode fps | decode fps |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for curve in run["curves"]:
                r = curve["results"]
                for i, q in enumerate(r["quality"]):
                    lines.append(f"| {curve['name']} | {q:g} | {r['bpp'][i]:.4f} | {r['psnr-rgb'][i]:.2f} | {r['psnr-yuv'][i]:.2f} | "
                                 f"{r['ms-ssim-rgb'][i]:.4f} | {r['encoding_fps'][i]:.1f} | {r['decoding_fps'][i]:.1f} |")
            lines.append("")
        lines += ["BD-rate of stem against each anchor (negative: stem needs fewer bits at equal quality):", "",
                  "| clip | anchor | PSNR-RGB | PSNR-YUV |", "|---|---|---:|---:|"]
        for clip, run in result["rd"].items():
            for anchor, bd in run["bd_rate_stem_vs"].items():
                lines.append(f"| {clip} | {anchor} | {_pct(bd['psnr-rgb'])} | {_pct(bd['psnr-yuv'])} |")
        meta = next(iter(result["rd"].values()))["meta"]
        lines += ["", f"Measured {meta['date']} on {meta['machine']['cpu']}, one thread for the anchors.", ""]
    if "access" in result:
        a = result["access"]
        lines += [f"Random access, BasketballPass ({a['frames']} frames, quality {a['quality']:g}, intra period "
                  f"{a['intra_period']}): frame {a['frame']} alone in {a['frame_alone_s']:.2f} s ({a['frames_decoded_for_frame']} "
                  f"frames entropy-decoded, one synthesized) vs a full decode in {a['full_decode_s_threads1']:.1f} s; "
                  f"identical pixels: {a['frame_alone_identical']}; full decodes with 1 and 2 threads identical: "
                  f"{a['threads_identical']}. The file ({a['bytes']} bytes, container and 100 frames' sections "
                  f"included) is {a['file_over_ideal_percent']:.2f}% above the ideal code length of its symbols. Memory of a full decode in a fresh process: "
                  f"{a['loaded_rss_mib']:.0f} MiB resident with the codec loaded, peak {a['decode_peak_rss_mib']:.0f} MiB "
                  f"while decoding (+{a['decode_growth_mib']:.0f} MiB); the decoder's budget estimate: "
                  f"{a['decode_memory_estimate_mib']:.0f} MiB."]
    return "\n".join(lines).strip() + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", nargs="+", default=["saving", "rd", "access"], choices=["saving", "rd", "access", "effort"])
    ap.add_argument("--variant", action="append", default=[], help="NAME=WEIGHTS: an ablation model for the saving part")
    ap.add_argument("--qualities", type=float, nargs="+", help="stem qualities of the RD part (default: its sweep)")
    ap.add_argument("--frames", type=int, help="first N frames of each clip (default: all)")
    ap.add_argument("--json", default=str(RESULTS / "stem_video.json"))
    args = ap.parse_args()
    from neuralcodecs.stem.codec import StemCodec

    codec = nc.load_codec("stem")
    paths = clips()
    clip_frames = {name: read_video(path, fps=fps, count=args.frames).frames for name, (path, fps) in paths.items()}
    # foreman QCIF (10 frames, neither trained on nor an evaluation clip): the validation clip that
    # chooses between model variants without looking at the evaluation clips
    validation = {"foreman-qcif (validation)": read_video(FOREMAN, size="176x144", fps=30).frames}
    result = json.loads(Path(args.json).read_text()) if Path(args.json).exists() else {}
    result["weights"] = codec.fingerprint.hex()
    if "saving" in args.parts:
        variants = {"stem": codec}
        for spec in args.variant:
            name, path = spec.split("=", 1)
            variants[name] = StemCodec.from_weights(path)
        result["saving"] = part_saving(variants, {**clip_frames, **validation})
        result["saving_variants"] = {name: c.stem.cfg.to_json() for name, c in variants.items()}
    if "rd" in args.parts:
        result["rd"] = part_rd(paths, args.qualities, args.frames)
    if "effort" in args.parts:
        result["effort"] = part_effort(codec, clip_frames["BasketballPass"])
    if "access" in args.parts:
        result["access"] = part_access(codec, clip_frames["BasketballPass"])
        print(json.dumps(result["access"]), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    Path(args.json).with_suffix(".md").write_text(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
