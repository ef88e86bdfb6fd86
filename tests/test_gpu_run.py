"""benchmarks/gpu_run.py in its CPU mode on a tiny model: probe, exactness table, a checkpoint in
parts that a second call resumes from; and the staging that leaves the weights out of the tree."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu_run  # noqa: E402


def _stage(folder: Path) -> Path:
    """A stage folder as ``gpu_run.py stage`` packs it, from the repository's own files."""
    from neuralcodecs.demo import PHOTO
    from neuralcodecs.paths import WEIGHTS_DIR

    (folder / "weights").mkdir(parents=True)
    for name in ("hyperprior.safetensors", "hyperprior.json"):
        (folder / "weights" / name).write_bytes((WEIGHTS_DIR / name).read_bytes())
    photo = Image.open(PHOTO).convert("RGB")
    (folder / "kodak").mkdir()
    photo.crop((0, 0, 128, 96)).save(folder / "kodak" / "photo.png")
    (folder / "data").mkdir()
    for k in range(3):
        photo.crop((100 * k, 50, 100 * k + 96, 146)).save(folder / "data" / f"crop{k}.jpg", quality=92)
    return folder


def test_the_cpu_run_writes_probe_exactness_and_a_checkpoint_a_second_call_resumes(tmp_path):
    stage = _stage(tmp_path / "stage")
    first, second = tmp_path / "out1", tmp_path / "out2"
    common = ["--stage", str(stage), "--cpu", "--tiny", "--steps", "3", "--minutes", "5"]
    assert gpu_run.main(["run", "--out", str(first), "--resume", str(tmp_path / "none"), *common]) == 0
    report = json.loads((first / "results.json").read_text())
    assert report["probe"]["train_steps_per_s"] > 0 and report["probe"]["device"] == "cpu"
    rows = report["exactness"]
    assert len(rows) == 2 and all(r["identical"] for r in rows)  # encoded here, decoded there, and the reverse
    assert report["training"]["resumed_from_step"] == 0 and report["training"]["steps"] == 3
    parts = sorted(first.glob("ckpt.part*"))
    assert parts and all(p.stat().st_size <= gpu_run.PART_BYTES for p in parts)
    assert not (first / "train").exists() and (first / "train_log.jsonl").exists()
    assert gpu_run.main(["run", "--out", str(second), "--resume", str(first), *common]) == 0
    report = json.loads((second / "results.json").read_text())
    assert report["training"]["resumed_from_step"] == 3 and report["training"]["last"]["step"] == 6


def test_checkpoint_parts_join_back_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_run, "PART_BYTES", 1000)
    data = np.random.default_rng(0).integers(0, 256, 4321, dtype=np.uint8).tobytes()
    (tmp_path / "ckpt.safetensors").write_bytes(data)
    names = gpu_run.split_checkpoint(tmp_path / "ckpt.safetensors", tmp_path)
    assert len(names) == 5
    assert gpu_run.join_checkpoint(tmp_path, tmp_path / "back")
    assert (tmp_path / "back" / "checkpoint.safetensors").read_bytes() == data


def test_a_disagreement_names_its_first_symbol():
    a = [np.zeros((2, 3), dtype=np.int64), np.arange(5)]
    b = [np.zeros((2, 3), dtype=np.int64), np.array([0, 1, 2, 7, 4])]
    assert gpu_run.first_difference(a, b) == {"array": 1, "index": 3, "a": 3, "b": 7}
    assert gpu_run.first_difference(a, a) is None


def test_staging_leaves_the_weights_out_of_the_tree_and_unstaging_restores_the_index(tmp_path):
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    repo = tmp_path / "repo"
    (repo / "neuralcodecs" / "weights").mkdir(parents=True)
    (repo / "neuralcodecs" / "weights" / "a.safetensors").write_bytes(b"x" * 5000)
    (repo / "neuralcodecs" / "weights" / "a.json").write_text("{}")
    (repo / "code.py").write_text("print(1)\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "."], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "init"], check=True)
    before = gpu_run.traveling_bytes(repo)
    assert gpu_run.leave_weights_out(repo) == ["neuralcodecs/weights/a.safetensors"]
    assert gpu_run.traveling_bytes(repo) == before - 5000  # on disk still, but neither tracked nor unignored
    assert (repo / "neuralcodecs" / "weights" / "a.safetensors").exists()
    gpu_run.put_weights_back(repo)
    assert gpu_run.traveling_bytes(repo) == before
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True, text=True).stdout == ""
    (repo / "code.py").write_text("print(2)\n")
    subprocess.run(["git", "-C", str(repo), "add", "code.py"], check=True)
    with pytest.raises(SystemExit, match="staged"):
        gpu_run.leave_weights_out(repo)
