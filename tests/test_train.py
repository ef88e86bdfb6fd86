"""ncodec train: a few steps of a tiny model, a resume, the log, and the Kodak guard."""

import json
import shutil

import pytest
import torch
from PIL import Image

from neuralcodecs.cli import main
from neuralcodecs.data import list_images


@pytest.fixture()
def image_folder(tmp_path, photo):
    folder = tmp_path / "train"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(photo[i * 100 : i * 100 + 160, i * 150 : i * 150 + 200]).save(folder / f"t{i}.png")
    return folder


def test_train_resume_and_log(tmp_path, image_folder):
    out = tmp_path / "run"
    common = ["train", "--data", str(image_folder), "--out", str(out), "--batch-size", "2", "--crop", "64",
              "--log-every", "1", "--save-every", "1", "--device", "cpu", "--model-args", '{"N": 16, "M": 24}']
    assert main(common + ["--steps", "2"]) == 0
    first = torch.load(out / "checkpoint.pt", weights_only=False)
    assert first["step"] == 2
    assert main(common + ["--steps", "3", "--resume"]) == 0
    second = torch.load(out / "checkpoint.pt", weights_only=False)
    assert second["step"] == 3
    changed = [k for k in first["model"] if not torch.equal(first["model"][k], second["model"][k])]
    assert changed, "the resumed step did not update the model"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(r["bpp"] > 0 and r["loss"] > 0 for r in log)


def test_training_refuses_kodak(tmp_path, image_folder):
    kodak = tmp_path / "kodak"
    shutil.copytree(image_folder, kodak)
    with pytest.raises(ValueError, match="evaluation only"):
        list_images([kodak])
