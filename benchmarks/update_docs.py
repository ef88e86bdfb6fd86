"""Write every generated table of the README and of ``docs/`` from benchmarks/results.

The one renderer of measured numbers: each table sits between ``<!-- BEGIN name -->`` and
``<!-- END name -->`` markers in ``README.md`` or a page under ``docs/``; this script replaces
what is between them and changes nothing else.  A marker may carry an argument
(``<!-- BEGIN weights:hyperprior -->``: the hyperprior's sidecar).  The README's codec table
(``codecs``) is written from the results and the weights sidecars
(``neuralcodecs/weights/*.json``); a codec with no measured result says so.  Run the benchmark
scripts first; this script measures nothing.

Usage: python benchmarks/update_docs.py           # rewrite the blocks
       python benchmarks/update_docs.py --check   # exit 1 if a block is stale, unknown or missing
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
WEIGHTS = ROOT / "neuralcodecs" / "weights"
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT))  # this checkout's package, not another installed copy


def _load(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def kodak_bd() -> str | None:
    path = RESULTS / "kodak_bd.md"
    return path.read_text().strip() if path.exists() else None


def kodak_rd_points(codec: str | None = None) -> str | None:
    """The learned codecs' Kodak points (``codec``: only that codec's)."""
    data = _load("kodak_eval.json")
    if not data:
        return None
    lines = ["| codec | quality | bpp | PSNR-RGB | MS-SSIM |", "|---|---:|---:|---:|---:|"]
    from neuralcodecs import registry

    learned = set(registry.names()) if codec is None else {codec}
    if not any(c["name"] in learned for c in data["curves"]):
        return None
    for curve in data["curves"]:
        if curve["name"] not in learned:
            continue
        r = curve["results"]
        for i, q in enumerate(r["quality"]):
            lines.append(f"| {curve['name']} | {q:g} | {r['bpp'][i]:.4f} | {r['psnr-rgb'][i]:.2f} | {r['ms-ssim-rgb'][i]:.4f} |")
    meta = data["meta"]
    lines.append("")
    lines.append(f"Measured {meta['date']} on {meta['machine']['cpu']} ({meta['device']}); dataset checksum `{meta['dataset']['checksum'][:16]}`.")
    return "\n".join(lines)


def checks() -> str | None:
    lines = [
        "| codec | quality | bpp | PSNR-RGB | JPEG PSNR at same bpp | images beating JPEG | file vs ideal code length | file vs training estimate (mean / max) | exact latents |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    found = False
    for codec in ("hyperprior", "s2lic"):
        data = _load(f"{codec}_kodak_checks.json")
        if data:
            found = True
            lines += _check_rows(codec, data)
    return "\n".join(lines) if found else None


def _check_rows(codec: str, data: dict) -> list[str]:
    lines = []
    for s in data["summary"]:
        lines.append(
            f"| {codec} | {s['quality']} | {s['mean_bpp']:.4f} | {s['mean_psnr']:.2f} | {s['mean_jpeg_psnr_at_bpp']:.2f} | "
            f"{s['images_beating_jpeg']}/{s['images']} | <= {s['max_size_over_ideal_pct']:+.3f}% | "
            f"{s['mean_size_over_training_estimate_pct']:+.2f}% / {s['max_size_over_training_estimate_pct']:+.2f}% | "
            f"{s['exact_latents']}/{s['images']} |"
        )
    return lines


def speed() -> str | None:
    rows = []
    names = ["speed_cpu.json", "speed_cuda.json", *sorted(p.name for p in RESULTS.glob("speed_cpu_*.json"))]
    for name in names:
        data = _load(name)
        if not data:
            continue
        meta, med = data["meta"], data["median"]
        where = f"{meta['device']} / {meta['machine']['cpu']}, {meta['torch_threads']} threads, {len(data['rows'])} Kodak images"
        codec = data.get("codec", "hyperprior")
        sizes = ", ".join(f"{k}={data[k]}" for k in ("N", "M") if k in data)
        label = f"neuralcodecs {codec}" + (f" ({sizes})" if sizes else "") + (f" quality {data['quality']:g}" if "quality" in data else "")
        reference = data.get("reference", f"compressai mbt2018_mean (N={data.get('N')}, M={data.get('M')})")
        mp = med.get("decode_mp_per_s"), med.get("ref_decode_mp_per_s")
        mps = [f"{v:.2f}" if v is not None else "" for v in mp]
        rows.append(f"| {label} | {where} | {med['encode_ms']:.0f} | {med['decode_ms']:.0f} | {mps[0]} |")
        rows.append(f"| {reference} | {where} | {med['ref_encode_ms']:.0f} | {med['ref_decode_ms']:.0f} | {mps[1]} |")
    if not rows:
        return None
    return "\n".join(["| codec | machine | encode ms | decode ms | decode MP/s |", "|---|---|---:|---:|---:|", *rows])


def mpq() -> str | None:
    data = _load("mpq_imagenette.json")
    if not data:
        return None
    lines = [
        f"MobileNetV2 top-1 on {data['uncompressed']['images']} Imagenette val images, uncompressed: "
        f"{100 * data['uncompressed']['top1']:.1f}%"
        + ("." if data["uncompressed"]["images"] >= 1000 else
           " (an evenly spaced subset, `--limit`; the full run drops the flag)."),
        "",
        "| codec | quality | bpp | PSNR-RGB | top-1 | agreement with uncompressed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for curve in data["curves"]:
        r = curve["results"]
        for i, q in enumerate(r["quality"]):
            lines.append(
                f"| {curve['name']} | {q:g} | {r['bpp'][i]:.3f} | {r['psnr-rgb'][i]:.2f} | {100 * r['top1'][i]:.1f}% | {100 * r['agreement'][i]:.1f}% |"
            )
    return "\n".join(lines)


def exactness() -> str | None:
    price = _load("exactness_price.json")
    lines = []
    if price:
        rule = price.get("float_scale_indexes", "compressai")
        same = "same scale-table rule" if rule == "nearest" else "float path with CompressAI's build_indexes rule"
        lines.append(f"- Price of exact entropy parameters (Kodak BD-rate, exact vs float hyper-synthesis, {same}): "
                     f"{price['bd_rate_exact_vs_float_pct']:+.3f}%.")
    others = sorted({p.stem.split("_", 2)[-1] for pattern in ("device_consistency_*.json", "fuzz_decoder_*.json")
                     for p in RESULTS.glob(pattern)})
    for codec in ["hyperprior", *others]:
        suffix = "" if codec == "hyperprior" else f"_{codec}"
        cons, fuzz = _load(f"device_consistency{suffix}.json"), _load(f"fuzz_decoder{suffix}.json")
        if cons:
            lines.append(
                f"- {codec}, cross-configuration decoding ({', '.join(cons['configurations'])}): {cons['encoder_decoder_pairs']} "
                f"encoder/decoder pairs over {cons['images']} Kodak image(s) x {len(cons['levels'])} rates, "
                f"{cons['desynchronized']} desynchronized, decoded pixels differ by at most {cons['max_pixel_difference_between_decoders']} level(s)."
            )
        if fuzz:
            classes = ", ".join(f"{k} {v}" for k, v in fuzz["rejected_by_class"].items())
            lines.append(
                f"- {codec}, decoder fuzzing: {fuzz['mutants']} mutated files, {fuzz['decoded']} decoded, {fuzz['rejected']} rejected "
                f"({classes}); {fuzz['untyped_failures']} untyped failures, {fuzz['hangs']} hangs, peak memory growth "
                f"{fuzz['peak_rss_growth_mb']} MB."
                + (
                    f" Of the decoded mutants, {fuzz['decoded_identical']} decode to exactly the original's pixels; "
                    f"the others ({', '.join(f'{k} {v}' for k, v in fuzz['decoded_different_by_kind'].items()) or 'none'}) "
                    f"come from edits whose CRCs were recomputed; {fuzz['silent_corruptions']} silent corruptions."
                    if "silent_corruptions" in fuzz else ""
                )
            )
    return "\n".join(lines) or None


def decoder_budget() -> str | None:
    after = _load("decoder_memory.json")
    before = _load("decoder_memory_before.json")
    if not after:
        return None

    def mib(r):
        return f"{r['extra_peak_bytes'] / 2**20:.0f} MiB, {r['seconds']:.2f} s"

    lines = ["| decode | before (cee2058, format v1) | after (format v2) |", "|---|---|---|"]
    crafted = [after["crafted_4096x4096"]] + ([before["crafted_4096x4096"]] if before else [])
    lines.append(
        f"| crafted 4096x4096 header, 4-byte sections | "
        f"{(mib(crafted[1]) + ' (' + crafted[1]['outcome'].split(':')[0] + ')') if before else 'not measured'} | "
        f"{mib(crafted[0])} ({crafted[0]['outcome'].split(':')[0]}) |"
    )
    kodak_before = f"{before['kodak_mean_extra_peak_mib']:.0f} MiB" if before else "not measured"
    lines.append(f"| Kodak, quality 4, mean extra peak ({len(after['kodak'])} images) | {kodak_before} | "
                 f"{after['kodak_mean_extra_peak_mib']:.0f} MiB |")
    old = {r["side"]: r for r in (before or {}).get("large", [])}
    for r in after["large"]:
        was = mib(old[r["side"]]) if r["side"] in old else "not measured"
        lines.append(f"| {r['side']}x{r['side']}, quality 4 | {was} | {mib(r)} |")
    return "\n".join(lines)


def _markdown(name: str) -> str | None:
    path = RESULTS / name
    return path.read_text().strip() if path.exists() else None


def throughput() -> str | None:
    data = _load("training_throughput.json")
    if not data:
        return None
    lines = ["| configuration | crop | arithmetic | seconds per step (batch 8) |", "|---|---:|---|---:|"]
    for r in data["rows"]:
        lines.append(f"| {r['config']} | {r['crop']} | {r['precision']} | {r['s_per_step']:.3f} |")
    return "\n".join(lines)


def effort() -> str | None:
    data = _load("encoder_effort.json")
    if not data:
        return None
    size = f"centre {data['crop']}x{data['crop']} crops" if data["crop"] else "whole images"
    lines = [f"{data['codec']}, Kodak {', '.join(data['images'])} ({size}), qualities {', '.join(f'{q:g}' for q in data['qualities'])}:", "",
             "| effort | BD-rate vs fast (PSNR-RGB) | encode seconds per image |", "|---|---:|---:|"]
    for effort, s in data["summary"].items():
        lines.append(f"| {effort} | {s['bd_rate_vs_first_pct']:+.2f}% | {s['encode_s_mean']:.1f} |")
    return "\n".join(lines)


def inr_paper_scale() -> str:
    r = json.loads((RESULTS / "inr_paper_scale.json").read_text())
    m = r["meta"]
    lines = [f"{m['clip']}, {m['frames']} frames, {m['device']} (torch {m['torch']}); `{m['command']}`", "",
             "| codec | values | effort (epochs) | bpp | PSNR-RGB (dB) | fitting (s) | decode (fps) |", "|---|---|---|---|---|---|---|"]
    epochs = {"fast": 60, "medium": 200, "best": 600}
    for row in r["rows"]:
        lines.append(f"| {row['codec']} | {row['parameters']:,} | {row['effort']} ({epochs[row['effort']]}) | {row['bpp']:.4f} | "
                     f"{row['psnr-rgb']:.2f} | {row['fit_seconds']:.0f} | {row['decode_fps']:.0f} |")
    return "\n".join(lines) + "\n"


TABLES = {
    "training_throughput": throughput,
    "training_curve": lambda: _markdown("training_curve.md"),
    "ablation": lambda: _markdown("ablation.md"),
    "encoder_effort": effort,
    "high_rate_ceiling": lambda: _markdown("high_rate_ceiling.md"),
    "kodak_bd": kodak_bd,
    "kodak_points": kodak_rd_points,
    "checks": checks,
    "speed": speed,
    "mpq": mpq,
    "mcquic_groups": lambda: _markdown("mcquic_groups.md"),
    "mcquic_usage": lambda: _markdown("mcquic_codebook_usage.md"),
    "vqgan_ladder": lambda: _markdown("vqgan_ladder.md"),
    "vqgan_restoration": lambda: _markdown("vqgan_ladder_restoration.md"),
    "latent_imagenette": lambda: _markdown("latent_imagenette.md"),
    "student_imagenette": lambda: _markdown("student_imagenette.md"),
    "walloc_prediction": lambda: _markdown("walloc_prediction.md"),
    "token_budget": lambda: _markdown("token_budget.md"),
    "stem_video": lambda: _markdown("stem_video.md"),
    "inr_video": lambda: _markdown("inr_video.md"),
    "inr_paper_scale": inr_paper_scale,
    "overfit_kodak": lambda: _markdown("overfit_kodak.md"),
    "overfit_effort": lambda: _markdown("overfit_effort.md"),
    "inr_tuning": lambda: _markdown("inr_tuning.md"),
    "top_quality_effort": lambda: _markdown("top_quality_effort_hyperprior.md"),
    "overfit_fit_ablation": lambda: _markdown("overfit_fit_ablation.md"),
    "exactness": exactness,
    "decoder_budget": decoder_budget,
    "decode_compute": lambda: _markdown("decode_compute.md"),
    "hostile_cases": lambda: hostile_cases(),
    "startup": lambda: _markdown("startup.md"),
    "overfit_small": lambda: _markdown("overfit_small.md"),
    "overfit_small_table": lambda: _markdown("overfit_small_table.md"),
    "overfit_decode": lambda: _markdown("overfit_decode.md"),
    "overfit_kodak_medium": lambda: _markdown("overfit_kodak_medium.md"),
    "fit_step": lambda: _markdown("fit_step.md"),
    "fit_recipe": lambda: _markdown("fit_recipe.md"),
    "fit_recipe_cc5": lambda: _markdown("fit_recipe_cc5.md"),
    "overfit_revisions": lambda: _markdown("overfit_revisions.md"),
    "overfit_kodak_medium_soap": lambda: _markdown("overfit_kodak_medium_soap.md"),
    "overfit_soap_kodak": lambda: _markdown("overfit_soap_kodak.md"),
    "max_bytes_sweep": lambda: _markdown("max_bytes_sweep.md"),
    "wheel_check": lambda: _markdown("wheel_check.md"),
}


def hostile_cases() -> str | None:
    """Issue #25's cases, before and after, side by side (benchmarks/hostile_cases.py)."""
    before, after = _load("hostile_cases_before.json"), _load("hostile_cases_after.json")
    if not before or not after:
        return None
    old = {r["case"]: r for r in before["cases"]}

    def cell(r: dict | None) -> str:
        if r is None:
            return "not run"
        status = f"exit {r['exit']}" if isinstance(r["exit"], int) else r["exit"]
        if r["wall_s"] is None:
            return status
        notes = " (pickle ran code)" if r.get("code_ran") else ""
        if r["message_chars"] > 300:
            notes += f" ({r['message_chars']:,}-character error line)"
        return f"{status}, {r['wall_s']:.2f} s, {r['peak_mib']:.0f} MiB{notes}"

    lines = ["| case | before | after | after: message or output |", "|---|---|---|---|"]
    for r in after["cases"]:
        message = r["message"].replace("|", "\\|")[:140]
        lines.append(f"| {r['case']} | {cell(old.get(r['case']))} | {cell(r)} | {message} |")
    return "\n".join(lines)



# --------------------------------------------------------------------------- the codec table

#: the paper each codec implements: (short citation, arXiv ids); a codec missing here says so
PAPERS = {
    "hyperprior": ("Minnen et al., NeurIPS 2018", ("1809.02736",)),
    "s2lic": ("Wang et al. 2024", ("2403.14471",)),
    "mcquic": ("Zhu et al., CVPR 2022", ("2203.10897",)),
    "vqgan": ("Mao et al., DCC 2024", ("2307.08265",)),
    "walloc": ("Jacobellis & Yadwadkar, DCC 2025", ("2412.09405",)),
    "stem": ("Liu et al. 2021", ("2104.06083",)),
    "nerv": ("Chen et al., NeurIPS 2021", ("2110.13903",)),
    "hnerv": ("Chen et al., CVPR 2023", ("2304.02633",)),
    "nirvana": ("Maiya et al., CVPR 2023", ("2212.14593",)),
    "nervpp": ("Ghorbel et al. 2024 (NeRV++)", ("2402.18305",)),
    "nerv-boost": ("Zhang et al., CVPR 2024 (Boosting-NeRV)", ("2402.18152",)),
    "hnerv-boost": ("Zhang et al., CVPR 2024 (Boosting-NeRV)", ("2402.18152",)),
    "overfit": ("Cool-chic (Ladune et al., ICCV 2023), C3 (Kim et al., CVPR 2024)", ("2212.05458", "2312.02753")),
    "student": ("Matsubara et al., WACV 2022", ("2108.11898",)),
}

#: each codec's page under docs/ (the implicit video codecs share one)
PAGES = {
    "hyperprior": "codecs/hyperprior.md", "s2lic": "codecs/s2lic.md", "mcquic": "codecs/mcquic.md",
    "vqgan": "codecs/vqgan.md", "walloc": "codecs/walloc.md", "overfit": "codecs/overfit.md",
    "stem": "codecs/stem.md", "nerv": "codecs/inr-video.md", "hnerv": "codecs/inr-video.md",
    "nirvana": "codecs/inr-video.md", "student": "codecs/student.md",
    "nerv-boost": "codecs/inr-video.md", "hnerv-boost": "codecs/inr-video.md", "nervpp": "codecs/inr-video.md",
}

#: footnotes of the speed column, in the order they are numbered
SPEED_NOTES = {
    "speed": "`benchmarks/speed.py`: median per Kodak image, end to end through the file, 2 threads, quiet machine.",
    "eval": "mean per Kodak image in the Kodak evaluation run (`benchmarks/kodak_rd.py`, two images at a time); "
            "no dedicated speed run yet.",
    "overfit": "`benchmarks/overfit_kodak.py`: encoding fits a network (one core per image); decode per image.",
    "video": "frames per second on the clip named, one thread (`benchmarks/stem_video.py`).",
    "inr": "fitting minutes per clip and decoded frames per second, one core per fit (`benchmarks/inr_video.py`).",
    "student": "mean per Imagenette val image (224x224) in `benchmarks/student_imagenette.py`: encode, and decode to "
               "class probabilities (no pixels), one thread per worker, two workers.",
}
_SUPERSCRIPTS = "¹²³⁴⁵⁶⁷⁸⁹"


def _pct(v: float) -> str:
    return f"{v:+.0f}%" if abs(v) >= 10 else f"{v:+.1f}%"


def _arxiv(ids: tuple[str, ...]) -> str:
    return ", ".join(f"[arXiv {i}](https://arxiv.org/abs/{i})" for i in ids)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _kodak_headline(name: str) -> str | None:
    """BD-rate against JPEG and WebP on the 24 Kodak images (kodak_eval.json)."""
    from neuralcodecs.metrics import bd_psnr, bd_rate

    data = _load("kodak_eval.json")
    curves = {c["name"]: c["results"] for c in (data or {}).get("curves", [])}
    if name not in curves:
        return None
    r = curves[name]
    span = f"{min(r['psnr-rgb']):.1f}-{max(r['psnr-rgb']):.1f} dB at {min(r['bpp']):.3f}-{max(r['bpp']):.3f} bpp"
    anchors = [(label, curves[a]) for a, label in (("jpeg", "JPEG"), ("webp", "WebP")) if a in curves]
    for measure, unit, what in ((bd_rate, "%", "BD-rate"), (bd_psnr, " dB", "BD-PSNR")):
        try:
            values = [(label, measure(a["bpp"], a["psnr-rgb"], r["bpp"], r["psnr-rgb"])) for label, a in anchors]
        except ValueError:  # the curves do not overlap (in quality for BD-rate, in rate for BD-PSNR)
            continue
        if values:
            shown = ", ".join((_pct(v) if unit == "%" else f"{v:+.1f} dB") + f" vs {label}" for label, v in values)
            why = "" if what == "BD-rate" else " (too little PSNR overlap for a BD-rate)"
            return f"Kodak {what} (PSNR-RGB): {shown}{why}; {span}"
    return f"Kodak: {span}, below the anchors' lowest rates (no BD overlap)"


def _overfit_headline(name: str) -> str | None:
    data = _load("overfit_kodak.json")
    summary = (data or {}).get("summary", {})
    bd = summary.get("bd_rate_vs_webp_psnr", {})
    if name not in bd:
        return None
    images = len(summary.get("images", []))
    return (f"Kodak subset ({images} images), effort `{summary.get('effort')}`: BD-rate {_pct(bd[name])} vs WebP "
            f"(PSNR-RGB)")


def _video_headline(name: str) -> str | None:
    """BD-rate against x264 on each clip of the video benchmark (stem_video.json)."""
    data = _load("stem_video.json")
    parts = []
    for clip, rd in (data or {}).get("rd", {}).items():
        vs = rd.get("bd_rate_stem_vs", {}) if name == "stem" else {}
        if "x264" in vs and any(c["name"] == name for c in rd["curves"]):
            parts.append(f"{_pct(vs['x264']['psnr-rgb'])} on {clip}")
    if not parts:
        return None
    saving = [row["saving_percent"] for rows in data.get("saving", {}).get(name, {}).values() for row in rows]
    tail = f"; P-frames {min(saving):.0f}-{max(saving):.0f}% smaller than intra" if saving else ""
    return "BD-rate (PSNR-RGB) vs x264: " + ", ".join(parts) + tail


def _inr_headline(name: str) -> str | None:
    data = _load("inr_video.json")
    points = [p for p in (data or {}).get("points", []) if p["codec"] == name]
    x264 = (data or {}).get("anchors", {}).get("x264")
    if not points:
        return None
    best = max(points, key=lambda p: p["psnr-rgb"])
    text = (f"{data['meta']['clip']}: best {best['psnr-rgb']:.2f} dB at {best['bpp']:.3f} bpp "
            f"({best['size_m']:g}M, {best['effort']})")
    if x264:
        i = min(range(len(x264["bpp"])), key=lambda k: abs(x264["psnr-rgb"][k] - best["psnr-rgb"]))
        text += f"; x264 nearest in PSNR: {x264['psnr-rgb'][i]:.2f} dB at {x264['bpp'][i]:.3f} bpp"
    return text


def _student_headline(name: str) -> str | None:
    """The student's line of the measured summary (``benchmarks/measured_summary.py``), made from
    ``student_imagenette.json``."""
    if name != "student" or _load("student_imagenette.json") is None:
        return None
    measured = json.loads((ROOT / "neuralcodecs" / "assets" / "measured.json").read_text())["codecs"].get(name, {})
    return measured.get("result", {}).get("text")


def _headline(name: str) -> str:
    for source in (_kodak_headline, _overfit_headline, _video_headline, _inr_headline, _student_headline):
        text = source(name)
        if text:
            return text
    return "no measured result yet"


def _speed_cell(name: str) -> tuple[str, str | None]:
    """(cell, footnote key) for a codec's encode / decode speed."""
    for path in [RESULTS / "speed_cpu.json", *sorted(RESULTS.glob("speed_cpu_*.json"))]:
        data = json.loads(path.read_text()) if path.exists() else {}
        if data and data.get("codec", "hyperprior") == name:
            med = data["median"]
            quality = f", quality {data['quality']:g}" if "quality" in data else ""
            return f"{med['encode_ms']:.0f} ms / {med['decode_ms']:.0f} ms per Kodak image{quality}", "speed"
    curves = {c["name"]: c["results"] for c in (_load("kodak_eval.json") or {}).get("curves", [])}
    if name in curves and curves[name].get("encoding_time"):
        r = curves[name]
        enc, dec = (sum(r[k]) / len(r[k]) for k in ("encoding_time", "decoding_time"))
        return f"{_ms(enc)} / {_ms(dec)} per Kodak image", "eval"
    overfit = (_load("overfit_kodak.json") or {}).get("summary", {})
    if name in overfit.get("bd_rate_vs_webp_psnr", {}) and name == "overfit":
        return (f"{overfit['encode_minutes_per_image_and_rate']:.1f} min / {overfit['decode_ms_mean']:.0f} ms "
                f"per image", "overfit")
    for clip, rd in (_load("stem_video.json") or {}).get("rd", {}).items():
        curve = next((c["results"] for c in rd["curves"] if c["name"] == name), None)
        if curve and curve.get("encoding_fps"):
            c0 = rd["meta"]["clips"][0]
            return (f"{min(curve['encoding_fps']):.0f}-{max(curve['encoding_fps']):.0f} fps / "
                    f"{min(curve['decoding_fps']):.0f}-{max(curve['decoding_fps']):.0f} fps "
                    f"({clip}, {c0['width']}x{c0['height']})", "video")
    student = next((c["results"] for c in (_load("student_imagenette.json") or {}).get("curves", []) if c["name"] == name), None)
    if student:
        enc, dec = (sum(student[k]) / len(student[k]) for k in ("encoding_time", "decoding_time"))
        return f"{_ms(enc)} / {_ms(dec)} per Imagenette image", "student"
    points = [p for p in (_load("inr_video.json") or {}).get("points", []) if p["codec"] == name]
    if points:
        fit = [p["fit_minutes"] for p in points]
        fps = [p["decode_fps"] for p in points]
        def span(values, fmt):
            low, high = format(min(values), fmt), format(max(values), fmt)
            return low if low == high else f"{low}-{high}"

        return f"{span(fit, '.1f')} min / {span(fps, '.0f')} fps", "inr"
    return "not measured yet", None


def _folders(data: list[dict]) -> str:
    """``bsds500 (500), ...``; a split folder is named with its data set (``imagenette/train``)."""
    def name(folder: str) -> str:
        path = Path(folder)
        return f"{path.parent.name}/{path.name}" if path.name in ("train", "val", "test") else path.name

    return ", ".join(f"{name(d['folder'])} ({d['images']})" for d in data)


def _sidecar(name: str) -> dict | None:
    path = WEIGHTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _training_summary(side: dict) -> str:
    """Steps, time and data of a weights sidecar, in a few words."""
    t = side.get("training", {})
    stages = side.get("stages")
    if stages:
        minutes = sum(s.get("train_minutes", 0) for s in stages)
        steps = ", ".join(f"{s['stage']} {s.get('last_log_step', '?'):,}" for s in stages)
        work = f"{len(stages)} stages (steps: {steps}), {minutes / 60:.1f} h"
    else:
        steps = t.get("total_steps", t.get("steps"))
        hours = t.get("total_hours", t.get("hours"))
        work = f"{steps:,} steps" + (f", {hours:.1f} h" if hours is not None else " (time not recorded)")
    device = str(t.get("device", (t.get("final_log") or {}).get("device", "?"))).upper()
    return f"trained here on {device}: {work}; data: {_folders(t.get('data', []))}"


def _weights_cell(name: str, policy: str) -> str:
    if policy != "shipped":
        return "none shipped: a network is fitted to each input when it is encoded and travels in the file"
    side = _sidecar(name)
    if side is None:
        return "weights file without a sidecar: training not recorded"
    text = _training_summary(side)
    image_codec = side.get("image_codec")
    if image_codec:
        text = f"entropy model only, on {image_codec['name']}'s frozen transforms; " + text
    return text


def codec_table(page: Path) -> str:
    """Every codec of the registry: kind, paper, shipped weights, measured headline, speed."""
    from neuralcodecs import registry

    notes: list[str] = []
    rows = ["| codec | kind | paper | shipped weights | headline result (measured) | encode / decode on this CPU |",
            "|---|---|---|---|---|---|"]
    order = [entry.name for entry in registry.CODECS]
    for name in sorted(registry.names(), key=lambda n: order.index(n) if n in order else len(order)):
        spec = registry.spec(name)
        doc = PAGES.get(name)
        link = f"[`{name}`]({Path(os.path.relpath(DOCS / doc, page.parent)).as_posix()})" if doc else f"`{name}`"
        citation, ids = PAPERS.get(name, ("not recorded", ()))
        paper = citation + (f" ({_arxiv(ids)})" if ids else "")
        speed, note = _speed_cell(name)
        if note:
            if note not in notes:
                notes.append(note)
            speed += _SUPERSCRIPTS[notes.index(note)]
        rows.append(f"| {link} | {spec.kind} | {paper} | {_weights_cell(name, spec.weights_policy)} | "
                    f"{_headline(name)} | {speed} |")
    rows.append("")
    rows += [f"{_SUPERSCRIPTS[i]} {SPEED_NOTES[n]}  " for i, n in enumerate(notes)]
    rows[-1] = rows[-1].rstrip()
    return "\n".join(rows)


def weights_block(name: str) -> str | None:
    """A shipped weights file: what it is, how it was trained (its sidecar JSON)."""
    from neuralcodecs import registry

    side = _sidecar(name)
    if side is None:
        return None
    t = side.get("training", {})
    log = t.get("final_log") or {}
    arch = ", ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in side.get("architecture", {}).items())
    lines = [
        f"- file: `neuralcodecs/weights/{side['weights_file']}`, fingerprint `{side['fingerprint']}`",
        f"- architecture: {arch}",
        f"- {_training_summary(side)}",
    ]
    if side.get("image_codec"):
        lines.append(f"- transforms: the frozen `{side['image_codec']['name']}` weights with fingerprint "
                     f"`{side['image_codec']['fingerprint']}`")
    if log:
        bpp = f", bpp {log['bpp']:.4f}" if log.get("bpp") else ""
        # a features codec's log has a feature error, not a picture's: no PSNR
        pixels = registry.spec(name).kind != "features"
        psnr = f", PSNR {log['psnr']:.2f} dB" if pixels and log.get("psnr") and log["psnr"] < 100 else ""
        which = "last stage's" if side.get("stages") else "last"
        lines.append(f"- {which} training log (step {log['step']:,}): loss {log['loss']:.4g}{bpp}{psnr}, "
                     f"{log.get('precision', '?')} on {log.get('device', '?')}")
    if "weight_average" in t:
        lines.append(f"- exported weights: {'the moving average of the weights' if t['weight_average'] else 'the last weights'}")
    export = side.get("export", {})
    if export:
        costs = []
        if "fp16_psnr_cost_db" in export:
            costs.append(f"fp16 storage costs {export['fp16_psnr_cost_db']:.4f} dB")
        if "fp16_rate_cost_percent" in export:
            costs.append(f"{export['fp16_rate_cost_percent']:.3f}% rate")
        if "coded_vs_float_estimate_percent" in export:
            costs.append(f"coded size {export['coded_vs_float_estimate_percent']:+.2f}% against the float estimate")
        folders = ", ".join(Path(f).name for f in export.get("calibration_data", []))
        samples = export.get("calibration_crops", export.get("calibration_pairs", "?"))
        if samples == 0 and not costs:
            lines.append("- export: nothing calibrated (no integer network: the entropy parameters are the priors' CDF tables)")
        else:
            lines.append(f"- export: calibrated on {samples} samples of {folders}" + (f"; {', '.join(costs)}" if costs else ""))
    if side.get("stages"):
        commands = [line for stage in side["stages"] for line in (f"# stage: {stage['stage']}", *stage.get("commands", []))]
    else:
        commands = list(t.get("commands", []))
    if commands:
        lines += ["", "Training commands, as recorded:", "", "```bash", *commands, "```"]
    return "\n".join(lines)


PARAMETRIC = {"weights": weights_block, "kodak_points": kodak_rd_points,
              "encoder_effort": lambda codec: _markdown(f"encoder_effort_{codec}.md")}
REQUIRED_IN_README = ("codecs",)


def _tidy(body: str) -> str:
    """A blank line between a table and any text next to it (Python-Markdown needs it)."""
    out: list[str] = []
    for line in body.strip("\n").split("\n"):
        if out and out[-1].strip() and (line.startswith("|") != out[-1].startswith("|")):
            out.append("")
        out.append(line)
    return "\n".join(out)


def render(key: str, page: Path) -> str | None:
    """The body of block ``key`` (``name`` or ``name:argument``) as written into ``page``."""
    name, _, arg = key.partition(":")
    if name == "codecs":
        return codec_table(page)
    if arg:
        return PARAMETRIC[name](arg)
    return TABLES[name]()


def known(key: str) -> bool:
    """Whether a renderer exists for block ``key``."""
    name, _, arg = key.partition(":")
    if name == "codecs":
        return not arg
    return name in PARAMETRIC if arg else name in TABLES


MARKER = re.compile(r"<!-- (BEGIN|END) ([\w.:-]+) -->")


def targets() -> list[Path]:
    """The README and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def blocks(text: str) -> tuple[list[str], list[str]]:
    """The block keys of a page, in order, and the problems of its markers."""
    keys, problems, open_key = [], [], None
    for kind, key in MARKER.findall(text):
        if kind == "BEGIN":
            if open_key:
                problems.append(f"BEGIN {key} inside {open_key}")
            open_key = key
            keys.append(key)
        elif key != open_key:
            problems.append(f"END {key} without its BEGIN")
        else:
            open_key = None
    if open_key:
        problems.append(f"BEGIN {open_key} without its END")
    return keys, problems


def fill(text: str, page: Path, log) -> str:
    """``text`` with each of its blocks rewritten."""
    for key in dict.fromkeys(blocks(text)[0]):
        if not known(key):
            continue
        body = render(key, page)
        if body is None:
            log(f"{page.relative_to(ROOT)}: {key}: no results yet, left as is")
            continue
        pattern = re.compile(rf"(<!-- BEGIN {re.escape(key)} -->\n).*?(<!-- END {re.escape(key)} -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + "\n" + _tidy(body) + "\n\n" + m.group(2), text)
    return text


def problems() -> list[str]:
    """Markers that are unknown, unbalanced or missing (every table needs a place)."""
    found: dict[str, list[Path]] = {}
    out = []
    for page in targets():
        keys, issues = blocks(page.read_text())
        out += [f"{page.relative_to(ROOT)}: {issue}" for issue in issues]
        for key in keys:
            found.setdefault(key, []).append(page)
            if not known(key):
                out.append(f"{page.relative_to(ROOT)}: no renderer for block {key!r}")
    for name in TABLES:
        if name not in found:
            out.append(f"table {name!r} has no <!-- BEGIN {name} --> block in README.md or docs/")
    for path in sorted(WEIGHTS.glob("*.json")):
        if f"weights:{path.stem}" not in found:
            out.append(f"shipped weights {path.stem!r} have no <!-- BEGIN weights:{path.stem} --> block in docs/")
    readme = ROOT / "README.md"
    for name in REQUIRED_IN_README:
        if readme not in found.get(name, []):
            out.append(f"README.md has no <!-- BEGIN {name} --> block")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if a block would change or a marker is unknown or missing")
    args = ap.parse_args(argv)
    issues = problems()
    stale = []
    for page in targets():
        text = page.read_text()
        new = fill(text, page, log=lambda m: print(m, file=sys.stderr))
        if new != text:
            stale.append(str(page.relative_to(ROOT)))
            if not args.check:
                page.write_text(new)
    for issue in issues:
        print(f"error: {issue}", file=sys.stderr)
    if args.check and stale:
        print("error: out of date (run python benchmarks/update_docs.py): " + ", ".join(stale), file=sys.stderr)
    elif stale:
        print("updated: " + ", ".join(stale))
    return 1 if issues or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
