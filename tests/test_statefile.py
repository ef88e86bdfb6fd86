"""Resumable state files are data: safetensors + JSON, never a pickle (neuralcodecs.statefile)."""

import math
import pickle

import numpy as np
import pytest
import torch

from neuralcodecs.errors import StateFileError
from neuralcodecs.statefile import load_state, read_metadata, save_state


class _RunsCode:
    """A pickle payload that creates a file when it is unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _hostile_files(tmp_path):
    """Files that would run code (create ``marker``) if anything unpickled them."""
    marker = tmp_path / "pwned"
    plain = tmp_path / "plain.fit"
    plain.write_bytes(pickle.dumps({"model": _RunsCode(marker)}))
    zipped = tmp_path / "zipped.fit"
    torch.save({"model": _RunsCode(marker), "step": 1}, zipped)
    return marker, [plain, zipped]


def test_tree_round_trip(tmp_path):
    gen = torch.Generator().manual_seed(3)
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2, 2))], betas=(0.8, 0.9))
    optimizer.state_dict()
    state = {
        "model": {"w": torch.randn(4, 5), "b": torch.arange(3, dtype=torch.int64), "h": torch.ones(2, dtype=torch.float16)},
        "optimizer": optimizer.state_dict(),
        "generator": gen.get_state(),
        "sections": [b"\x00\x01abc", b""],
        "best_loss": math.inf,
        "config": {"temperature": (0.3, 0.1), "steps": 7, "name": "x", "none": None},
        "by_int": {0: "zero", 5: torch.zeros(1)},
    }
    path = tmp_path / "s.fit"
    save_state(path, state)
    back = load_state(path, {"config": state["config"]})
    assert set(back) == set(state)
    for k in state["model"]:
        assert torch.equal(back["model"][k], state["model"][k]) and back["model"][k].dtype == state["model"][k].dtype
    assert back["sections"] == state["sections"]
    assert back["config"] == state["config"] and isinstance(back["config"]["temperature"], tuple)
    assert back["best_loss"] == math.inf
    assert list(back["by_int"]) == [0, 5] and torch.equal(back["by_int"][5], torch.zeros(1))
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.9)
    optimizer.load_state_dict(back["optimizer"])  # an optimizer accepts its restored state
    assert torch.equal(back["generator"], gen.get_state())
    assert not (tmp_path / "s.fit.tmp").exists()


def test_identity_mismatch_is_refused_before_tensors_are_read(tmp_path, monkeypatch):
    path = tmp_path / "s.fit"
    save_state(path, {"identity": {"codec": "nerv", "frames": [3, 3, 8, 8]}, "w": torch.ones(2)})

    def no_tensors(*args, **kwargs):
        raise AssertionError("tensors were read before the identity was checked")

    monkeypatch.setattr("safetensors.torch.load_file", no_tensors)
    with pytest.raises(StateFileError, match="another fit"):
        load_state(path, {"identity": {"codec": "nerv", "frames": [3, 3, 8, 9]}})
    with pytest.raises(StateFileError, match="another fit"):
        load_state(path, {"effort": "fast"})  # a key the state does not hold


def test_missing_file_is_no_state(tmp_path):
    assert load_state(tmp_path / "none.fit", {}) is None
    assert load_state(None, {}) is None


def test_pickles_never_run(tmp_path):
    marker, files = _hostile_files(tmp_path)
    for path in files:
        with pytest.raises(StateFileError, match="not a neuralcodecs fitting state"):
            load_state(path, {})
    assert not marker.exists()


def test_foreign_and_damaged_files_are_refused(tmp_path):
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.ones(2)}, str(foreign))
    damaged = tmp_path / "damaged.fit"
    save_state(damaged, {"w": torch.ones(100)})
    damaged.write_bytes(damaged.read_bytes()[:-40])
    empty = tmp_path / "empty.fit"
    empty.write_bytes(b"")
    for path in (foreign, damaged, empty):
        with pytest.raises(StateFileError):
            load_state(path, {})


def test_metadata_that_names_missing_tensors_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "odd.fit"
    save_file({"t0": torch.ones(1)}, str(path), metadata={"neuralcodecs.state": '{"version": 1, "state": {"w": {"$tensor": "t9"}}}'})
    assert read_metadata(path) == {"w": {"$tensor": "t9"}}
    with pytest.raises(StateFileError, match="does not hold"):
        load_state(path, {})


@pytest.mark.parametrize("codec_name", ["overfit", "nerv"])
def test_codec_encode_refuses_a_pickled_fit_state(tmp_path, codec_name):
    """The reproduced attack: a pickled payload given as the fit state ran before any check."""
    import neuralcodecs as nc

    marker, files = _hostile_files(tmp_path)
    codec = nc.load_codec(codec_name)
    media = np.zeros((16, 16, 3), np.uint8) if codec_name == "overfit" else np.zeros((5, 40, 56, 3), np.uint8)
    for path in files:
        with pytest.raises(StateFileError):
            codec.encode(media, effort="fast", fit_state=str(path))
    assert not marker.exists()
