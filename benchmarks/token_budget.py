"""Information kept per visual-token budget and strategy, on Imagenette: codec latents vs pixels.

For every ``--point CODEC:QUALITY`` a :class:`~neuralcodecs.adapter.projector.TokenProjector` is
distilled on Imagenette train (2500 images, each encoded at that point and read back from the
file; target: the pixel-domain MobileNetV2's stride-16 feature map, 96 channels).  Every train
and val image then becomes a 14x14 grid of tokens (224x224 pictures) with the file's bits per
token; the pixel-domain reference is the teacher's own stride-16 feature map of the original
picture (no rate map, so no ``rate`` strategy).  For each strategy and budget the kept tokens
are pooled -- their mean and their channel-wise maximum, concatenated (192 values) -- and a
linear probe (multinomial logistic regression over the 10 classes, fitted on train with the
same strategy and budget) is scored on the 1000 val images: top-1, and agreement with the
uncompressed MobileNetV2's prediction restricted to the 10 classes.  (The mean alone would make
``dct`` look lossless: the mean of a low-passed grid is its DC coefficient, the mean of all
tokens.)

Cost per val image on this CPU (one thread): latents -> tokens (entropy decoding + projector)
vs decode -> pixels -> teacher features; each strategy's selection time at budget 64.

Usage: python benchmarks/token_budget.py --point hyperprior:1 --point hyperprior:2 --point walloc:1 --point walloc:2
       [--budgets 16 64 all] [--strategies uniform dct kcenter tome rate] [--limit N] [--train-limit N]
       [--runs runs/tokens] [--reuse]
Outputs: benchmarks/results/token_budget.{json,md}; projectors and caches under --runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import IMAGENETTE, MOBILENET, RESULTS, ROOT, imagenette_files  # noqa: E402

from neuralcodecs import load_codec  # noqa: E402
from neuralcodecs.codec import FEATURES  # noqa: E402
from neuralcodecs.adapter.core import select_tokens  # noqa: E402
from neuralcodecs.adapter.projector import TOKEN_STRIDE, pool_rate, teacher_tokens  # noqa: E402
from neuralcodecs.atomic import atomic_write_bytes  # noqa: E402
from neuralcodecs.evaluation.common import parse_codec_arg  # noqa: E402
from neuralcodecs.perception import read_class_map  # noqa: E402

@torch.no_grad()
def teacher_source(files: list[Path], teacher, classes: list[int]) -> dict:
    """The pixel-domain reference: teacher feature grids of the originals and its 10-class predictions."""
    from neuralcodecs.perception import normalize_pixels
    from neuralcodecs.image.io import load_image

    grids, predictions = [], []
    for path in files:
        x = normalize_pixels(load_image(path)[0])
        grids.append(teacher_tokens(teacher, x)[0].half())
        predictions.append(int(teacher(x)[0, classes].argmax()))
    return {"grids": torch.stack(grids), "bits": None, "teacher_prediction": torch.tensor(predictions)}


@torch.no_grad()
def codec_source(codec_name: str, quality: float, files: list[Path], projector, teacher, cache: dict | None = None) -> dict:
    """Token grids ``(N, 96, 14, 14)`` and bits per token of ``files`` encoded at one point.

    With ``cache`` (the projector's training examples: latents and bits of the same files) no
    file is re-encoded; otherwise every file is encoded and the two paths are timed.
    """
    from neuralcodecs import latents as read_latents
    from neuralcodecs.perception import normalize_pixels
    from neuralcodecs.image.io import load_image

    factor = TOKEN_STRIDE // projector.stride
    if cache is not None:
        grids = torch.cat([projector(cache["latents"][i : i + 64].float()).half() for i in range(0, len(files), 64)])
        bits = torch.stack([pool_rate(b, factor) for b in cache["bits"].float()])
        return {"grids": grids, "bits": bits[..., : grids.shape[-2], : grids.shape[-1]]}
    codec = load_codec(codec_name)
    grids, bits, bpp, token_ms, pixel_ms = [], [], [], [], []
    for path in files:
        pixels, _ = load_image(path)
        data = codec.encode(pixels, quality=quality)
        bpp.append(len(data) * 8 / (pixels.shape[0] * pixels.shape[1]))
        t0 = time.perf_counter()
        lat = read_latents(data)
        grid = projector(lat.picture_tensor()[None].float())[0]
        t1 = time.perf_counter()
        t2 = float("nan")  # a features codec's files decode to class probabilities: no pixels to look at
        if codec.kind != FEATURES:
            teacher_tokens(teacher, normalize_pixels(codec.decode(data)))
            t2 = time.perf_counter()
        token_ms.append(1000 * (t1 - t0))
        pixel_ms.append(1000 * (t2 - t1))
        h, w = lat.picture_grid
        grids.append(grid.half())
        bits.append(pool_rate(lat.bits[:h, :w].float(), factor)[: grid.shape[-2], : grid.shape[-1]])
    pixel_ms = None if np.isnan(pixel_ms).any() else float(np.mean(pixel_ms))
    return {"grids": torch.stack(grids), "bits": torch.stack(bits), "bpp": float(np.mean(bpp)),
            "latents_to_tokens_ms": float(np.mean(token_ms)), "decode_to_features_ms": pixel_ms}


def pooled(source: dict, strategy: str, budget) -> tuple[torch.Tensor, float]:
    """Mean and maximum of the kept tokens per picture ``(N, 192)`` and the mean selection time (ms)."""
    vectors, seconds = [], 0.0
    for i, grid in enumerate(source["grids"]):
        rate = None if source["bits"] is None else source["bits"][i][None]
        t0 = time.perf_counter()
        tokens, _ = select_tokens(grid[None].float(), rate, strategy, budget)
        seconds += time.perf_counter() - t0
        vectors.append(torch.cat([tokens.float().mean(0), tokens.float().amax(0)]))
    return torch.stack(vectors), 1000 * seconds / len(vectors)


def linear_probe(train_x, train_y, val_x, classes: int = 10, weight_decay: float = 1e-3) -> torch.Tensor:
    """Multinomial logistic regression (full-batch L-BFGS on standardized features) -> val predictions."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    x, v = (train_x - mean) / std, (val_x - mean) / std
    torch.manual_seed(0)
    layer = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x), train_y) + weight_decay * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return layer(v).argmax(1)


def table(result: dict) -> str:
    budgets = result["budgets"]
    lines = [f"Imagenette val, {result['val_images']} images (224x224: 14x14 = 196 tokens, so any budget >= 196 keeps all); "
             f"linear probe on the mean and maximum of the kept tokens, 10 classes: top-1 / agreement with the uncompressed "
             f"MobileNetV2 (10-class argmax: {100 * result['teacher_top1']:.1f}% top-1).", "",
             "| tokens from | bpp | strategy | " + " | ".join(f"budget {b}" for b in budgets) + " | selection ms (budget 64) |",
             "|---|---:|---|" + "---:|" * len(budgets) + "---:|"]
    for source in result["sources"]:
        bpp = "--" if source.get("bpp") is None else f"{source['bpp']:.3f}"
        for strategy, row in source["strategies"].items():
            cells = [f"{100 * row[str(b)]['top1']:.1f}% / {100 * row[str(b)]['agreement']:.1f}%" for b in budgets]
            lines.append(f"| {source['name']} | {bpp} | {strategy} | " + " | ".join(cells) + f" | {row.get('ms', 0):.2f} |")
    lines += ["", "| tokens from | latents -> tokens, ms per image | decode -> pixels -> teacher features, ms per image |", "|---|---:|---:|"]
    for source in result["sources"]:
        if "latents_to_tokens_ms" in source:
            pixels = source["decode_to_features_ms"]
            lines.append(f"| {source['name']} | {source['latents_to_tokens_ms']:.1f} | "
                         f"{'no pixels (features codec)' if pixels is None else f'{pixels:.1f}'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--point", action="append", default=[], metavar="CODEC:QUALITY")
    ap.add_argument("--budgets", nargs="+", default=["16", "64", "all"])
    ap.add_argument("--strategies", nargs="+", default=["uniform", "dct", "kcenter", "tome", "rate", "rate_nms"])
    ap.add_argument("--epochs", type=int, default=20, help="projector distillation epochs")
    ap.add_argument("--limit", type=int, help="evenly spaced val subset")
    ap.add_argument("--train-limit", type=int, help="evenly spaced train subset (smoke tests)")
    ap.add_argument("--runs", default=str(ROOT / "runs" / "tokens"))
    ap.add_argument("--reuse", action="store_true", help="reprint the table of an existing result")
    ap.add_argument("--add", action="store_true",
                    help="measure only the --point sources and add them to the existing result (same images and probe)")
    args = ap.parse_args()
    out = RESULTS / "token_budget.json"
    if not args.reuse:
        from neuralcodecs.adapter.train_projector import load_projector, train_projector
        from neuralcodecs.downstream.latent_mobilenet import mobilenet_v2

        torch.set_num_threads(1)
        runs = Path(args.runs)
        runs.mkdir(parents=True, exist_ok=True)
        class_map = read_class_map(IMAGENETTE / "SOURCE.txt")
        classes = sorted(set(class_map.values()))
        train_files, val_files = imagenette_files("train", args.train_limit), imagenette_files("val", args.limit)
        label = {c: i for i, c in enumerate(classes)}
        train_y = torch.tensor([label[class_map[p.parent.name]] for p in train_files])
        val_y = torch.tensor([label[class_map[p.parent.name]] for p in val_files])
        teacher = mobilenet_v2(MOBILENET)
        budgets = [b if b == "all" else int(b) for b in args.budgets]
        print("teacher features", flush=True)
        reference = teacher_source(val_files, teacher, classes)
        sources = [] if args.add else [("pixels (MobileNetV2 features)", teacher_source(train_files, teacher, classes), reference, {})]
        for point in args.point:
            codec, qualities = parse_codec_arg(point)
            quality = qualities[0]
            data_key = f"{codec}-q{quality:g}-{load_codec(codec).fingerprint.hex()[:12]}-n{len(train_files)}"
            key = f"{data_key}-e{args.epochs}"
            path, cache_path = runs / f"{key}.safetensors", runs / f"{data_key}.examples.pt"
            if not path.exists():
                print(f"projector {key}", flush=True)
                train_projector(codec, quality, train_files, MOBILENET, path, epochs=args.epochs, cache=cache_path)
            projector, _ = load_projector(path)
            train = codec_source(codec, quality, train_files, projector, teacher, torch.load(cache_path, weights_only=True))
            val_path = runs / f"{key}-val{len(val_files)}.pt"  # the val tokens and their timings, once per projector
            if val_path.exists():
                val = torch.load(val_path, weights_only=True)
            else:
                print(f"val {key}", flush=True)
                val = codec_source(codec, quality, val_files, projector, teacher)
                torch.save(val, val_path)
            info = {k: val[k] for k in ("bpp", "latents_to_tokens_ms", "decode_to_features_ms")}
            sources.append((f"{codec} q{quality:g}", train, val, info))
        def score(train, val, strategy, budget):
            train_x, _ = pooled(train, strategy, budget)
            val_x, ms = pooled(val, strategy, budget)
            predicted = linear_probe(train_x, train_y, val_x)
            return {"top1": float((predicted == val_y).float().mean()),
                    "agreement": float((predicted == reference["teacher_prediction"]).float().mean())}, ms

        rows = []
        for name, train, val, info in sources:
            strategies = {}
            everything = score(train, val, "all", None)[0] if "all" in budgets else None
            for strategy in args.strategies:
                if strategy.startswith("rate") and val["bits"] is None:
                    continue
                row = {}
                for budget in budgets:
                    row[str(budget)], ms = (everything, 0.0) if budget == "all" else score(train, val, strategy, budget)
                    if budget == 64:
                        row["ms"] = ms
                strategies[strategy] = row
                print(name, strategy, {b: round(row[str(b)]["top1"], 3) for b in budgets}, flush=True)
            rows.append({"name": name, **info, "strategies": strategies})
        result = {"budgets": [str(b) for b in budgets], "val_images": len(val_files), "train_images": len(train_files),
                  "teacher_top1": float((reference["teacher_prediction"] == val_y).float().mean()), "sources": rows,
                  "command": " ".join(sys.argv)}
        if args.add:  # the earlier sources stay as they were measured; the new ones replace any of the same name
            earlier = json.loads(out.read_text())
            if (earlier["budgets"], earlier["val_images"], earlier["train_images"]) != (result["budgets"], len(val_files), len(train_files)):
                raise SystemExit("--add needs the budgets, val and train images of the existing result")
            names = {row["name"] for row in rows}
            result["sources"] = [row for row in earlier["sources"] if row["name"] not in names] + rows
            result["command"] = earlier["command"] + " ; " + result["command"]
        atomic_write_bytes(out, json.dumps(result, indent=1).encode(), overwrite=True)
    result = json.loads(out.read_text())
    text = table(result)
    (RESULTS / "token_budget.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
