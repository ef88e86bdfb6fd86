"""The s2lic codec on a tiny untrained-but-frozen model: files, exactness, errors."""

import json

import numpy as np
import pytest
import torch

from neuralcodecs import bitstream
from neuralcodecs.errors import BitstreamError, CodecArgumentError, WeightsError, WeightsMismatchError
from neuralcodecs.image.s2lic.codec import S2licCodec
from neuralcodecs.image.s2lic.frozen import FrozenLadder
from neuralcodecs.image.s2lic.model import LadderModel
from neuralcodecs.image.s2lic.options import EFFORT_STEPS
from neuralcodecs.image.s2lic.weights import export_weights
from codec_checks import assert_decoding_ignores_thread_count, assert_mutants_decode_or_raise_bitstream_errors

TINY = dict(N=16, M=32, transform="swinv2", depths=(1, 1, 1), heads=(1, 1, 1), window=8, enhancement=(8, 8),
            context=dict(slices=4, checkerboard=True, context="acgc", param_hidden=(32,), context_width=16, attention_width=32),
            lambdas=(0.004, 0.03))


def _tiny_codec(path, seed=0, **overrides):
    torch.manual_seed(seed)
    args = {**TINY, **overrides}
    model = LadderModel(**args)
    frozen = FrozenLadder.from_trained(model, torch.rand(2, 3, 64, 64))
    export_weights(frozen, path, json.loads(json.dumps(args)))
    codec = S2licCodec.from_weights(path)
    # the loaded float model is the trained one (the encoder's refinement differentiates through it);
    # the float copies of integer-coded networks are int8 per row: within half a step of their row's range
    loaded = codec.frozen.model.state_dict()
    for name, value in model.state_dict().items():
        if value.is_floating_point() and not name.endswith(("_quantized_cdf", "_offset", "_cdf_length")):
            row_step = value.float().flatten(1).abs().amax(1) / 127 if value.dim() >= 2 else torch.zeros(1)
            tolerance = torch.maximum(row_step.reshape(-1, *[1] * (value.dim() - 1)) * 0.51, torch.tensor(1e-2))
            assert torch.all((loaded[name].float() - value.float()).abs() <= tolerance + 1e-2 * value.float().abs()), name
    return codec


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    return _tiny_codec(tmp_path_factory.mktemp("s2lic") / "tiny.safetensors")


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (8, 10, 3)).astype(np.uint8)
    return np.kron(base, np.ones((6, 6, 1), dtype=np.uint8))[:45, :59]  # odd size, smooth blocks


def test_round_trip_has_the_picture_size_and_exact_symbols(codec, image):
    data = codec.encode(image, quality=1.5)
    header, sections = bitstream.unpack(data)
    assert (header.height, header.width, header.codec) == (45, 59, "s2lic")
    out = codec.decode(data)
    assert out.shape == image.shape and out.dtype == np.uint8
    # the decoder's symbols are the encoder's
    x = torch.from_numpy(np.pad(image, ((0, 19), (0, 5), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    enc = codec.frozen.compress(x, 384)
    dec = codec.frozen.decode_symbols(sections, codec.z_shape(header), 384)
    assert torch.equal(enc["walk"]["symbols"], dec["walk"]["symbols"])
    assert torch.equal(enc["walk"]["indexes"], dec["walk"]["indexes"])
    assert enc["strings"] == sections


def test_file_size_tracks_the_ideal_code_length(codec, image):
    x = torch.from_numpy(np.pad(image, ((0, 19), (0, 5), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    enc = codec.frozen.compress(x, 512)
    payload_bits = 8 * sum(len(s) for s in enc["strings"])
    ideal = codec.frozen.estimated_bits(enc)
    # ANS: at most the final state and the sentinel words per section beyond the information content
    assert ideal - 64 <= payload_bits <= ideal + 2 * (64 + 32) + 64


def test_decoding_does_not_depend_on_thread_count(codec, image):
    assert_decoding_ignores_thread_count(codec, codec.encode(image, quality=2))


def test_latents_have_the_grid_and_bits(codec, image):
    data = codec.encode(image, quality=1)
    header, sections = bitstream.unpack(data)
    lat = codec.latents_parsed(header, sections)
    assert tuple(lat.tensor.shape) == (32, 4, 4) and lat.stride == (16, 16)
    assert lat.bits.shape == (4, 4) and float(lat.bits.sum()) > 0
    total_bits = 8 * sum(len(s) for s in sections)
    assert abs(float(lat.bits.sum()) - total_bits) < 0.05 * total_bits + 200


def test_damaged_and_foreign_streams_are_refused_with_typed_errors(codec, image, tmp_path):
    data = codec.encode(image, quality=1)
    header, sections = bitstream.unpack(data)
    damaged = bytearray(sections[1])
    damaged[len(damaged) // 2] ^= 0x5A
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, [sections[0], bytes(damaged)])
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, [sections[0], sections[1][:-8]])
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, sections[:1])
    other = _tiny_codec(tmp_path / "other.safetensors", seed=1)
    with pytest.raises(WeightsMismatchError):
        other.decode(data)


def test_bad_arguments_and_weights_are_refused(codec, image, tmp_path):
    with pytest.raises(CodecArgumentError):
        codec.encode(image, quality=9)
    with pytest.raises(CodecArgumentError):
        codec.encode(image, effort="extreme")
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    with pytest.raises(WeightsError):
        S2licCodec.from_weights(tmp_path / "bad.safetensors")


def test_coding_redundant_float_copies_are_int8_and_checked(tmp_path):
    from neuralcodecs.weightfiles import load_weights, save_weights

    path = tmp_path / "w.safetensors"
    _tiny_codec(path)
    tensors, meta = load_weights(path)
    int8 = [k for k in tensors if k.startswith("model8.") and not k.endswith(".scale")]
    assert int8 and all(tensors[k].dtype == torch.int8 for k in int8)
    assert any(k.startswith("model8.h_s.") for k in int8) and not any(k.startswith("model.h_s.") and k.endswith("weight") for k in tensors)
    assert not any(".lrp." in k for k in int8)  # the decoder runs LRP in float
    broken = dict(tensors)
    broken[int8[0]] = broken[int8[0]].float()
    save_weights(tmp_path / "broken.safetensors", broken, meta)
    with pytest.raises(WeightsError):
        S2licCodec.from_weights(tmp_path / "broken.safetensors")


@pytest.mark.parametrize("context", [
    dict(slices=1, checkerboard=False, lrp=False, param_hidden=(32,)),
    dict(slices=4, checkerboard=True, context="conv", param_hidden=(32,), context_width=16),
])
def test_lower_rungs_code_through_the_same_path(tmp_path, image, context):
    codec = _tiny_codec(tmp_path / "rung.safetensors", transform="conv", context=context)
    data = codec.encode(image, quality=2)
    header, sections = bitstream.unpack(data)
    assert codec.decode(data).shape == image.shape
    # the rung's decoder recovers exactly the encoder's symbols and scale indexes, from the file's sections
    x = torch.from_numpy(np.pad(image, ((0, 19), (0, 5), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    enc = codec.frozen.compress(x, 512)
    dec = codec.frozen.decode_symbols(sections, codec.z_shape(header), 512)
    assert enc["strings"] == sections
    assert torch.equal(enc["walk"]["symbols"], dec["walk"]["symbols"]) and torch.equal(enc["walk"]["indexes"], dec["walk"]["indexes"])


def test_encoder_effort_lowers_the_real_rate_distortion_cost(codec, image, monkeypatch):
    """Refined latents: same decoder, a lower lambda * 255^2 * MSE + bpp measured on the real file."""
    monkeypatch.setitem(EFFORT_STEPS, "medium", 12)  # the mechanism, at a test's cost
    lam = codec.frozen.model.lambdas[1]

    def cost(effort):
        data = codec.encode(image, quality=2, effort=effort)
        out = codec.decode(data).astype(np.float64)
        mse = np.mean((out - image) ** 2) / 255**2
        return lam * 255**2 * mse + 8 * len(data) / (image.shape[0] * image.shape[1])

    assert cost("medium") < cost("fast")


def test_mutated_s2lic_files_decode_or_raise_bitstream_errors(codec, image):
    seeds = [codec.encode(image, quality=1.5), codec.encode(image[:20, :33, 0], quality=2)]
    report = assert_mutants_decode_or_raise_bitstream_errors(codec, seeds, 120, 4 * 45 * 59)
    # the resealed payload mutants reached the entropy decoder, which found the damage (not only the CRC)
    assert report["rejected_by_class"].get("CorruptPayloadError", 0) > 0, report["rejected_by_class"]
