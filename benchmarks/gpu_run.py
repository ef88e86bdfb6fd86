"""A GPU run that is ready to fire: probe, cross-device exactness, training with resume (issue 29).

A GPU is lent to this project now and then, for about 15 minutes in all, through a remote-run
command that copies the working tree (at most 64 MiB: tracked files, untracked files git does not
ignore, and the ignored paths a call *carries*) and brings back at most 8 files of 16 MiB from
``$OUT``.  This script makes such a call productive without thinking:

1. ``stage`` (here, before the call): packs ``.gpu/`` -- the weights the exactness check needs,
   a training set of BSDS500-train and Sun-Hays photos (never Kodak) as JPEGs of at most 384
   pixels a side, four Kodak images for the exactness check, the wheels the GPU image lacks
   (compressai, constriction, pytorch-msssim) and, with ``--resume-from``, the checkpoint parts an
   earlier call returned.  It also **leaves the shipped weights out of the tree that travels**:
   they are taken out of git's index (the files stay on disk) and excluded in ``.git/info/exclude``,
   so that neither rule of the copy picks them up; ``unstage`` puts the index back exactly.
2. ``run`` (there, inside the call), writing everything to ``--out`` as it goes:
   a **probe** of about 20 seconds (training steps per second, one encode and decode) from which
   it sizes the rest to end inside ``--minutes``; the **exactness check** (each staged codec's
   images encoded on the GPU and decoded on the CPU, and the reverse: identical pixels, or the
   first disagreeing symbol); then **training** of ``--codec`` at its ``--size`` (bf16 autocast,
   channels-last) from scratch or from the parts in ``--resume``, its checkpoint written back in
   parts of at most 15 MiB.
3. ``--cpu --tiny``: the same run on the CPU with a tiny model, which a test exercises, so the
   script cannot rot while no GPU is lent.

The call (see docs, "A GPU run"):

    python benchmarks/gpu_run.py stage                  # here; prints the size that will travel
    run(command="python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/wheels/*.whl
         && PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 python3 benchmarks/gpu_run.py run --out $OUT",
        carry=[".gpu"], timeout_s=600)
    python benchmarks/gpu_run.py unstage                # here, always, right after the call
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE = ROOT / ".gpu"
SHARED = ROOT.parent / "shared" / "data"
EXCLUDE_LINE = "/neuralcodecs/weights/*.safetensors"
STAGE_LINE = "/.gpu/"
EXACTNESS_CODECS = ("hyperprior", "s2lic")
KODAK_IMAGES = ("kodim01", "kodim08", "kodim15", "kodim23")
#: the GPU image (Python 3.12, PyTorch 2.11) lacks these; compressai 1.2.8's wheel there is manylinux_2_34
WHEELS = ("compressai", "constriction", "pytorch-msssim")
PART_BYTES = 15 * 2**20
#: training sizes by name: ``paper`` is Minnen et al.'s high-rate mean-scale hyperprior (N 192, M 320)
SIZES = {"hyperprior": {"paper": {"N": 192, "M": 320}, "cpu": {"N": 128, "M": 192}, "tiny": {"N": 8, "M": 8}}}


# ---------------------------------------------------------------- here: stage / unstage
def _git(*args: str, root: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _exclude_file(root: Path) -> Path:
    return root / _git("rev-parse", "--git-dir", root=root).strip() / "info" / "exclude"


def _set_exclude(root: Path, line: str, present: bool) -> None:
    path = _exclude_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [x for x in lines if x != line] + ([line] if present else [])
    path.write_text("\n".join(lines) + "\n")


def leave_weights_out(root: Path = ROOT) -> list[str]:
    """Take the shipped weights out of the index (files stay on disk) and exclude them: they do
    not travel.  Refuses while other changes are staged, so ``unstage`` restores exactly."""
    if _git("diff", "--cached", "--name-only", root=root).strip():
        raise SystemExit("other changes are staged in git's index; commit or unstage them first")
    tracked = _git("ls-files", "neuralcodecs/weights/*.safetensors", root=root).split()
    if tracked:
        _git("rm", "--cached", "-q", *tracked, root=root)
    _set_exclude(root, EXCLUDE_LINE, True)
    return tracked


def put_weights_back(root: Path = ROOT) -> None:
    """Undo :func:`leave_weights_out`: the index holds HEAD's weights again, the exclude line is gone."""
    _git("reset", "-q", "--", "neuralcodecs/weights", root=root)
    _set_exclude(root, EXCLUDE_LINE, False)


def traveling_bytes(root: Path = ROOT) -> int:
    """Bytes of what a call sends without ``carry``: tracked and untracked-not-ignored files on disk."""
    names = _git("ls-files", "--cached", "--others", "--exclude-standard", "-z", root=root).split("\0")
    return sum((root / n).stat().st_size for n in names if n and (root / n).is_file())


def pack_training_images(folders: list[Path], out: Path, longest: int = 384, limit: int = 0) -> int:
    """Each photo of ``folders`` as a JPEG (quality 92) of at most ``longest`` pixels a side in ``out``."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    files = [f for folder in folders for f in sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))]
    for f in files[: limit or None]:
        image = Image.open(f).convert("RGB")
        image.thumbnail((longest, longest), Image.LANCZOS)
        image.save(out / f"{f.parent.name}_{f.stem}.jpg", quality=92)
    return len(files[: limit or None])


def stage(args) -> int:
    from neuralcodecs import registry

    if STAGE.exists() and not args.keep:
        shutil.rmtree(STAGE)
    _set_exclude(ROOT, STAGE_LINE, True)
    (STAGE / "weights").mkdir(parents=True, exist_ok=True)
    for name in args.codecs.split(","):
        source = registry.spec(name).weights_candidates()[0]
        for f in (source, source.with_suffix(".json")):
            shutil.copy2(f, STAGE / "weights" / f.name)
    images = pack_training_images([SHARED / "images" / "bsds500" / "images" / "train", SHARED / "images" / "sun_hays80"],
                                  STAGE / "data", limit=args.images)
    (STAGE / "kodak").mkdir(exist_ok=True)
    for name in KODAK_IMAGES:  # evaluation only: the exactness check
        shutil.copy2(SHARED / "images" / "kodak" / f"{name}.png", STAGE / "kodak")
    if args.resume_from:
        (STAGE / "resume").mkdir(exist_ok=True)
        for part in sorted(Path(args.resume_from).glob("ckpt.part*")):
            shutil.copy2(part, STAGE / "resume" / part.name)
    if not args.no_wheels:
        from importlib.metadata import version

        pins = [f"{w}=={version(w)}" for w in WHEELS]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp",
                        *[f"--platform=manylinux_2_{n}_x86_64" for n in (17, 24, 27, 28, 31, 34, 35)],
                        "--platform=manylinux2014_x86_64", "-d", str(STAGE / "wheels"), *pins], check=True)
    left_out = leave_weights_out()
    staged = sum(f.stat().st_size for f in STAGE.rglob("*") if f.is_file())
    tree = traveling_bytes()
    print(f"staged {images} training images; {len(left_out)} weights files left out of the tree (run unstage after the call)")
    print(f"travels: tree {tree / 2**20:.1f} MiB + .gpu {staged / 2**20:.1f} MiB = {(tree + staged) / 2**20:.1f} MiB (limit 64)")
    return 0 if tree + staged < 64 * 2**20 else 1


def unstage(args) -> int:
    put_weights_back()
    print("the shipped weights are back in git's index")
    return 0


# ---------------------------------------------------------------- there: the run
class Report:
    """``results.json`` in the output folder, rewritten after every part so a killed run keeps what it did."""

    def __init__(self, out: Path):
        self.path, self.data = out / "results.json", {"started": time.strftime("%Y-%m-%d %H:%M:%S")}
        out.mkdir(parents=True, exist_ok=True)

    def __setitem__(self, key, value):
        self.data[key] = value
        self.path.write_text(json.dumps(self.data, indent=1))


def _device_name(device) -> str:
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def train_config(args, out_dir: Path, steps: int, batch: int):
    """The shared loop's settings; it resumes from ``out_dir``'s checkpoint where there is one."""
    from neuralcodecs.train import CHECKPOINT_NAME, TrainConfig

    return TrainConfig(codec=args.codec, data=[str(args.stage / "data")], out=str(out_dir), steps=steps, batch_size=batch,
                       crop=args.crop, lr=1e-4, precision="bf16" if args.device.type == "cuda" else "fp32",
                       device=str(args.device), save_every=10**9, log_every=max(1, min(50, steps)),
                       resume=(out_dir / CHECKPOINT_NAME).exists(),
                       model_args=SIZES[args.codec][args.size])


def probe(args, report: Report) -> dict:
    """Training steps per second at the run's batch (after a warm-up), and one exactness encode+decode."""
    import tempfile

    from neuralcodecs import registry
    from neuralcodecs.train import train

    objective = registry.objective(args.codec)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        train(train_config(args, Path(tmp), 2, args.batch), objective)  # warm-up: kernels, allocator, data
        warm = time.time() - started
        steps = 3 if args.tiny else 20
        started = time.time()
        cfg = train_config(args, Path(tmp), 2 + steps, args.batch)
        train(cfg, objective)
        per_step = (time.time() - started) / steps
    result = {"device": _device_name(args.device), "train_warmup_s": round(warm, 2),
              "train_s_per_step": round(per_step, 4), "train_steps_per_s": round(1 / per_step, 2), "batch": args.batch,
              "crop": args.crop, "codec": args.codec, "size": args.size}
    report["probe"] = result
    return result


def first_difference(a, b) -> dict | None:
    """Where two lists of symbol arrays first differ: ``{"array", "index", "a", "b"}``, or None."""
    import numpy as np

    for k, (x, y) in enumerate(zip(a, b)):
        x, y = np.asarray(x).reshape(-1), np.asarray(y).reshape(-1)
        if x.shape != y.shape:
            return {"array": k, "index": None, "a": list(x.shape), "b": list(y.shape)}
        diff = np.flatnonzero(x != y)
        if diff.size:
            return {"array": k, "index": int(diff[0]), "a": int(x[diff[0]]), "b": int(y[diff[0]])}
    return None


def exactness(args, report: Report, deadline: float) -> list[dict]:
    """Each staged codec: images encoded on the run's device and decoded on the CPU, and the reverse."""
    import numpy as np
    from PIL import Image

    from neuralcodecs import bitstream, registry

    rows = []
    images = sorted((args.stage / "kodak").glob("*.png"))
    for weights in sorted((args.stage / "weights").glob("*.safetensors")):
        name = weights.stem
        codecs = {d: registry.load(name, weights=weights, device=d) for d in (str(args.device), "cpu")}
        for image in images:
            if time.time() > deadline:
                rows.append({"codec": name, "image": image.stem, "skipped": "out of time"})
                continue
            pixels = np.asarray(Image.open(image).convert("RGB"))
            if args.tiny:
                pixels = np.ascontiguousarray(pixels[:64, :96])
            for encoder, decoder in ((str(args.device), "cpu"), ("cpu", str(args.device))):
                started = time.time()
                data = codecs[encoder].encode(pixels)
                header, sections = bitstream.unpack(data)
                here = codecs[decoder].decode(data)
                there = codecs[encoder].decode(data)
                row = {"codec": name, "image": image.stem, "encoded_on": encoder, "decoded_on": decoder, "bytes": len(data),
                       "identical": bool(np.array_equal(here, there)), "seconds": round(time.time() - started, 2)}
                if not row["identical"]:
                    row["first_symbol_difference"] = first_difference(codecs[encoder].symbol_arrays(header, sections),
                                                                      codecs[decoder].symbol_arrays(header, sections))
                rows.append(row)
                report["exactness"] = rows
    return rows


def split_checkpoint(checkpoint: Path, out: Path) -> list[str]:
    """``checkpoint`` as ``out/ckpt.partNN`` files of at most :data:`PART_BYTES` (the return limit is 16 MiB a file)."""
    data, names = checkpoint.read_bytes(), []
    for k in range(0, max(1, len(data)), PART_BYTES):
        name = f"ckpt.part{k // PART_BYTES:02d}"
        (out / name).write_bytes(data[k : k + PART_BYTES])
        names.append(name)
    return names


def join_checkpoint(parts: Path, into: Path) -> bool:
    """Reassemble ``parts/ckpt.part*`` into ``into/checkpoint.safetensors``; False without parts."""
    from neuralcodecs.train import CHECKPOINT_NAME

    files = sorted(parts.glob("ckpt.part*")) if parts and parts.is_dir() else []
    if not files:
        return False
    into.mkdir(parents=True, exist_ok=True)
    (into / CHECKPOINT_NAME).write_bytes(b"".join(f.read_bytes() for f in files))
    return True


def training(args, report: Report, seconds_per_step: float, deadline: float) -> dict:
    """Train until the deadline (steps sized from the probe), resuming from ``--resume`` parts."""
    from neuralcodecs import registry
    from neuralcodecs.train import CHECKPOINT_NAME, load_checkpoint, train

    work = args.out / "train"
    resumed = join_checkpoint(args.resume, work)
    start = int(load_checkpoint(work / CHECKPOINT_NAME)["step"]) if resumed else 0
    budget = max(0.0, deadline - time.time() - 30)  # 30 s for writing the checkpoint parts
    steps = args.steps or max(1, int(budget / seconds_per_step))
    began = time.time()
    last = train(train_config(args, work, start + steps, args.batch), registry.objective(args.codec))
    elapsed = time.time() - began
    parts = split_checkpoint(work / CHECKPOINT_NAME, args.out)
    shutil.copy2(work / "log.jsonl", args.out / "train_log.jsonl")
    shutil.rmtree(work)  # the parts and the log are what comes back
    result = {"resumed_from_step": start, "steps": steps, "seconds": round(elapsed, 1),
              "steps_per_s": round(steps / elapsed, 2), "last": last, "checkpoint_parts": parts}
    report["training"] = result
    return result


def run(args) -> int:
    import torch

    args.device = torch.device("cpu" if args.cpu else "cuda")
    if args.device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: pass --cpu for the CPU run")
    if args.tiny:
        args.size, args.batch, args.crop = "tiny", 2, 64
    deadline = time.time() + 60 * args.minutes
    report = Report(args.out)
    report["settings"] = {k: str(v) for k, v in vars(args).items()}
    measured = probe(args, report)
    print(json.dumps(measured), flush=True)
    rows = exactness(args, report, deadline - 0.5 * max(0.0, deadline - time.time()))  # at most half of what is left
    print(f"exactness: {sum(r.get('identical', False) for r in rows)} of {len(rows)} identical", flush=True)
    trained = training(args, report, measured["train_s_per_step"], deadline)
    print(json.dumps({k: v for k, v in trained.items() if k != "last"}), flush=True)
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    s = verbs.add_parser("stage", help="here: pack .gpu/ and leave the shipped weights out of the tree that travels")
    s.add_argument("--codecs", default=",".join(EXACTNESS_CODECS), help="weights for the exactness check")
    s.add_argument("--images", type=int, default=0, help="at most this many training photos (0: all)")
    s.add_argument("--resume-from", help="a folder holding the ckpt.part* files an earlier call returned")
    s.add_argument("--no-wheels", action="store_true")
    s.add_argument("--keep", action="store_true", help="add to an existing .gpu/ instead of rebuilding it")
    verbs.add_parser("unstage", help="here: the shipped weights back into git's index")
    r = verbs.add_parser("run", help="there: probe, exactness, training; everything written to --out")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--stage", type=Path, default=STAGE)
    r.add_argument("--resume", type=Path, default=STAGE / "resume")
    r.add_argument("--minutes", type=float, default=9.0, help="the whole run ends inside this")
    r.add_argument("--codec", default="hyperprior", choices=sorted(SIZES))
    r.add_argument("--size", default="paper")
    r.add_argument("--batch", type=int, default=16)
    r.add_argument("--crop", type=int, default=256)
    r.add_argument("--steps", type=int, default=0, help="training steps (0: as many as the time allows)")
    r.add_argument("--cpu", action="store_true", help="run on the CPU (the test's mode)")
    r.add_argument("--tiny", action="store_true", help="a tiny model, batch 2 of 64x64 crops, one small image")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    return {"stage": stage, "unstage": unstage, "run": run}[args.verb](args)


if __name__ == "__main__":
    raise SystemExit(main())
