"""Time-to-quality: validation rate-distortion loss of a training run against CPU time.

Trains a codec through the shared loop (``neuralcodecs.train``) in chunks of
``--eval-every`` minutes; after each chunk the checkpoint (its weight average when the
recipe keeps one) is validated with real rounding on a fixed held-out set that is neither
Kodak nor training data: 24 evenly spaced photos of the 80 Sun-Hays ones, downscaled by 2
and centre-cropped to 256x256 (``validation_crops``).  Training uses BSDS500 only.  Each
validation appends a line to ``OUT/curve.jsonl``; the run resumes where it stopped.

    python benchmarks/training_curve.py --codec hyperprior --recipe baseline --minutes 15 --out runs/curve-base
    python benchmarks/training_curve.py --codec hyperprior --recipe fast --minutes 5 --steps 1900 --out runs/curve-fast

Recipes (``RECIPES``) are named sets of training settings; ``--set KEY=VALUE`` overrides one.
``--summary A B ... --name NAME`` prints the table of several finished runs (BD-rate on the
validation set against the first) and writes ``benchmarks/results/NAME.{json,md}`` and ``docs/NAME.png``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from common import RESULTS, SHARED_DATA

import torch
from PIL import Image

TRAIN_DATA = [str(SHARED_DATA / "images" / "bsds500")]
VALIDATION_FOLDER = SHARED_DATA / "images" / "sun_hays80"

RECIPES = {
    # the recipe of the shipped hyperprior weights (neuralcodecs/weights/hyperprior.json)
    "baseline": dict(precision="bf16", crop=192, batch_size=8, lr=2e-4, clip_grad=1.0),
    # the same with fp32 arithmetic (what bf16 buys)
    "fp32": dict(precision="fp32", crop=192, batch_size=8, lr=2e-4, clip_grad=1.0),
    # smaller crops, warm-up, cosine decay over the budget, weight averaging
    "fast": dict(precision="bf16", crop=128, batch_size=8, lr=2e-4, clip_grad=1.0, warmup_steps=200,
                 lr_schedule="cosine", lr_final_factor=0.05, ema_decay=0.995),
}


def validation_crops(count: int = 24, side: int = 256) -> torch.Tensor:
    """``(count, 3, side, side)`` float crops in [0, 1]: evenly spaced Sun-Hays photos, halved, centred."""
    files = sorted(p for p in VALIDATION_FOLDER.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    picks = [files[round(i * (len(files) - 1) / (count - 1))] for i in range(count)]
    crops = []
    for path in picks:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
        rgb = rgb.resize((rgb.width // 2, rgb.height // 2), Image.BICUBIC, reducing_gap=2.0)
        left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
        arr = torch.frombuffer(bytearray(rgb.crop((left, top, left + side, top + side)).tobytes()), dtype=torch.uint8)
        crops.append(arr.reshape(side, side, 3).permute(2, 0, 1).float() / 255)
    return torch.stack(crops)


def validate(objective, cfg, checkpoint: Path, crops: torch.Tensor) -> dict:
    from neuralcodecs.train import load_checkpoint, model_state

    ckpt = load_checkpoint(checkpoint)
    model = objective.build(**cfg.model_args)
    model.load_state_dict(model_state(ckpt))
    results = [objective.validate(model, crops[i : i + 8]) for i in range(0, len(crops), 8)]
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return {
        "step": int(ckpt["step"]),
        "train_seconds": round(float(ckpt.get("train_seconds", 0.0)), 1),
        "loss": mean([r["loss"] for r in results]),
        "bpp": [mean(v) for v in zip(*(r["bpp"] for r in results))],
        "psnr": [mean(v) for v in zip(*(r["psnr"] for r in results))],
    }


def run(args) -> None:
    from neuralcodecs import registry
    from neuralcodecs.train import CHECKPOINT_NAME, TrainConfig, train

    settings = dict(RECIPES[args.recipe])
    for item in args.set:
        key, value = item.split("=", 1)
        settings[key] = json.loads(value)
    if settings.get("lr_schedule") == "cosine" and args.steps >= 10**7:
        settings.setdefault("budget_minutes", args.minutes)  # decay over the time budget
    objective = registry.objective(args.codec)
    out = Path(args.out)
    cfg = TrainConfig(codec=args.codec, data=TRAIN_DATA, out=str(out), steps=args.steps, save_every=10**9,
                      log_every=50, max_minutes=args.eval_every, model_args=json.loads(args.model_args), **settings)
    crops = validation_crops()
    curve = out / "curve.jsonl"
    while True:
        cfg.resume = (out / CHECKPOINT_NAME).exists()
        train(cfg, objective)
        point = validate(objective, cfg, out / CHECKPOINT_NAME, crops)
        point.update(recipe=args.recipe, codec=args.codec, settings=settings, model_args=cfg.model_args)
        if args.seconds_per_step:  # CPU time at the quiet machine's speed (benchmarks/training_throughput.py)
            point["cpu_minutes"] = round(point["step"] * args.seconds_per_step / 60, 2)
        with open(curve, "a") as f:
            f.write(json.dumps(point) + "\n")
        print(json.dumps({k: point[k] for k in ("step", "train_seconds", "loss")}), flush=True)
        if point["train_seconds"] >= 60 * args.minutes or point["step"] >= args.steps:
            break


def summary(runs: list[str], name: str) -> str:
    """A markdown table of finished runs (BD-rate on the validation set against the first run),
    ``benchmarks/results/NAME.json`` / ``.md`` and the plot ``docs/NAME.png`` (loss against CPU minutes)."""
    from neuralcodecs.metrics import bd_rate

    table = {Path(folder).name: [json.loads(line) for line in open(Path(folder) / "curve.jsonl")] for folder in runs}
    first_run = next(iter(table.values()))
    first = first_run[-1]
    minutes = lambda p: p.get("cpu_minutes", p["train_seconds"] / 60)  # noqa: E731

    def loss_at(points: list[dict], x: float, axis) -> str:
        """A run's validation loss at ``axis(point) == x`` (log-linear between its points)."""
        pts = [(axis(p), p["loss"]) for p in points]
        for (m0, l0), (m1, l1) in zip(pts, pts[1:]):
            if m0 <= x <= m1:
                t = (x - m0) / (m1 - m0) if m1 > m0 else 0.0
                return f"{math.exp(math.log(l0) * (1 - t) + math.log(l1) * t):.3f}"
        return f"{pts[-1][1]:.3f}" if pts and abs(pts[-1][0] - x) < 1e-9 else "n/a"

    fewest = min(points[-1]["step"] for points in table.values())
    lines = [f"| run | recipe / configuration | steps | CPU minutes | validation loss | first row's loss at these CPU minutes | loss at step {fewest} | mean bpp (estimate) | mean PSNR (dB) | BD-rate vs first row's end |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for run_name, points in table.items():
        last = points[-1]
        config = last["model_args"].get("config", last["codec"])
        try:
            bd = f"{bd_rate(first['bpp'], first['psnr'], last['bpp'], last['psnr']):+.1f}%"
        except ValueError:
            bd = "n/a"
        lines.append(f"| {run_name} | {last['recipe']} / {config} | {last['step']} | {minutes(last):.1f} | "
                     f"{last['loss']:.3f} | {loss_at(first_run, minutes(last), minutes)} | {loss_at(points, fewest, lambda p: p['step'])} | "
                     f"{sum(last['bpp']) / len(last['bpp']):.4f} | {sum(last['psnr']) / len(last['psnr']):.2f} | {bd} |")
    text = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(table, indent=1))
    (RESULTS / f"{name}.md").write_text(text + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for run_name, points in table.items():
        xs = [p.get("cpu_minutes", p["train_seconds"] / 60) for p in points]
        ax.plot(xs, [p["loss"] for p in points], marker="o", label=run_name)
    ax.set_xlabel("CPU minutes (2 cores, at the quiet machine's speed)")
    ax.set_ylabel("validation RD loss (mean over rate points)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    docs = RESULTS.parents[1] / "docs"
    docs.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(docs / f"{name}.png", dpi=110)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--codec", default="hyperprior")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="baseline")
    parser.add_argument("--set", action="append", default=[], help="override a recipe setting: KEY=JSON")
    parser.add_argument("--model-args", default="{}")
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall-clock budget")
    parser.add_argument("--steps", type=int, default=10**7, help="step budget (the cosine schedule ends here)")
    parser.add_argument("--seconds-per-step", type=float, default=0.0,
                        help="this configuration's training speed on a quiet machine; the curve's x axis is steps times it")
    parser.add_argument("--eval-every", type=float, default=2.5, help="minutes between validations")
    parser.add_argument("--out", help="run folder")
    parser.add_argument("--summary", nargs="+", help="print and save the table of these run folders")
    parser.add_argument("--name", default="training_curve", help="name of the summary's table and plot")
    args = parser.parse_args()
    if args.summary:
        print(summary(args.summary, args.name))
    else:
        run(args)


if __name__ == "__main__":
    main()
