"""Write the README's result tables from the JSON files in benchmarks/results.

Each table sits between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` markers; this script
replaces what is between them and changes nothing else.  Run the benchmark scripts first.

Usage: python benchmarks/update_readme.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _load(name: str):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def kodak_bd() -> str | None:
    path = RESULTS / "kodak_bd.md"
    return path.read_text().strip() if path.exists() else None


def kodak_rd_points() -> str | None:
    data = _load("kodak_eval.json")
    if not data:
        return None
    lines = ["| codec | quality | bpp | PSNR-RGB | MS-SSIM |", "|---|---:|---:|---:|---:|"]
    from neuralcodecs import registry

    learned = set(registry.names())
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
    "walloc_prediction": lambda: _markdown("walloc_prediction.md"),
    "token_budget": lambda: _markdown("token_budget.md"),
    "stem_video": lambda: _markdown("stem_video.md"),
    "inr_video": lambda: _markdown("inr_video.md"),
    "inr_paper_scale": inr_paper_scale,
    "overfit_kodak": lambda: _markdown("overfit_kodak.md"),
    "overfit_effort": lambda: _markdown("overfit_effort.md"),
    "overfit_fit_ablation": lambda: _markdown("overfit_fit_ablation.md"),
    "exactness": exactness,
    "decoder_budget": decoder_budget,
    "decode_compute": lambda: _markdown("decode_compute.md"),
    "hostile_cases": lambda: hostile_cases(),
    "startup": lambda: _markdown("startup.md"),
    "overfit_small": lambda: _markdown("overfit_small.md"),
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


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, make in TABLES.items():
        body = make()
        if body is None:
            print(f"{name}: no results yet, left as is", file=sys.stderr)
            continue
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(text):
            print(f"{name}: no markers in README", file=sys.stderr)
            continue
        text = pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
