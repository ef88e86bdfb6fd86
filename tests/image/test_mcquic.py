"""The mcquic codec on a tiny untrained model: quantizer, files, exactness, errors."""

import json
import math

import numpy as np
import pytest
import torch

from neuralcodecs import bitstream
from neuralcodecs.entropy.coders import CategoricalCoder
from neuralcodecs.errors import BitstreamError, CodecArgumentError, WeightsError, WeightsMismatchError
from neuralcodecs.image.mcquic.codec import McQuicCodec
from neuralcodecs.image.mcquic.configs import nominal_bpp
from neuralcodecs.image.mcquic.model import McQuicModel
from neuralcodecs.image.mcquic.objective import quality_loss
from neuralcodecs.image.mcquic.quantizer import MultiCodebookQuantizer
from neuralcodecs.image.mcquic.weights import export_weights
from codec_checks import assert_decoding_ignores_thread_count, assert_mutants_decode_or_raise_bitstream_errors

TINY = dict(channels=16, ladder=[[1, [16, 8, 4]], [4, [32, 16, 8]]])


def _tiny_codec(path, seed=0, usage_seed=None):
    torch.manual_seed(seed)
    model = McQuicModel(**TINY)
    if usage_seed is not None:  # skewed priors, as training leaves them
        g = torch.Generator().manual_seed(usage_seed)
        for quantizers in model.quantizers:
            for quantizer in quantizers:
                quantizer.usage.copy_(torch.rand(quantizer.usage.shape, generator=g) ** 3)
    export_weights(model, path, json.loads(json.dumps(TINY)))
    return McQuicCodec.from_weights(path)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    return _tiny_codec(tmp_path_factory.mktemp("mcquic") / "tiny.safetensors", usage_seed=1)


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (8, 10, 3)).astype(np.uint8)
    return np.kron(base, np.ones((9, 9, 1), dtype=np.uint8))[:70, :83]  # odd size, smooth blocks


def test_gumbel_training_picks_codewords_and_eval_picks_the_nearest():
    torch.manual_seed(0)
    q = MultiCodebookQuantizer(groups=2, codewords=8, channels=6)
    x = torch.randn(2, 6, 3, 4)
    q.train()
    out, codes = q(x)
    groups = out.reshape(2, 2, 3, 3, 4).permute(0, 1, 3, 4, 2)  # (B, m, h, w, d)
    for g in range(2):  # every output vector is a codeword of its group
        d = torch.cdist(groups[:, g].reshape(-1, 3), q.codebook[g].detach())
        assert torch.all(d.min(1).values < 1e-5)
    out.sum().backward()  # straight-through: the codebook learns from the output
    assert q.codebook.grad is not None and q.codebook.grad.abs().sum() > 0
    q.eval()
    out_eval, codes_eval = q(x)
    assert torch.equal(codes_eval, q.distances(x).argmin(-1)) and torch.equal(codes_eval, codes)
    assert torch.allclose(out_eval, q.lookup(codes_eval))


def test_annealed_gumbel_noise_ends_at_the_nearest_codeword():
    torch.manual_seed(0)
    q = MultiCodebookQuantizer(groups=2, codewords=64, channels=8).train()
    x = torch.randn(4, 8, 5, 5) * 0.1
    nearest = q.distances(x).argmin(-1)
    sampled = [q(x, noise)[0] for noise in (1.0, 0.0)]
    assert not torch.allclose(sampled[0], q.lookup(nearest))  # the paper's sampling explores
    assert torch.allclose(sampled[1], q.lookup(nearest))  # no noise: the coding-time codeword
    model = McQuicModel(channels=8, ladder=[(2, (16, 16))], noise_anneal_steps=100)
    scales = []
    for step in (0, 50, 100, 400):
        model.steps.fill_(step)
        scales.append(model.gumbel_noise())
    assert scales[0] == 1.0 and abs(scales[1] - 0.5) < 1e-9 and scales[2] == scales[3] == 0.0
    assert McQuicModel(channels=8, ladder=[(2, (16, 16))]).gumbel_noise() == 1.0  # paper: no annealing


def test_dead_codewords_are_replaced_by_copies_of_live_ones():
    torch.manual_seed(0)
    q = MultiCodebookQuantizer(groups=1, codewords=8, channels=4)
    q.usage.copy_(torch.tensor([[0.5, 0.3, 0.2, 0.0, 0.0, 0.0, 1e-9, 0.0]]))
    before = q.codebook.detach().clone()
    changed = q.reassign_dead(torch.Generator().manual_seed(0))
    assert changed == 4 / 8  # five dead, at most k/2 revived
    after = q.codebook.detach()
    moved = [i for i in range(8) if not torch.equal(after[0, i], before[0, i])]
    assert len(moved) == 4 and all(i >= 3 for i in moved)
    for i in moved:  # each is an exact copy of another codeword
        assert any(torch.equal(after[0, i], before[0, j]) for j in range(8) if j != i)
    assert torch.equal(after[0, :3], before[0, :3])


def test_round_trip_has_the_picture_size_and_exact_codes(codec, image):
    data = codec.encode(image, quality=2)
    header, sections = bitstream.unpack(data)
    assert (header.height, header.width, header.codec, header.config) == (70, 83, "mcquic", {"quality": 2})
    assert len(sections) == 3
    out = codec.decode(data)
    assert out.shape == image.shape and out.dtype == np.uint8
    x = torch.from_numpy(np.pad(image, ((0, 58), (0, 45), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    expected = codec.model.encode_codes(x, 1)
    got = codec.symbol_arrays(header, sections)
    assert [c.shape for c in got] == [(4, 8, 8), (4, 4, 4), (4, 2, 2)]
    assert all(np.array_equal(g, e[0].numpy()) for g, e in zip(got, expected))


def test_file_size_tracks_the_ideal_code_length(codec, image):
    data = codec.encode(image, quality=1)
    header, sections = bitstream.unpack(data)
    codes = codec.symbol_arrays(header, sections)
    for level, (section, c) in enumerate(zip(sections, codes)):
        ideal = sum(CategoricalCoder.symbol_bits(c[g], codec.priors[0][level][g]).sum() for g in range(c.shape[0]))
        # ANS: at most the final state's 64 bits plus the 32-bit sentinel beyond the information content
        assert ideal - 64 <= 8 * len(section) <= ideal + 64 + 32 + 32


def test_uniform_priors_cost_the_nominal_bits_per_pixel(tmp_path, image):
    codec = _tiny_codec(tmp_path / "uniform.safetensors")  # fresh usage: uniform priors
    padded_pixels = 128 * 128
    for quality, (m, ks) in enumerate(TINY["ladder"], start=1):
        data = codec.encode(image, quality=quality)
        _, sections = bitstream.unpack(data)
        payload = 8 * sum(len(s) for s in sections)
        nominal = nominal_bpp(m, tuple(ks)) * padded_pixels
        assert nominal == pytest.approx(sum(m * math.log2(k) * (128 // (16 * 2**l)) ** 2 for l, k in enumerate(ks)))
        assert nominal - 64 * 3 <= payload <= nominal + 128 * 3


def test_decoding_does_not_depend_on_thread_count(codec, image):
    assert_decoding_ignores_thread_count(codec, codec.encode(image, quality=2))


def test_latents_have_the_grid_and_bits(codec, image):
    data = codec.encode(image, quality=2)
    header, sections = bitstream.unpack(data)
    lat = codec.latents_parsed(header, sections)
    assert tuple(lat.tensor.shape) == (16, 16, 16) and lat.stride == (8, 8)
    total_bits = 8 * sum(len(s) for s in sections)
    assert abs(float(lat.bits.sum()) - total_bits) < 0.05 * total_bits + 3 * 96
    assert set(lat.side) == {"codes.0", "codes.1", "codes.2"}


def test_damaged_and_foreign_streams_are_refused_with_typed_errors(codec, image, tmp_path):
    data = codec.encode(image, quality=2)
    header, sections = bitstream.unpack(data)
    damaged = bytearray(sections[0])
    damaged[len(damaged) // 2] ^= 0x5A
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, [bytes(damaged), *sections[1:]])
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, [sections[0][:-8], *sections[1:]])
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, sections[:2])
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header.__class__(**{**header.__dict__, "config": {"quality": 7}}), sections)
    other = _tiny_codec(tmp_path / "other.safetensors", seed=1)
    with pytest.raises(WeightsMismatchError):
        other.decode(data)


def test_bad_arguments_and_weights_are_refused(codec, image, tmp_path):
    from neuralcodecs.weightfiles import load_weights, save_weights

    with pytest.raises(CodecArgumentError):
        codec.encode(image, quality=1.5)
    with pytest.raises(CodecArgumentError):
        codec.encode(image, quality=3)
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    with pytest.raises(WeightsError):
        McQuicCodec.from_weights(tmp_path / "bad.safetensors")
    path = tmp_path / "w.safetensors"
    _tiny_codec(path)
    tensors, meta = load_weights(path)
    for key, value in (("prior.1.0", tensors["prior.1.0"].float()), ("prior.0.2", tensors["prior.0.2"][:, :2])):
        save_weights(tmp_path / "broken.safetensors", {**tensors, key: value}, meta)
        with pytest.raises(WeightsError):
            McQuicCodec.from_weights(tmp_path / "broken.safetensors")


def test_training_loss_reaches_every_part_and_counts_usage():
    torch.manual_seed(0)
    model = McQuicModel(**TINY).train()
    out = quality_loss(model, torch.rand(2, 3, 64, 64))
    out["loss"].backward()
    assert float(out["bpp"]) > 0 and int(model.steps) == 1
    for name in ("g_a.0.weight", "g_s.6.0.weight", "levels.2.stage.0.conv1.weight", "levels.0.side_head.1.weight"):
        assert model.get_parameter(name).grad is not None, name
    used = [q for row in model.quantizers for q in row if q.codebook.grad is not None]
    assert used and all(not torch.allclose(q.usage, torch.full_like(q.usage, 1 / q.codewords)) for q in used)


def test_mutated_mcquic_files_decode_or_raise_bitstream_errors(codec, image):
    seeds = [codec.encode(image, quality=2), codec.encode(image[:20, :33, 0], quality=1)]
    report = assert_mutants_decode_or_raise_bitstream_errors(codec, seeds, 150, 4 * 70 * 83)
    # the resealed payload mutants reached the entropy decoder, which found the damage (not only the CRC)
    assert report["rejected_by_class"].get("CorruptPayloadError", 0) > 0, report["rejected_by_class"]


def test_rate_weight_zero_gives_the_nearest_codewords_and_larger_weights_cheaper_codes(codec, image):
    """The entropy-constrained choice: weight 0 is ``fast``'s rule; a heavier weight never codes
    more bits (on the shipped model's skewed priors, the point of the search)."""
    from neuralcodecs.image.base import pixels_to_tensor
    from neuralcodecs.image.mcquic.search import code_bits

    x = pixels_to_tensor(image, codec.pad_multiple, "cpu")
    with torch.no_grad():
        y = codec.model.analysis(x)
        bits = code_bits(codec.priors, 1)
        nearest = codec.model.encode_codes(x, 1)
        assert all(torch.equal(a, b) for a, b in zip(nearest, codec.model.penalized_codes(y, 1, 0.0, bits)))
        totals = [sum(float(b[torch.arange(b.shape[0])[:, None, None], c[0]].sum()) for b, c in
                      zip(bits, codec.model.penalized_codes(y, 1, w, bits))) for w in (0.0, 0.05, 1.0, 50.0)]
    assert totals == sorted(totals, reverse=True) and totals[-1] < totals[0]


def test_encoder_effort_lowers_the_real_rate_distortion_cost(small_photo):
    """The code search on the shipped model (an untrained one has no rate-distortion ladder):
    same decoder, a lower lambda * 255^2 * MSE + bpp on the real file than ``fast``'s (lambda the
    image's ladder slope, the trade-off it searches at)."""
    import neuralcodecs as nc
    from neuralcodecs.image.base import pixels_to_tensor
    from neuralcodecs.image.mcquic.search import quality_lambda

    shipped = nc.load_codec("mcquic")
    image = np.ascontiguousarray(small_photo[:128, :128])
    x = pixels_to_tensor(image, shipped.pad_multiple, "cpu")
    with torch.no_grad():
        lam = quality_lambda(shipped.model, shipped.model.analysis(x), x, 2, shipped.priors, image.shape[:2])
    assert lam > 0

    def cost(effort):
        data = shipped.encode(image, quality=3, effort=effort)
        mse = np.mean((shipped.decode(data).astype(np.float64) - image) ** 2)
        return lam * mse + 8 * len(data) / (image.shape[0] * image.shape[1])

    assert cost("medium") < cost("fast")
    with pytest.raises(CodecArgumentError, match="effort"):
        shipped.encode(image, effort="extreme")
