"""Kodak rate-distortion: every shipped codec and every anchor, plot and BD-rate tables.

Runs ``ncodec eval`` on the 24 Kodak images (all learned codecs with shipped weights at
their trained rate points; JPEG, WebP, AVIF, JPEG 2000 over their sweeps), then
``ncodec plot`` with CompressAI's published curves overlaid, and writes the BD-rate tables
(PSNR-RGB and MS-SSIM, against WebP) shown in docs/evaluation.md.

Usage: python benchmarks/kodak_rd.py [--kodak DIR] [--jobs 2] [--device cpu]
Outputs: benchmarks/results/kodak_eval.json, docs/kodak_rd.png, docs/kodak_rd_msssim.png,
benchmarks/results/kodak_bd.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import DEFAULT_KODAK, RESULTS, ROOT  # noqa: E402  (also puts the repository on sys.path)

from neuralcodecs.evaluation.common import parse_codec_arg  # noqa: E402
from neuralcodecs.evaluation.image import default_codec_args, run_evaluation  # noqa: E402
from neuralcodecs.metrics import bd_rate  # noqa: E402
from neuralcodecs.plot import bd_table, load_curves, plot_curves  # noqa: E402
from neuralcodecs.atomic import atomic_write_bytes  # noqa: E402

PUBLISHED = sorted((ROOT / "benchmarks" / "published").glob("compressai-*-kodak.json"))


def record_in_sidecar(eval_json: Path, gap_to_published: float) -> None:
    """Copy hyperprior's Kodak curve into its weights sidecar when the fingerprint matches."""
    from neuralcodecs import registry
    from neuralcodecs.weightfiles import fingerprint, load_weights, update_sidecar

    data = json.loads(eval_json.read_text())
    curve = next((c for c in data["curves"] if c["name"] == "hyperprior"), None)
    path = registry.spec("hyperprior").weights_path
    if curve is None or not path.exists():
        return
    webp = next(c for c in data["curves"] if c["name"] == "webp")["results"]
    r = curve["results"]
    update_sidecar(path, {"kodak": {
        "fingerprint": fingerprint(load_weights(path)[0]).hex(),
        "measured": data["meta"]["date"],
        "command": "python benchmarks/kodak_rd.py",
        "quality": r["quality"], "bpp": r["bpp"], "psnr-rgb": r["psnr-rgb"], "ms-ssim-rgb": r["ms-ssim-rgb"],
        "bd_rate_vs_webp_psnr_pct": bd_rate(webp["bpp"], webp["psnr-rgb"], r["bpp"], r["psnr-rgb"]),
        "bd_rate_vs_published_bmshj2018_hyperprior_pct": gap_to_published,
    }})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kodak", default=str(DEFAULT_KODAK))
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reuse", action="store_true", help="re-plot an existing kodak_eval.json")
    ap.add_argument("--update", nargs="+", metavar="CODEC",
                    help="re-measure only these curves and replace them in the existing kodak_eval.json")
    args = ap.parse_args()

    results = RESULTS
    results.mkdir(parents=True, exist_ok=True)
    eval_json = results / "kodak_eval.json"
    if args.update:
        specs = [parse_codec_arg(c) for c in default_codec_args() if parse_codec_arg(c)[0] in args.update]
        fresh = run_evaluation(args.kodak, specs, device=args.device, jobs=args.jobs)
        result = json.loads(eval_json.read_text())
        replaced = {c["name"]: c for c in fresh["curves"]}
        kept = {c["name"] for c in result["curves"]}
        result["curves"] = [replaced.get(c["name"], c) for c in result["curves"]]
        result["curves"] += [c for c in fresh["curves"] if c["name"] not in kept]  # a codec measured for the first time
        result["meta"].setdefault("updated", []).append({"curves": sorted(replaced), "date": fresh["meta"]["date"]})
        atomic_write_bytes(eval_json, json.dumps(result, indent=1).encode())
    elif not args.reuse:
        specs = [parse_codec_arg(c) for c in default_codec_args()]
        result = run_evaluation(args.kodak, specs, device=args.device, jobs=args.jobs)
        atomic_write_bytes(eval_json, json.dumps(result, indent=1).encode())

    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    lines = []
    for metric, png in (("psnr", docs / "kodak_rd.png"), ("ms-ssim", docs / "kodak_rd_msssim.png")):
        curves = load_curves([eval_json, *PUBLISHED], metric)
        title = f"Kodak (24 images), {'PSNR-RGB' if metric == 'psnr' else 'MS-SSIM'}"
        atomic_write_bytes(png, plot_curves(curves, metric, title))
        lines += [f"### {title}, BD-rate against WebP", "", bd_table(curves, "webp", metric), ""]
    curves = {c["name"]: c for c in load_curves([eval_json, *PUBLISHED], "psnr")}
    ours, pub = curves["hyperprior"], curves["bmshj2018-hyperprior (published)"]
    gap = bd_rate(pub["bpp"], pub["quality"], ours["bpp"], ours["quality"])
    lines += [f"hyperprior vs CompressAI's published bmshj2018-hyperprior (PSNR-RGB): BD-rate {gap:+.2f}%", ""]
    text = "\n".join(lines)
    record_in_sidecar(eval_json, gap)
    (results / "kodak_bd.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
