"""The registry: names, typed errors, and weights chosen by the fingerprint a stream names."""

import pytest

import neuralcodecs as nc
from neuralcodecs import registry
from neuralcodecs.errors import UnknownCodecError, WeightsError, WeightsMismatchError
from neuralcodecs.weightfiles import load_weights, save_weights


def test_names_and_unknown_codecs():
    assert "hyperprior" in nc.list_codecs()
    with pytest.raises(UnknownCodecError, match="available"):
        registry.spec("nosuch")


def test_a_stream_made_with_retired_weights_still_decodes(tmp_path, monkeypatch, small_photo):
    shipped = registry.spec("hyperprior").weights_path
    tensors, meta = load_weights(shipped)
    tensors["model.g_s.6.bias"] = tensors["model.g_s.6.bias"] + 0.02
    (tmp_path / shipped.name).symlink_to(shipped)
    retired = tmp_path / "hyperprior-old.safetensors"
    save_weights(retired, tensors, meta)
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    old_codec = registry.load("hyperprior", weights=retired)
    data = old_codec.encode(small_photo[:64, :64], quality=3)
    assert nc.read_header(data).fingerprint == old_codec.fingerprint
    assert (nc.decode(data) == old_codec.decode(data)).all()
    with pytest.raises(WeightsMismatchError):  # explicitly asking for the shipped file
        nc.decode(data, weights=shipped)


def test_malformed_weights_files_are_typed_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    with pytest.raises(WeightsError):
        registry.load("hyperprior", weights=bad)
    with pytest.raises(WeightsError):
        registry.load("hyperprior", weights=tmp_path / "missing.safetensors")
    tensors, meta = load_weights(registry.spec("hyperprior").weights_path)
    del tensors["hs_int.0.weight"]
    partial = tmp_path / "partial.safetensors"
    save_weights(partial, tensors, meta)
    with pytest.raises(WeightsError, match="hs_int.0.weight"):
        registry.load("hyperprior", weights=partial)
