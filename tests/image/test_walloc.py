"""The walloc codec on a tiny model: wavelet packet, companding, files, latents, errors."""

import json

import numpy as np
import pytest
import pywt
import torch

from neuralcodecs import bitstream
from neuralcodecs.entropy.coders import CategoricalCoder
from neuralcodecs.errors import BitstreamError, CodecArgumentError, WeightsError, WeightsMismatchError
from neuralcodecs.image.walloc.codec import WaLLoCCodec
from neuralcodecs.image.walloc.model import LATENT_MAX, SYMBOLS, WaLLoCModel, compand, expand
from neuralcodecs.image.walloc.objective import quality_loss
from neuralcodecs.image.walloc.prediction import from_residuals, to_residuals
from neuralcodecs.image.walloc.wavelets import WaveletPacket2D
from neuralcodecs.image.walloc.weights import export_weights, symbol_counts
from codec_checks import assert_decoding_ignores_thread_count, assert_mutants_decode_or_raise_bitstream_errors

TINY = dict(latent_channels=[3, 12], levels=2, width=64, blocks=1, attention=True)  # f = 4


def _tiny_codec(path, seed=0, uniform=False, prediction=True):
    torch.manual_seed(seed)
    model = WaLLoCModel(**TINY).eval()
    crops = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    priors = [torch.ones(c, SYMBOLS, dtype=torch.int64) if uniform else n + 1 for c, n in zip(TINY["latent_channels"], symbol_counts(model, crops))]
    residual_priors = None
    if prediction:
        residual_priors = [torch.ones(c, SYMBOLS, dtype=torch.int64) if uniform else n + 1
                           for c, n in zip(TINY["latent_channels"], symbol_counts(model, crops, residuals=True))]
    export_weights(model, path, json.loads(json.dumps(TINY)), priors, residual_priors=residual_priors)
    return WaLLoCCodec.from_weights(path)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    return _tiny_codec(tmp_path_factory.mktemp("walloc") / "tiny.safetensors")


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (6, 7, 3)).astype(np.uint8)
    return np.kron(base, np.ones((7, 7, 1), dtype=np.uint8))[:37, :45]  # odd size


def test_one_packet_level_is_pywavelets_periodized_dwt2_and_inverts():
    x = torch.rand(2, 3, 16, 24, dtype=torch.float64)
    for wavelet in ("bior4.4", "haar", "bior2.2"):
        transform = WaveletPacket2D(wavelet, levels=1)
        bands = transform.analysis(x)
        cA, (cH, cV, cD) = pywt.dwt2(x.numpy(), wavelet, mode="periodization")
        for f, reference in enumerate((cA, cH, cV, cD)):  # channel 4c + f
            np.testing.assert_allclose(bands[:, f::4].numpy(), reference, atol=1e-10)
        torch.testing.assert_close(transform.synthesis(bands), x, atol=1e-10, rtol=0)
    transform = WaveletPacket2D("bior4.4", levels=1)
    deep = WaveletPacket2D("bior4.4", levels=3)
    coefficients = deep.analysis(x[..., :16, :16])
    assert coefficients.shape == (2, 192, 2, 2)
    torch.testing.assert_close(deep.synthesis(coefficients), x[..., :16, :16], atol=1e-10, rtol=0)
    # every band is split again: the packet's channel 16 of colour 0 is the level-1 LH band's LL band twice
    np.testing.assert_allclose(coefficients[:, 16].numpy(), transform.analysis(transform.analysis(transform.analysis(x[..., :16, :16])[:, 1:2]))[:, 0].numpy(), atol=1e-10)
    with pytest.raises(ValueError):
        deep.analysis(torch.rand(1, 3, 12, 16))
    with pytest.raises(ValueError):  # filter lengths the polyphase synthesis does not handle
        WaveletPacket2D("db2", levels=1)


def test_companding_is_bounded_and_inverted():
    z = torch.linspace(-300, 300, 601)
    u = compand(z)
    assert torch.all(u.abs() < LATENT_MAX + 0.5) and torch.all(u[1:] > u[:-1])
    middle = z.abs() < 150
    torch.testing.assert_close(expand(u)[middle], z[middle], atol=1e-2, rtol=1e-4)
    assert torch.round(compand(torch.tensor([1e6, -1e6]))).tolist() == [LATENT_MAX, -LATENT_MAX]


def test_round_trip_has_the_picture_size_and_exact_latents(codec, image):
    data = codec.encode(image, quality=2)
    header, sections = bitstream.unpack(data)
    assert (header.height, header.width, header.codec, header.config) == (37, 45, "walloc", {"quality": 2, "prediction": 1})
    assert len(sections) == 1
    out = codec.decode(data)
    assert out.shape == image.shape and out.dtype == np.uint8
    x = torch.from_numpy(np.pad(image, ((0, 3), (0, 3), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    expected = codec.model.encode_latents(x, 1)[0].numpy() + LATENT_MAX
    got = codec.symbol_arrays(header, sections)[0]
    assert got.shape == (12, 10, 12) and np.array_equal(got, expected)
    reference = codec.model.decode_latents(torch.from_numpy(expected - LATENT_MAX)[None], 1)
    assert np.array_equal(out, (reference[0].detach().permute(1, 2, 0).numpy()[:37, :45] * 255).round().astype(np.uint8))


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (1, 17), (9, 2)])
def test_tiny_and_thin_pictures_round_trip(codec, size):
    pixels = np.random.default_rng(1).integers(0, 255, (*size, 3)).astype(np.uint8)
    for quality in (1, 2):
        data = codec.encode(pixels, quality=quality)
        assert codec.decode(data).shape == pixels.shape
        lat = codec.latents(data)
        assert lat.picture_tensor().shape[-2:] == (-(-size[0] // 4), -(-size[1] // 4))
    assert codec.decode(codec.encode(pixels[..., 0], quality=1)).shape == pixels.shape  # grayscale in, gray RGB out


def test_file_size_tracks_the_ideal_code_length(codec, image, tmp_path):
    data = codec.encode(image, quality=2)
    header, sections = bitstream.unpack(data)
    assert header.config == {"quality": 2, "prediction": 1}
    residuals = to_residuals(codec.symbol_arrays(header, sections)[0])
    ideal = sum(CategoricalCoder.symbol_bits(residuals[c], codec.residual_priors[1][c]).sum() for c in range(residuals.shape[0]))
    assert ideal - 64 <= 8 * len(sections[0]) <= ideal + 64 + 32 + 32
    uniform = _tiny_codec(tmp_path / "uniform.safetensors", uniform=True)
    _, sections = bitstream.unpack(uniform.encode(image, quality=1))
    nominal = 3 * 10 * 12 * np.log2(SYMBOLS)
    assert nominal - 64 <= 8 * len(sections[0]) <= nominal + 128


def test_prediction_residuals_invert_on_any_grid():
    rng = np.random.default_rng(3)
    for shape in [(1, 1, 1), (2, 1, 9), (3, 7, 1), (4, 6, 11)]:
        symbols = rng.integers(0, SYMBOLS, shape)
        residuals = to_residuals(symbols)
        assert residuals.min() >= 0 and residuals.max() < SYMBOLS
        assert np.array_equal(from_residuals(residuals), symbols)
    ramp = np.broadcast_to(np.arange(8) * 3 + 100, (1, 8, 8))  # an edge-free ramp: MED predicts it exactly inside
    assert (to_residuals(ramp)[:, 1:, 1:] == 0).all() and (to_residuals(ramp)[:, 0, 1:] != 0).all()


def test_streams_without_prediction_still_decode_and_cost_more_on_smooth_pictures(tmp_path, image):
    old = _tiny_codec(tmp_path / "old.safetensors", prediction=False)
    data = old.encode(image, quality=2)
    header, _ = bitstream.unpack(data)
    assert header.config == {"quality": 2} and old.decode(data).shape == image.shape
    new = _tiny_codec(tmp_path / "new.safetensors")
    assert np.array_equal(new.decode(new.encode(image, quality=2)), old.decode(data))  # same latents, same pixels
    smooth = np.clip(np.add.outer(np.arange(64), np.arange(80))[:, :, None] * np.array([1.0, 2.0, 0.5]), 0, 255).astype(np.uint8)
    assert len(new.encode(smooth, quality=2)) < len(old.encode(smooth, quality=2))


def test_decoding_does_not_depend_on_thread_count(codec, image):
    assert_decoding_ignores_thread_count(codec, codec.encode(image, quality=2))


def test_latents_are_the_integers_with_their_bits(codec, image):
    data = codec.encode(image, quality=1)
    header, sections = bitstream.unpack(data)
    lat = codec.latents_parsed(header, sections)
    assert tuple(lat.tensor.shape) == (3, 10, 12) and lat.stride == (4, 4)  # 2**J with J = 2
    assert torch.equal(lat.tensor, torch.from_numpy(codec.symbol_arrays(header, sections)[0] - LATENT_MAX).float())
    total_bits = 8 * len(sections[0])
    assert abs(float(lat.bits.sum()) - total_bits) <= 64 + 64


def test_damaged_and_foreign_streams_are_refused_with_typed_errors(codec, image, tmp_path):
    data = codec.encode(image, quality=2)
    header, sections = bitstream.unpack(data)
    damaged = bytearray(sections[0])
    damaged[len(damaged) // 2] ^= 0x5A
    for bad_sections in ([bytes(damaged)], [sections[0][:-8]], [sections[0], sections[0]], []):
        with pytest.raises(BitstreamError):
            codec.decode_parsed(header, bad_sections)
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header.__class__(**{**header.__dict__, "config": {"quality": 3}}), sections)
    other = _tiny_codec(tmp_path / "other.safetensors", seed=1)
    with pytest.raises(WeightsMismatchError):
        other.decode(data)


def test_bad_arguments_and_weights_are_refused(codec, image, tmp_path):
    from neuralcodecs.weightfiles import load_weights, save_weights

    for quality in (1.5, 3, 0):
        with pytest.raises(CodecArgumentError):
            codec.encode(image, quality=quality)
    (tmp_path / "bad.safetensors").write_bytes(b"not weights")
    with pytest.raises(WeightsError):
        WaLLoCCodec.from_weights(tmp_path / "bad.safetensors")
    path = tmp_path / "w.safetensors"
    _tiny_codec(path)
    tensors, meta = load_weights(path)
    for key, value in (("prior.1", tensors["prior.1"].float()), ("prior.0", tensors["prior.0"][:, :2]), ("prior.0", -tensors["prior.0"])):
        save_weights(tmp_path / "broken.safetensors", {**tensors, key: value}, meta)
        with pytest.raises(WeightsError):
            WaLLoCCodec.from_weights(tmp_path / "broken.safetensors")


def test_training_loss_reaches_every_part_and_counts_symbols():
    torch.manual_seed(0)
    model = WaLLoCModel(**TINY).train()
    before = model.histograms.clone()
    out = quality_loss(model, torch.rand(2, 3, 32, 32))
    out["loss"].backward()
    assert float(out["bpp"]) > 0 and not torch.equal(model.histograms, before)
    trained = [q for q in range(2) if model.encoders[q].weight.grad is not None]
    assert len(trained) == 1  # one quality per step, end to end
    q = trained[0]
    assert model.decoders[q].layers[0].weight.grad is not None and model.decoders[1 - q].layers[0].weight.grad is None
    torch.testing.assert_close(model.histogram(q).sum(1), torch.ones(TINY["latent_channels"][q]))


def test_mutated_walloc_files_decode_or_raise_bitstream_errors(codec, image):
    seeds = [codec.encode(image, quality=2), codec.encode(image[:20, :33, 0], quality=1)]
    report = assert_mutants_decode_or_raise_bitstream_errors(codec, seeds, 150, 4 * 37 * 45)
    # the resealed payload mutants reached the entropy decoder, which found the damage (not only the CRC)
    assert report["rejected_by_class"].get("CorruptPayloadError", 0) > 0, report["rejected_by_class"]


def test_attention_windows_cover_large_grids_and_equal_global_attention_on_one_window():
    from neuralcodecs.image.walloc.model import SelfAttention

    torch.manual_seed(0)
    attention = SelfAttention(64, window=4).eval()
    wide = SelfAttention(64, window=16).eval()
    wide.load_state_dict(attention.state_dict())
    x = torch.randn(1, 64, 4, 4)
    torch.testing.assert_close(attention(x), wide(x))  # one window: global attention
    big = torch.randn(1, 64, 9, 6)
    normed = attention.norm(big)
    expected = big.clone()
    for i in range(0, 9, 4):  # windows 4x4, 4x2, ..., 1x2 at the edges
        for j in range(0, 6, 4):
            expected[..., i : i + 4, j : j + 4] += attention._attend(normed[..., i : i + 4, j : j + 4])
    torch.testing.assert_close(attention(big), expected)
    assert not torch.allclose(wide(big), expected)  # global attention differs


def test_the_refinement_rate_term_is_the_files_code_length(codec, image):
    """Hard-rounded, the refinement's rate is the exact -log2 p the file's tables give the residuals."""
    from neuralcodecs.image.base import pixels_to_tensor
    from neuralcodecs.image.walloc.refine import bit_tables, latent_bits

    x = pixels_to_tensor(image, codec.pad_multiple, "cpu")
    u = codec.model.companded(x, 1).detach()
    rounded, bits = latent_bits(u, bit_tables(codec.residual_priors[1]), True, None, None)
    symbols = (rounded[0].to(torch.int64) + LATENT_MAX).numpy()
    residuals = to_residuals(symbols)
    expected = sum(CategoricalCoder.symbol_bits(residuals[c], codec.residual_priors[1][c]).sum() for c in range(symbols.shape[0]))
    assert torch.equal(rounded, torch.round(u.clamp(-LATENT_MAX, LATENT_MAX)))
    assert float(bits) == pytest.approx(expected, rel=1e-5)
    # an SGA sample costs between the bits of its two integer neighbours, and the gradient reaches u
    u.requires_grad_(True)
    sample, relaxed = latent_bits(u, bit_tables(codec.residual_priors[1]), True, 0.3, torch.Generator().manual_seed(0))
    relaxed.backward()
    assert torch.all((sample >= torch.floor(u)) & (sample <= torch.floor(u) + 1)) and u.grad.abs().sum() > 0


def test_encoder_effort_lowers_the_real_rate_distortion_cost(codec, image, monkeypatch):
    """Refined latents: same decoder, a lower lambda * 255^2 * MSE + bpp measured on the real file,
    lambda the image's own ladder slope the refinement trades at."""
    from neuralcodecs.image.base import pixels_to_tensor
    from neuralcodecs.image.walloc.options import EFFORT_STEPS
    from neuralcodecs.image.walloc.refine import bit_tables, ladder_lambda

    monkeypatch.setitem(EFFORT_STEPS, "medium", 12)  # the mechanism, at a test's cost
    x = pixels_to_tensor(image, codec.pad_multiple, "cpu")
    tables = [bit_tables(t) for t in codec.residual_priors]
    lam = ladder_lambda(codec.model, x, 1, tables, True, image.shape[:2])

    def cost(effort):
        data = codec.encode(image, quality=2, effort=effort)
        mse = np.mean((codec.decode(data).astype(np.float64) - image) ** 2)
        return (lam * mse + 8 * len(data) / (image.shape[0] * image.shape[1])) if lam else mse

    assert cost("medium") < cost("fast")
    with pytest.raises(CodecArgumentError, match="effort"):
        codec.encode(image, effort="extreme")
