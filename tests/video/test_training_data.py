"""Video training data: windows of consecutive frames with one shared crop."""

import numpy as np
import pytest
import torch
from PIL import Image

from neuralcodecs.errors import CodecArgumentError
from neuralcodecs.video.training_data import RandomFrameWindows, list_sequences


def _write_sequence(folder, frames=5, size=(40, 48)):
    folder.mkdir(parents=True)
    h, w = size
    for t in range(frames):
        # frame t: a horizontal ramp shifted right by 2 pixels per frame, plus the frame number in blue
        ramp = (np.arange(w)[None, :] * 4 - 2 * 4 * t) % 256
        rgb = np.stack([np.broadcast_to(ramp, (h, w)), np.full((h, w), 100), np.full((h, w), 10 * t)], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(folder / f"im{t + 1}.png")


def test_sequences_are_found_in_natural_order_and_evaluation_clips_refused(tmp_path):
    _write_sequence(tmp_path / "data" / "00001" / "0001", frames=12)
    (tmp_path / "data" / "lonely").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "data" / "lonely" / "im1.png")
    sequences = list_sequences([tmp_path / "data"])
    assert len(sequences) == 1 and [p.name for p in sequences[0]][:3] == ["im1.png", "im2.png", "im3.png"]
    assert sequences[0][-1].name == "im12.png"  # natural order, not im1, im10, im11, ...
    for bad in (tmp_path / "basketballpass_416x240", tmp_path / "missing", tmp_path / "data" / "lonely"):
        bad.mkdir(exist_ok=True)
        with pytest.raises(CodecArgumentError):
            list_sequences([bad])


def test_windows_share_one_crop_and_keep_the_motion(tmp_path):
    _write_sequence(tmp_path / "seq", frames=5)
    loader = RandomFrameWindows(list_sequences([tmp_path / "seq"]), crop=16, length=3, step=1, min_scale=1.0, seed=3)
    batch = loader.batch(6)
    assert batch.shape == (6, 3, 3, 16, 16) and batch.dtype == torch.float32
    for window in batch:
        blue = (window[:, 2].mean((1, 2)) * 255).round()
        assert (blue[1:] - blue[:-1] == 10).all()  # consecutive frames, in order
        green = window[:, 1]
        assert torch.allclose(green, torch.full_like(green, 100 / 255))
        red0, red1 = window[0, 0] * 255, window[1, 0] * 255
        shifted = torch.equal(red1[:, 2:], red0[:, :-2]) or torch.equal(red1[:, :-2], red0[:, 2:])  # 2 px per frame, either flip
        assert shifted


def test_windows_need_enough_frames_and_size(tmp_path):
    _write_sequence(tmp_path / "seq", frames=3)
    sequences = list_sequences([tmp_path / "seq"])
    with pytest.raises(CodecArgumentError):
        RandomFrameWindows(sequences, crop=16, length=2, step=3)  # span 4 > 3 frames
    with pytest.raises(CodecArgumentError):
        RandomFrameWindows(sequences, crop=64)  # frames are 40x48
    with pytest.raises(CodecArgumentError):
        RandomFrameWindows(sequences, crop=16, length=1)


def test_another_step_reuses_the_decoded_frames_and_samples_as_a_fresh_loader(tmp_path):
    _write_sequence(tmp_path / "seq", frames=5)
    sequences = list_sequences([tmp_path / "seq"])
    first = RandomFrameWindows(sequences, crop=16, length=2, step=1, min_scale=1.0, seed=1)
    again = first.with_step(2, seed=9)
    assert again.sequences[0] is first.sequences[0]  # not decoded twice
    fresh = RandomFrameWindows(sequences, crop=16, length=2, step=2, min_scale=1.0, seed=9)
    assert torch.equal(again.batch(4), fresh.batch(4))
    with pytest.raises(CodecArgumentError):
        first.with_step(5, seed=0)  # span 6 > 5 frames
