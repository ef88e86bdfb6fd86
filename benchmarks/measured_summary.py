"""The measured results ``ncodec list`` shows, gathered into one small file shipped in the package.

``benchmarks/results/`` is not part of an installed package (a wheel holds ``neuralcodecs/``
only), so ``ncodec list`` reads ``neuralcodecs/assets/measured.json``, which this script makes
from the results files: per codec a headline result (BD-rate against WebP on Kodak for image
codecs, against x264 for video codecs) and the measured cost of each effort level, each with its
source file, date and, where the measurement recorded it, the fingerprint of the weights
measured.  Run it after any benchmark that changes those files; a test fails while the shipped
file differs from what this script makes.

Usage: python benchmarks/measured_summary.py [--check]
Reads: benchmarks/results/{kodak_eval,overfit_kodak,overfit_kodak_medium,overfit_kodak_best,
encoder_effort,encoder_effort_<codec>,stem_video,inr_video,student_imagenette}.json
Writes: neuralcodecs/assets/measured.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from common import RESULTS, ROOT  # noqa: E402  (also puts the repository on sys.path)
from overfit_kodak import run_steps

from neuralcodecs.metrics import bd_psnr, bd_rate  # noqa: E402

OUTPUT = ROOT / "neuralcodecs" / "assets" / "measured.json"
ANCHOR_NAMES = {"webp": "WebP", "x264": "x264"}
#: the README's note on benchmarks/results/encoder_effort.json (the file does not record its weights)
S2LIC_EFFORT_WEIGHTS = "earlier, unshipped weights"


def _source(name: str) -> str:
    return f"benchmarks/results/{name}"


def _read(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _pct(value: float) -> str:
    return f"{value:+.0f}%" if abs(value) >= 100 else f"{value:+.1f}%"


def _compare(anchor: dict, test: dict, against: str, on: str) -> dict:
    """BD-rate of ``test`` against ``anchor`` (``{"bpp", "psnr-rgb"}``) at equal PSNR-RGB, or the
    BD-PSNR where the PSNR ranges do not overlap, or neither."""
    out = {"against": against, "on": on, "metric": "psnr-rgb", "bd_rate_pct": None, "bd_psnr_db": None}
    try:
        out["bd_rate_pct"] = round(bd_rate(anchor["bpp"], anchor["psnr-rgb"], test["bpp"], test["psnr-rgb"]), 2)
    except ValueError:
        try:
            out["bd_psnr_db"] = round(bd_psnr(anchor["bpp"], anchor["psnr-rgb"], test["bpp"], test["psnr-rgb"]), 2)
        except ValueError:
            pass
    return out


def _comparisons_text(comparisons: list[dict], anchor: str, where=lambda c: "") -> str:
    """``"against WebP (PSNR-RGB): BD-rate +75.0%"``; several comparisons share one label per kind:
    ``"BD-rate +453% at effort medium, +354% at effort best"``."""
    parts, last, note = [], None, ""
    for c in comparisons:
        if c["bd_rate_pct"] is not None:
            kind, value = "BD-rate ", _pct(c["bd_rate_pct"])
        elif c["bd_psnr_db"] is not None:
            kind, value = "BD-PSNR ", f"{c['bd_psnr_db']:+.2f} dB"
            note = " (no BD-rate: the PSNR ranges do not overlap)"
        else:
            kind, value = "", "no BD-rate"
            note = " (neither the rates nor the PSNR ranges overlap)"
        parts.append((kind if kind != last else "") + value + where(c))
        last = kind
    return f"against {ANCHOR_NAMES[comparisons[0]['against']]} (PSNR-RGB): {', '.join(parts)}{note}"


def _curve_date(meta: dict, name: str) -> str:
    dates = [u["date"] for u in meta.get("updated", []) if name in u.get("curves", [])]
    return (dates[-1] if dates else meta["date"])[:10]


# --------------------------------------------------------------------------- headlines


def kodak_results() -> dict[str, dict]:
    """Every learned curve of ``kodak_eval.json`` (``python benchmarks/kodak_rd.py``) against WebP."""
    data = _read("kodak_eval.json")
    if data is None:
        return {}
    curves = {c["name"]: c for c in data["curves"]}
    webp = curves["webp"]["results"]
    images = data["meta"]["dataset"]["images"]
    out = {}
    for name, curve in curves.items():
        if not curve.get("description", "").startswith("neuralcodecs "):
            continue  # the anchors
        r = curve["results"]
        c = _compare(webp, r, "webp", f"Kodak ({images} images)")
        bpp = [round(min(r["bpp"]), 3), round(max(r["bpp"]), 3)]
        psnr = [round(min(r["psnr-rgb"]), 2), round(max(r["psnr-rgb"]), 2)]
        text = f"Kodak ({images} images), {_comparisons_text([c], 'webp')}; {bpp[0]:g}-{bpp[1]:g} bpp, {psnr[0]:.2f}-{psnr[1]:.2f} dB"
        out[name] = {"text": text, "comparisons": [c], "bpp": bpp, "psnr-rgb": psnr, "date": _curve_date(data["meta"], name),
                     "source": _source("kodak_eval.json"), "command": "python benchmarks/kodak_rd.py",
                     "weights_fingerprint": curve.get("weights_fingerprint")}
    return out


def overfit_result() -> dict[str, dict]:
    """``overfit`` on its Kodak subset at effort fast (``python benchmarks/overfit_kodak.py``)."""
    data = _read("overfit_kodak.json")
    if data is None:
        return {}
    s = data["summary"]
    curves = s["curves"]
    mine = {"bpp": curves["overfit"]["bpp"], "psnr-rgb": curves["overfit"]["psnr"]}
    webp = {"bpp": curves["webp"]["bpp"], "psnr-rgb": curves["webp"]["psnr"]}
    on = f"Kodak subset ({len(s['images'])} images: {', '.join(s['images'])})"
    c = _compare(webp, mine, "webp", on)
    bpp = [round(min(mine["bpp"]), 3), round(max(mine["bpp"]), 3)]
    steps = run_steps(s)
    text = (f"Kodak subset ({len(s['images'])} images), effort {s['effort']} ({steps:,} steps), "
            f"{_comparisons_text([c], 'webp')}; {bpp[0]:g}-{bpp[1]:g} bpp")
    return {"overfit": {"text": text, "comparisons": [c], "bpp": bpp, "effort": s["effort"], "steps": steps, "date": data["date"][:10],
                        "source": _source("overfit_kodak.json"), "command": "python benchmarks/overfit_kodak.py",
                        "weights_fingerprint": None}}


def stem_result() -> dict[str, dict]:
    """``stem`` against x264 on each clip of ``stem_video.json`` (``python benchmarks/stem_video.py``)."""
    data = _read("stem_video.json")
    if data is None:
        return {}
    comparisons, dates = [], []
    for clip, rd in data["rd"].items():
        curves = {c["name"]: c["results"] for c in rd["curves"]}
        info = rd["meta"]["clips"][0]
        comparisons.append(_compare(curves["x264"], curves["stem"], "x264", f"{clip} ({info['width']}x{info['height']}, {info['frames']} frames)"))
        dates.append(rd["meta"]["date"][:10])
    text = f"{len(comparisons)} clips, {_comparisons_text(comparisons, 'x264', lambda c: ' on ' + c['on'])}"
    return {"stem": {"text": text, "comparisons": comparisons, "date": max(dates), "source": _source("stem_video.json"),
                     "command": "python benchmarks/stem_video.py", "weights_fingerprint": data.get("weights")}}


def inr_video_results() -> dict[str, dict]:
    """``nerv``, ``hnerv``, ``nirvana`` against x264 per effort (``python benchmarks/inr_video.py``)."""
    data = _read("inr_video.json")
    if data is None:
        return {}
    meta, x264 = data["meta"], data["anchors"]["x264"]
    on = f"Big Buck Bunny {meta['clip'].split()[-1]} ({meta['frames']} frames)"
    out = {}
    for codec in dict.fromkeys(p["codec"] for p in data["points"]):
        comparisons = []
        for effort in dict.fromkeys(p["effort"] for p in data["points"] if p["codec"] == codec):
            points = sorted((p for p in data["points"] if p["codec"] == codec and p["effort"] == effort), key=lambda p: p["bpp"])
            if len(points) < 2:
                continue
            c = _compare(x264, {"bpp": [p["bpp"] for p in points], "psnr-rgb": [p["psnr-rgb"] for p in points]}, "x264", on)
            c["effort"] = effort
            c["sizes_m"] = [p["size_m"] for p in points]
            comparisons.append(c)
        common = {"date": meta["date"][:10], "source": _source("inr_video.json"),
                  "command": "python benchmarks/inr_video.py", "weights_fingerprint": None}
        if comparisons:
            where = lambda c: f" at effort {c['effort']}"  # noqa: E731
            out[codec] = {"text": f"{on}, {_comparisons_text(comparisons, 'x264', where)}",
                          "comparisons": comparisons, **common}
        else:  # one point per effort so far: the best one, and what x264 needs for its PSNR
            p = max((p for p in data["points"] if p["codec"] == codec), key=lambda p: p["psnr-rgb"])
            out[codec] = {"text": f"{on}, one point: {p['psnr-rgb']:.2f} dB at {p['bpp']:.3f} bpp ({p['size_m']:g}M, "
                                  f"effort {p['effort']}, {p['fit_minutes']:.1f} min); {_x264_at(x264, p['psnr-rgb'])}",
                          "comparisons": [], **common}
    return out


def _x264_at(x264: dict, psnr: float) -> str:
    """What x264 needs for ``psnr``: its rate interpolated in log-rate between its neighbouring points."""
    pairs = sorted(zip(x264["psnr-rgb"], x264["bpp"]))
    for (q0, r0), (q1, r1) in zip(pairs, pairs[1:]):
        if q0 <= psnr <= q1:
            t = (psnr - q0) / (q1 - q0) if q1 > q0 else 0.0
            return f"x264 reaches it at {math.exp(math.log(r0) * (1 - t) + math.log(r1) * t):.3f} bpp"
    return "outside x264's measured PSNR range"


def student_result() -> dict[str, dict]:
    """``student`` on Imagenette val: its top-1 and bits beside the best anchor path
    (``python benchmarks/student_imagenette.py``)."""
    data = _read("student_imagenette.json")
    if data is None:
        return {}
    from student_imagenette import _bpp_at, rows

    all_rows = rows(data)
    mine = sorted((r for r in all_rows if r["codec"] == "student"), key=lambda r: r["bpp"])
    anchors = [r for r in all_rows if r["codec"] in ("jpeg", "webp", "avif")]
    best = max(anchors, key=lambda r: (r["top1"], -r["bpp"]))
    need = _bpp_at({"bpp": [r["bpp"] for r in mine], "top1": [r["top1"] for r in mine]}, best["top1"])
    images = data["uncompressed"]["images"]
    top1 = [r["top1"] for r in mine]
    text = (f"Imagenette val ({images} images), top-1 over 1000 ImageNet classes {100 * min(top1):.1f}-"
            f"{100 * max(top1):.1f}% at {mine[0]['bpp']:.3f}-{mine[-1]['bpp']:.3f} bpp; the best anchor path, "
            f"{best['codec']} q{best['quality']:g} + {best['model']} MobileNetV2, {100 * best['top1']:.1f}% at {best['bpp']:.3f} bpp"
            + (f" (the student reaches it at {need:.3f} bpp)" if need else " (not reached by the student)"))
    return {"student": {"text": text, "top1": [round(r["top1"], 4) for r in mine], "bpp": [round(r["bpp"], 4) for r in mine],
                        "date": data["meta"]["date"][:10], "source": _source("student_imagenette.json"),
                        "command": "python benchmarks/student_imagenette.py",
                        "weights_fingerprint": next(c.get("weights_fingerprint") for c in data["curves"] if c["name"] == "student")}}


# --------------------------------------------------------------------------- effort levels


def overfit_effort() -> dict[str, dict]:
    """Minutes per image and rate point of each effort (``overfit_kodak*.json``)."""
    out = {}
    for name in ("overfit_kodak.json", "overfit_kodak_medium.json", "overfit_kodak_best.json"):
        data = _read(name)
        if data is None:
            continue
        s = data["summary"]
        minutes = round(s["encode_minutes_per_image_and_rate"], 2)
        images = s["images"]
        where = f"{len(images)} Kodak images" if len(images) > 1 else f"Kodak {images[0]}"
        steps = run_steps(s)
        out[s["effort"]] = {"text": f"{minutes:.1f} min per image and rate point at {steps:,} steps ({where}, one CPU core)",
                            "minutes_per_image_and_rate_point": minutes, "steps": steps, "images": images,
                            "date": data["date"][:10], "source": _source(name)}
    return {"overfit": out} if out else {}


def refinement_effort() -> dict[str, dict]:
    """Seconds per image of each effort of the trained codecs (``encoder_effort_<codec>.json``,
    ``python benchmarks/encoder_effort.py``; the older ``encoder_effort.json`` where a codec has no other)."""
    out = {}
    for path in sorted(RESULTS.glob("encoder_effort*.json")):  # the older file first: a codec's own file replaces it
        data = json.loads(path.read_text())
        crop = data["crop"]
        size = f"{crop}x{crop} Kodak crop" if crop else "Kodak image"
        weights = f", {S2LIC_EFFORT_WEIGHTS}" if path.name == "encoder_effort.json" else ""
        levels = {}
        for effort, s in data["summary"].items():
            seconds = round(s["encode_s_mean"], 2)
            levels[effort] = {"text": f"{seconds:.3g} s per {size} ({len(data['images'])} images, one CPU core{weights})",
                              "seconds_per_image": seconds, "crop": crop, "images": data["images"], "source": _source(path.name)}
        out[data["codec"]] = levels
    return out


def inr_effort() -> dict[str, dict]:
    """Fitting minutes of each effort and model size (``inr_video.json``)."""
    data = _read("inr_video.json")
    if data is None:
        return {}
    clip = f"Big Buck Bunny {data['meta']['clip'].split()[-1]}, {data['meta']['frames']} frames, one CPU core"
    out: dict[str, dict] = {}
    for p in data["points"]:
        level = out.setdefault(p["codec"], {}).setdefault(p["effort"], {"fit_minutes": [], "sizes_m": []})
        level["fit_minutes"].append(round(p["fit_minutes"], 2))
        level["sizes_m"].append(p["size_m"])
    for codec, levels in out.items():
        for effort, level in levels.items():
            lo, hi = min(level["fit_minutes"]), max(level["fit_minutes"])
            sizes = sorted(set(level["sizes_m"]))
            span = f"{lo:.1f}-{hi:.1f}" if len(level["fit_minutes"]) > 1 else f"{lo:.1f}"
            level["text"] = f"{span} min fitting at {', '.join(f'{s:g}' for s in sizes)}M parameters ({clip})"
            level["source"] = _source("inr_video.json")
            level["date"] = data["meta"]["date"][:10]
    return out


# --------------------------------------------------------------------------- the file


def build() -> dict:
    """The content of ``neuralcodecs/assets/measured.json`` from the results files present."""
    results = {**kodak_results(), **overfit_result(), **stem_result(), **inr_video_results(), **student_result()}
    efforts = {**overfit_effort(), **refinement_effort(), **inr_effort()}
    codecs = {}
    for name in sorted(set(results) | set(efforts)):
        entry = {}
        if name in results:
            entry["result"] = results[name]
        if name in efforts:
            entry["effort"] = efforts[name]
        codecs[name] = entry
    return {"about": "measured results shown by ncodec list; made by python benchmarks/measured_summary.py from "
                     "benchmarks/results/ (do not edit by hand)",
            "codecs": codecs}


def render(summary: dict) -> str:
    return json.dumps(summary, indent=1) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report whether the shipped file is current (exit 1 if not)")
    args = ap.parse_args()
    text = render(build())
    if args.check:
        current = OUTPUT.exists() and OUTPUT.read_text() == text
        print(f"{OUTPUT}: {'current' if current else 'out of date'}")
        return 0 if current else 1
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
