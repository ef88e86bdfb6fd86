"""Datasets of shards on Imagenette (issue 32): encoding at scale, resuming, reading, training.

For every ``--codec`` (default walloc and hyperprior) at ``--quality`` (default 2, the points of
``latent_imagenette.py``):

1. **encode**: Imagenette train + val (3500 JPEGs, 224x224) with ``ncodec encode-dataset`` as a
   user runs it (a fresh process each: import, codec load and, for Ray, starting a local Ray
   instance with 2 CPUs -- or joining ``RAY_ADDRESS`` -- are in the wall time): ``--jobs 1``,
   ``--jobs 2`` and ``--engine ray``.  Images per second, shard bytes against the source JPEGs,
   and whether every sample's SHA-256 (and every shard's, and the manifest) is the same in the
   three runs.
2. **resume** (first codec): the ``--jobs 2`` run killed (SIGKILL, its whole process group) once
   half of its shards are listed, then rerun; the shards must equal the uninterrupted run's.
3. **read**: samples per second through a ``DataLoader`` (batch 32) with 0, 1 and 2 workers, as
   ``latents`` (entropy decoding only) and as ``pixels`` (entropy decoding and synthesis).
4. **classifier** (``--classifier-point``, default walloc:2): the latent classifier of
   ``latent_imagenette.py`` (3 distillation + 3 fine-tuning epochs) trained from shards of
   Imagenette train (``--mirror``: the same 5000 files as the in-process path) and, as the
   baseline, with in-process encoding (``--skip-baseline``: not retrained; the recorded run of
   ``runs/latent`` is quoted instead); top-1 of both on the latents of the val shards.  The
   first run from shards pays the encode (timed); a second run reads the shards only.

``--limit N``: N evenly spaced images of each split, through a file list (smoke runs).

    python benchmarks/dataset_shards.py                  # the full measurement (tens of minutes on 2 cores)
    python benchmarks/dataset_shards.py --limit 10       # a smoke run: 20 images
    -> benchmarks/results/dataset_shards.{json,md}; shards and classifiers under --work
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from common import IMAGENETTE, MOBILENET, RESULTS, ROOT, imagenette_files, write_result

RUNS = (("jobs 1", ["--jobs", "1"]), ("jobs 2", ["--jobs", "2"]), ("ray", ["--engine", "ray", "--jobs", "2"]))
READ_WORKERS = (0, 1, 2)


# --------------------------------------------------------------------------- sources and runs


def source_of(split: str | None, limit: int | None, work: Path) -> Path:
    """The folder (``split`` None: train and val) or, with ``limit``, a file list of evenly spaced images."""
    if not limit:
        return IMAGENETTE / split if split else IMAGENETTE
    files = [p for s in ((split,) if split else ("train", "val")) for p in imagenette_files(s, limit)]
    listing = work / f"list-{split or 'all'}-{limit}.txt"
    listing.write_text("".join(f"{p}\n" for p in files))
    return listing


def encode_command(source: Path, out: Path, codec: str, quality: float, shard_size: int, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "neuralcodecs.cli", "encode-dataset", str(source), "-o", str(out), "--codec", codec,
            "--quality", f"{quality:g}", "--shard-size", str(shard_size), *extra]


def run_encode(command: list[str]) -> dict:
    """Run ``ncodec encode-dataset``; its wall time and the summary line it prints."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return {"wall_seconds": round(wall, 2), **json.loads(done.stdout.strip().splitlines()[-1])}


def sample_digests(folder: Path) -> dict[str, str]:
    """``{sample key: SHA-256 of its .ncb member}`` of every shard of a dataset."""
    from neuralcodecs.shards import read_manifest

    digests = {}
    for record in read_manifest(folder).shards:
        with tarfile.open(folder / record.name) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".ncb"):
                    digests[member.name] = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
    return digests


def dataset_facts(folder: Path, source_bytes: int) -> dict:
    from neuralcodecs.shards import read_manifest

    manifest = read_manifest(folder)
    shard_bytes = sum(r.bytes for r in manifest.shards)
    payload = 0
    for record in manifest.shards:
        with tarfile.open(folder / record.name) as tar:
            payload += sum(m.size for m in tar.getmembers() if m.name.endswith(".ncb"))
    return {"samples": manifest.samples, "shards": len(manifest.shards), "shard_bytes": shard_bytes, "ncb_bytes": payload,
            "source_bytes": source_bytes, "shard_to_source": round(shard_bytes / source_bytes, 4),
            "tar_overhead": round(shard_bytes / payload - 1, 4),
            "shard_sha256": {r.name: r.sha256 for r in manifest.shards}}


def source_bytes_of(source: Path) -> int:
    from neuralcodecs.shards import list_sources

    return sum(Path(s.path).stat().st_size for s in list_sources(source).samples)


# --------------------------------------------------------------------------- measurements


def measure_encoding(codec: str, quality: float, source: Path, work: Path, shard_size: int) -> dict:
    runs, digests = {}, {}
    size = source_bytes_of(source)
    for name, extra in RUNS:
        out = work / f"{codec}-q{quality:g}-{name.replace(' ', '')}"
        runs[name] = run_encode(encode_command(source, out, codec, quality, shard_size, [*extra, "--force"]))
        runs[name]["images_per_second"] = round(runs[name]["samples"] / runs[name]["wall_seconds"], 2)
        digests[name] = sample_digests(out)
        runs[name]["manifest_sha256"] = hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
        print(f"{codec} {name}: {runs[name]['wall_seconds']} s", flush=True)
    reference = work / f"{codec}-q{quality:g}-jobs1"
    first = next(iter(digests.values()))
    return {"runs": runs, "dataset": {k: v for k, v in dataset_facts(reference, size).items() if k != "shard_sha256"},
            "same_samples": all(d == first for d in digests.values()),
            "same_manifest": len({r["manifest_sha256"] for r in runs.values()}) == 1,
            "samples_compared": len(first), "reference": str(reference)}


def measure_resume(codec: str, quality: float, source: Path, work: Path, shard_size: int) -> dict:
    """Kill a ``--jobs 2`` run once half of its shards are listed; rerun; compare with the uninterrupted run."""
    from neuralcodecs.shards import read_manifest

    out = work / f"{codec}-q{quality:g}-resumed"
    command = encode_command(source, out, codec, quality, shard_size, ["--jobs", "2"])
    if out.exists():  # start from an empty folder
        for path in out.iterdir():
            path.unlink()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    listed, total = 0, None
    while process.poll() is None:
        try:
            manifest = read_manifest(out)
            listed, total = len(manifest.shards), manifest.shard_count
        except Exception:  # not written yet, or being replaced
            pass
        if total and listed >= max(1, total // 2):
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    first_part = time.perf_counter() - started
    interrupted = listed < (total or 0)
    second = run_encode(command)
    reference = work / f"{codec}-q{quality:g}-jobs1"
    same = all((out / p.name).read_bytes() == p.read_bytes() for p in reference.iterdir() if p.is_file())
    return {"interrupted": interrupted, "shards_listed_when_killed": listed, "shards": total,
            "killed_after_seconds": round(first_part, 2), "resume_wall_seconds": second["wall_seconds"],
            "same_as_uninterrupted": same and sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())}


def measure_reading(folder: Path, batch: int = 32) -> dict:
    import torch

    from neuralcodecs.shards import CompressedShards

    out = {}
    for output in ("latents", "pixels"):
        for workers in READ_WORKERS:
            dataset = CompressedShards(folder, output)
            loader = torch.utils.data.DataLoader(dataset, batch_size=batch, num_workers=workers)
            started = time.perf_counter()
            count = sum(len(b["label"]) for b in loader)
            seconds = time.perf_counter() - started
            out[f"{output}, {workers} workers"] = {"samples": count, "seconds": round(seconds, 2),
                                                   "samples_per_second": round(count / seconds, 1)}
            print(f"read {folder.name} {output} {workers} workers: {count / seconds:.1f}/s", flush=True)
    return out


def top1_on_shards(weights: Path, folder: Path, class_map: dict[str, int]) -> float:
    import torch

    from neuralcodecs.downstream.train_latent import load_classifier
    from neuralcodecs.shards import CompressedShards

    model, _ = load_classifier(weights)
    right = total = 0
    with torch.no_grad():
        for batch in torch.utils.data.DataLoader(CompressedShards(folder, "latents"), batch_size=64, num_workers=2):
            predicted = model(batch["latents"]).argmax(1)
            right += int((predicted == torch.tensor([class_map[c] for c in batch["class"]])).sum())
            total += len(predicted)
    return right / total


def measure_classifier(point: str, limit: int | None, work: Path, shard_size: int, skip_baseline: bool) -> dict:
    from neuralcodecs import load_codec
    from neuralcodecs.downstream.train_latent import train_point_classifier
    from neuralcodecs.perception import read_class_map

    codec, quality = point.split(":")
    quality = float(quality)
    class_map = read_class_map(IMAGENETTE / "SOURCE.txt")
    train_dir, val_dir = work / f"clf-{codec}-q{quality:g}-train", work / f"clf-{codec}-q{quality:g}-val"
    encode = {
        "train (with mirror images)": run_encode(encode_command(source_of("train", limit, work), train_dir, codec, quality,
                                                                shard_size, ["--jobs", "2", "--mirror", "--force"])),
        "val": run_encode(encode_command(source_of("val", limit, work), val_dir, codec, quality, shard_size,
                                         ["--jobs", "2", "--force"])),
    }
    fingerprint = load_codec(codec).fingerprint.hex()[:12]
    result = {"point": point, "encode": encode}
    path = work / f"clf-{codec}-q{quality:g}-{fingerprint}-shards.safetensors"
    started = time.perf_counter()
    record = train_point_classifier(codec, quality, None, None, MOBILENET, path, "latent", 3, 3, shards=train_dir,
                                    class_map=class_map, workers=2)
    result["from_shards"] = {"wall_seconds": round(time.perf_counter() - started, 1), "prepare_seconds": record["prepare_seconds"],
                             "train_seconds": record["train_seconds"], "examples": record["examples"],
                             "top1_val": round(top1_on_shards(path, val_dir, class_map), 4)}
    print(f"from shards: {result['from_shards']}", flush=True)
    if skip_baseline:  # the classifier latent_imagenette.py trained in-process, where it is kept
        key = f"{codec}-q{quality:g}-{fingerprint}-n2500"
        for weights in (ROOT / "runs" / "latent" / f"{key}.safetensors", ROOT / "runs" / "student_eval" / f"{key}-latent.safetensors"):
            if weights.exists():
                sidecar = json.loads(weights.with_suffix(".json").read_text())
                result["in_process_recorded"] = {"weights": str(weights), "top1_val": round(top1_on_shards(weights, val_dir, class_map), 4),
                                                 **{k: sidecar.get(k) for k in ("prepare_seconds", "train_seconds", "examples")}}
                break
        return result
    train_files = imagenette_files("train", limit)
    baseline = work / f"clf-{codec}-q{quality:g}-{fingerprint}-inprocess.safetensors"
    started = time.perf_counter()
    record = train_point_classifier(codec, quality, train_files, [class_map[p.parent.name] for p in train_files], MOBILENET,
                                    baseline, "latent", 3, 3)
    result["in_process"] = {"wall_seconds": round(time.perf_counter() - started, 1), "prepare_seconds": record["prepare_seconds"],
                            "train_seconds": record["train_seconds"], "examples": record["examples"],
                            "top1_val": round(top1_on_shards(baseline, val_dir, class_map), 4)}
    print(f"in process: {result['in_process']}", flush=True)
    return result


# --------------------------------------------------------------------------- report


def markdown(result: dict) -> str:
    lines = [f"Imagenette, {result['meta']['images']} images ({result['meta']['source']}), shards of "
             f"{result['meta']['shard_size']} samples; {result['meta']['cpu']}, {result['meta']['cpus']} CPUs.", "",
             "| codec | run | wall s | images/s | shard MB | source JPEG MB | shards / JPEGs | tar overhead | "
             "same samples in all runs |", "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for codec, enc in result["encode"].items():
        d = enc["dataset"]
        for name, run in enc["runs"].items():
            lines.append(f"| {codec} | {name} | {run['wall_seconds']} | {run['images_per_second']} | {d['shard_bytes'] / 1e6:.2f} | "
                         f"{d['source_bytes'] / 1e6:.2f} | {d['shard_to_source']:.3f} | {100 * d['tar_overhead']:.0f}% | "
                         f"{'yes' if enc['same_samples'] and enc['same_manifest'] else 'NO'} ({enc['samples_compared']}) |")
    if "resume" in result:
        r = result["resume"]
        lines += ["", f"Resume ({r['codec']}, --jobs 2): killed after {r['killed_after_seconds']} s with "
                  f"{r['shards_listed_when_killed']} of {r['shards']} shards listed (interrupted: {r['interrupted']}); the rerun "
                  f"took {r['resume_wall_seconds']} s; shards identical to the uninterrupted run: {r['same_as_uninterrupted']}."]
    lines += ["", "| codec | DataLoader output | workers | samples/s |", "|---|---|---:|---:|"]
    for codec, rows in result["read"].items():
        for name, row in rows.items():
            output, workers = name.split(", ")
            lines.append(f"| {codec} | {output} | {workers.split()[0]} | {row['samples_per_second']} |")
    if "classifier" in result:
        c = result["classifier"]
        lines += ["", f"Latent classifier {c['point']} (3 + 3 epochs), top-1 on the val shards' latents:", "",
                  "| training data | wall s | prepare s | train s | examples | top-1 |", "|---|---:|---:|---:|---:|---:|"]
        for name in ("in_process", "from_shards"):
            if name in c:
                r = c[name]
                lines.append(f"| {name.replace('_', ' ')} | {r['wall_seconds']} | {r['prepare_seconds']} | {r['train_seconds']} | "
                             f"{r['examples']} | {100 * r['top1_val']:.1f}% |")
        if "in_process_recorded" in c:
            r = c["in_process_recorded"]
            lines.append(f"| in process (the recorded run's classifier, not retrained) | | {r['prepare_seconds']} | "
                         f"{r['train_seconds']} | {r['examples']} | {100 * r['top1_val']:.1f}% |")
        encode = sum(r["wall_seconds"] for r in c["encode"].values())
        lines += ["", f"The first run from shards also encodes them: {encode:.1f} s (train with mirror images, and val); "
                  "a second run reads them only."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec", action="append", help="default: walloc and hyperprior")
    ap.add_argument("--quality", type=float, default=2.0)
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("--limit", type=int, help="N evenly spaced images of each split (smoke runs)")
    ap.add_argument("--work", default=str(ROOT / "runs" / "shards"), help="shards and classifiers")
    ap.add_argument("--classifier-point", default="walloc:2", help="CODEC:QUALITY, or 'none' to skip the classifier")
    ap.add_argument("--skip-baseline", action="store_true", help="do not retrain the in-process classifier (quote the recorded run)")
    ap.add_argument("--out", type=Path, default=RESULTS / "dataset_shards")
    args = ap.parse_args()
    codecs = args.codec or ["walloc", "hyperprior"]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    source = source_of(None, args.limit, work)
    from neuralcodecs.evaluation.common import machine_meta

    meta = machine_meta("cpu")
    import ray
    import webdataset

    meta["versions"].update(ray=ray.__version__, webdataset=getattr(webdataset, "__version__", "?"))
    meta.update(source=str(source), images=len(imagenette_files("train", args.limit)) + len(imagenette_files("val", args.limit)),
                shard_size=args.shard_size, quality=args.quality, cpus=os.cpu_count(), cpu=meta["machine"]["cpu"],
                ray_address=os.environ.get("RAY_ADDRESS") or "a local instance (2 CPUs)")
    result = {"meta": meta, "encode": {}, "read": {}}
    for codec in codecs:
        result["encode"][codec] = measure_encoding(codec, args.quality, source, work, args.shard_size)
    result["resume"] = {"codec": codecs[0], **measure_resume(codecs[0], args.quality, source, work, args.shard_size)}
    for codec in codecs:
        result["read"][codec] = measure_reading(Path(result["encode"][codec]["reference"]))
    if args.classifier_point != "none":
        result["classifier"] = measure_classifier(args.classifier_point, args.limit, work, args.shard_size, args.skip_baseline)
    write_result(args.out, result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
