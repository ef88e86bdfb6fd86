"""ncodec train: a few steps of a tiny model, a resume, the log, and the Kodak guard."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodecs.cli import main
from neuralcodecs.data import RandomCrops, list_images
from neuralcodecs.demo import PHOTO
from neuralcodecs.errors import CodecArgumentError
from neuralcodecs.train import load_checkpoint


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
    first = load_checkpoint(out / "checkpoint.safetensors")
    assert first["step"] == 2
    assert main(common + ["--steps", "3", "--resume"]) == 0
    second = load_checkpoint(out / "checkpoint.safetensors")
    assert second["step"] == 3
    changed = [k for k in first["model"] if not torch.equal(first["model"][k], second["model"][k])]
    assert changed, "the resumed step did not update the model"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(r["bpp"] > 0 and r["loss"] > 0 for r in log)


# these tests' names keep clear of "kodak": pytest names tmp_path after the test, and the folder rule
# reads the whole path


def test_training_refuses_evaluation_sets_by_folder_name(tmp_path, image_folder):
    assert "kodak" not in str(tmp_path).lower()
    assert len(list_images([image_folder])) == 3
    for name in ("kodak", "Kodak24", "kodim"):
        folder = tmp_path / name
        shutil.copytree(image_folder, folder)
        with pytest.raises(CodecArgumentError, match="evaluation only"):
            list_images([folder])


def test_training_refuses_evaluation_pictures_by_their_pixels_whatever_they_are_called(tmp_path, image_folder, photo, capsys):
    """The bundled photo is Kodak's kodim23: a renamed copy in an innocent folder is refused, and so
    are copies re-saved losslessly in other formats, turned to portrait or mirrored; a picture of
    the same size with one other pixel, and crops of it, are not Kodak pictures and pass."""
    assert "kodak" not in str(tmp_path).lower()
    holiday = tmp_path / "holiday"
    holiday.mkdir()
    copy = holiday / "IMG_0412.png"
    shutil.copy(PHOTO, copy)
    with pytest.raises(CodecArgumentError, match="kodim23 of the Kodak set"):
        list_images([holiday])
    with pytest.raises(CodecArgumentError, match="kodim23"):
        RandomCrops([copy], 64)  # the loader checks the pixels it decodes, whatever list it is given
    copy.unlink()
    for name, pixels in (("a.bmp", photo), ("b.tiff", np.rot90(photo)), ("c.webp", photo[:, ::-1])):
        path = holiday / name
        Image.fromarray(np.ascontiguousarray(pixels)).save(path, **({"lossless": True} if name.endswith("webp") else {}))
        with pytest.raises(CodecArgumentError, match="kodim23"):
            list_images([holiday])
        path.unlink()
    out = tmp_path / "run"
    shutil.copy(PHOTO, holiday / "IMG_0413.png")
    assert main(["train", "--data", str(holiday), "--out", str(out), "--steps", "1", "--device", "cpu"]) == 2
    assert "kodim23" in capsys.readouterr().err and not out.exists()
    (holiday / "IMG_0413.png").unlink()
    edited = photo.copy()
    edited[0, 0] ^= 1
    Image.fromarray(edited).save(holiday / "edited.png")
    assert list_images([holiday, image_folder]) == [holiday / "edited.png", *sorted(image_folder.iterdir())]


def test_video_training_refuses_a_sequence_holding_an_evaluation_picture(tmp_path, photo):
    from neuralcodecs.video.training_data import list_sequences

    clip = tmp_path / "clips" / "0001"
    clip.mkdir(parents=True)
    for t in range(3):
        frame = photo if t == 1 else np.roll(photo, t + 1, axis=1)
        Image.fromarray(frame).save(clip / f"im{t + 1}.png")
    with pytest.raises(CodecArgumentError, match="im2.png: this picture is kodim23"):
        list_sequences([tmp_path / "clips"])
    Image.fromarray(np.roll(photo, 5, axis=0)).save(clip / "im2.png")
    assert [p.name for p in list_sequences([tmp_path / "clips"])[0]] == ["im1.png", "im2.png", "im3.png"]


def test_learning_rate_schedules():
    from neuralcodecs.train import TrainConfig, learning_rate

    cfg = TrainConfig(codec="x", data=[], out="", steps=1000, lr=1e-3, warmup_steps=100, lr_schedule="cosine", lr_final_factor=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(1e-5)
    assert learning_rate(cfg, 99) == pytest.approx(1e-3)
    assert learning_rate(cfg, 550) == pytest.approx(0.55e-3)  # half-way down the cosine
    assert learning_rate(cfg, 1000) == pytest.approx(1e-4)
    timed = TrainConfig(codec="x", data=[], out="", lr=1e-3, lr_schedule="cosine", lr_final_factor=0.0, budget_minutes=10)
    assert learning_rate(timed, 5, seconds=300) == pytest.approx(0.5e-3)
    step = TrainConfig(codec="x", data=[], out="", lr=1e-3, lr_decay_steps=[10, 20])
    assert [learning_rate(step, s) for s in (9, 10, 25)] == pytest.approx([1e-3, 1e-4, 1e-5])


def test_weight_average_tracks_the_model():
    from neuralcodecs.train import WeightAverage

    model = torch.nn.Linear(2, 1)
    torch.nn.init.zeros_(model.weight)
    average = WeightAverage(model, decay=0.5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    average.update(model)  # warm-up decay min(0.5, 2/11)
    expected = 1 - 2 / 11
    assert torch.allclose(average.state["weight"], torch.full((1, 2), expected))
    restored = WeightAverage(model, decay=0.5)
    restored.load_state_dict(average.state_dict())
    assert restored.updates == 1 and torch.equal(restored.state["weight"], average.state["weight"])


def test_time_limited_chunks_resume_and_keep_the_average(tmp_path, image_folder):
    out = tmp_path / "run"
    common = ["train", "--data", str(image_folder), "--out", str(out), "--batch-size", "2", "--crop", "64",
              "--log-every", "1", "--save-every", "1000", "--device", "cpu", "--model-args", '{"N": 16, "M": 24}',
              "--steps", "1000", "--ema-decay", "0.9", "--lr-schedule", "cosine", "--warmup-steps", "2", "--lr-final-factor", "0.1"]
    assert main(common + ["--max-minutes", "0.0001"]) == 0  # stops after its first step, with a checkpoint
    first = load_checkpoint(out / "checkpoint.safetensors")
    assert first["config"]["lr_final_factor"] == 0.1
    assert 1 <= first["step"] < 1000 and first["ema"]["updates"] == first["step"] and first["train_seconds"] > 0
    assert main(common + ["--max-minutes", "0.0001", "--resume"]) == 0
    second = load_checkpoint(out / "checkpoint.safetensors")
    assert second["step"] > first["step"] and second["ema"]["updates"] == second["step"]
    assert second["train_seconds"] > first["train_seconds"]
    # fine-tuning starts from the average of another run
    tuned = tmp_path / "tuned"
    assert main(common[:4] + [str(tuned)] + common[5:] + ["--max-minutes", "0.0001", "--init-from", str(out / "checkpoint.safetensors")]) == 0
    assert load_checkpoint(tuned / "checkpoint.safetensors")["step"] >= 1


def test_models_may_train_pretrained_parts_at_a_lower_rate():
    import torch.nn as nn

    from neuralcodecs.train import TrainConfig, build_optimizers

    class TwoPart(nn.Module):
        def __init__(self):
            super().__init__()
            self.pretrained, self.fresh = nn.Linear(2, 2), nn.Linear(2, 2)

        def lr_factor(self, name):
            return 0.1 if name.startswith("pretrained.") else 1.0

    optimizer, aux = build_optimizers(TwoPart(), TrainConfig(codec="x", data=[], out="", lr=1e-3))
    groups = sorted((g["lr_factor"], g["lr"], len(g["params"])) for g in optimizer.param_groups)
    assert aux is None and groups == [(0.1, 1e-4, 2), (1.0, 1e-3, 2)]


def test_a_pickled_checkpoint_is_refused_without_running_it(tmp_path):
    """Checkpoints given to --init-from or ncodec export are data: a pickle is never loaded."""
    import pickle

    from neuralcodecs.errors import WeightsError

    class RunsCode:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    bad = tmp_path / "checkpoint.pt"
    torch.save({"model": RunsCode(), "step": 1}, bad)
    (tmp_path / "plain.safetensors").write_bytes(pickle.dumps({"model": RunsCode(), "step": 1}))
    for path in (bad, tmp_path / "plain.safetensors"):
        with pytest.raises(WeightsError, match="not a readable training checkpoint"):
            load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
