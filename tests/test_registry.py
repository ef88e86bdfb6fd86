"""The registry: names, typed errors, and weights chosen by the fingerprint a stream names."""

import pytest

import neuralcodecs as nc
from neuralcodecs import paths, registry
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
    monkeypatch.setattr(paths, "WEIGHTS_DIR", tmp_path)
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


def test_the_table_is_data_read_without_torch_or_codec_modules():
    """Listing codecs, their qualities, options and the default reads the table and the codecs' torch-free
    option modules only: no codec implementation and no torch is imported (``ncodec list`` / ``info``)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from neuralcodecs import registry as r\n"
        "for n in r.names():\n"
        "    s = r.spec(n); (s.kind, s.description, s.quality.describe(), s.options, s.ready, s.weights_candidates())\n"
        "r.all_options(); r.default_codec('image'); r.default_codec('video')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('neuralcodecs', 'torch')))))\n"
    )
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    allowed = {"neuralcodecs", "neuralcodecs.registry", "neuralcodecs.codec", "neuralcodecs.errors", "neuralcodecs.paths",
               "neuralcodecs.bitstream", "neuralcodecs.budget", "neuralcodecs.compressai_import"}  # the public API
    # imports these (torch-free)
    declarations = {m for m in loaded - allowed if m.endswith((".options", "_options")) or m in
                    {"neuralcodecs.image", "neuralcodecs.image.s2lic", "neuralcodecs.image.walloc", "neuralcodecs.image.vqgan",
                     "neuralcodecs.image.mcquic", "neuralcodecs.inr", "neuralcodecs.inr.overfit",
                     "neuralcodecs.stem", "neuralcodecs.student"}}  # option modules and their (empty) packages
    assert loaded - allowed - declarations == set()


def test_every_entry_names_a_codec_class_that_agrees_with_it():
    """The references resolve; the class declares the entry's name, kind and options (one source: the
    codec family's options module), and trainable entries name a function returning an Objective."""
    from neuralcodecs.codec import Codec, Objective

    for name in registry.names():
        entry = registry.spec(name)
        cls = registry.resolve(entry.codec)
        assert issubclass(cls, Codec) and cls.name == name and cls.kind == entry.kind, name
        assert tuple(cls.options) == entry.options, name
        assert cls.weights_policy == entry.weights_policy, name
        if entry.objective is not None:
            assert callable(registry.resolve(entry.objective)), name
    assert isinstance(registry.objective("hyperprior"), Objective)
    with pytest.raises(UnknownCodecError, match="not trainable"):
        registry.objective("nerv")


def test_entries_are_checked(monkeypatch):
    from neuralcodecs.codec import IMAGE, CodecOption, QualitySpec

    quality = QualitySpec(1.0, 2.0, 1.0, 1.0, (1.0, 2.0))
    with pytest.raises(ValueError, match="module:attribute"):
        registry.CodecSpec("x", IMAGE, "", codec="NoModule", quality=quality)
    with pytest.raises(ValueError, match="kind"):
        registry.CodecSpec("x", "audio", "", codec="m:C", quality=quality)
    with pytest.raises(ValueError, match="twice"):
        registry.register(registry.spec("hyperprior"))
    clash = registry.CodecSpec("x", IMAGE, "", codec="m:C", quality=quality, options=(CodecOption("effort", int, 1, ""),))
    monkeypatch.setattr(registry, "_REGISTRY", {**registry._REGISTRY, "x": clash})
    with pytest.raises(ValueError, match="--effort"):
        registry.all_options()
