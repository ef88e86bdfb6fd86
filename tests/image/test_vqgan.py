"""The vqgan codec on a tiny model: k-means ladder, codebook-only fine-tuning, files, errors."""

import json
import math

import numpy as np
import pytest
import torch

from neuralcodecs import bitstream
from neuralcodecs.entropy.coders import CategoricalCoder
from neuralcodecs.errors import BitstreamError, CodecArgumentError, WeightsError, WeightsMismatchError
from neuralcodecs.image.vqgan.codec import VQGANCodec
from neuralcodecs.image.vqgan.kmeans import kmeans
from neuralcodecs.image.vqgan.model import VQGANModel
from neuralcodecs.image.vqgan.objective import ms_ssim_loss, reconstruction_loss
from neuralcodecs.image.vqgan.weights import export_weights, index_counts
from codec_checks import assert_decoding_ignores_thread_count, assert_mutants_decode_or_raise_bitstream_errors

TINY = dict(ch=8, ch_mult=[1, 1, 2], res_blocks=1, code_dim=8, ladder=[4, 8, 32])  # f = 4


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    model = VQGANModel(**TINY)
    model.quantizers["32"].codebook.data.normal_()  # spread, as training leaves it
    model.init_ladder()
    return model.eval()


def _tiny_codec(path, seed=0, uniform=False):
    model = _tiny_model(seed)
    crops = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    priors = {K: torch.ones(K, dtype=torch.int64) if uniform else c + 1 for K, c in index_counts(model, crops).items()}
    export_weights(model, path, json.loads(json.dumps(TINY)), priors)
    return VQGANCodec.from_weights(path)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    return _tiny_codec(tmp_path_factory.mktemp("vqgan") / "tiny.safetensors")


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (6, 7, 3)).astype(np.uint8)
    return np.kron(base, np.ones((7, 7, 1), dtype=np.uint8))[:37, :45]  # odd size


def test_kmeans_finds_separated_clusters_deterministically():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(20, 2, generator=g) for c in centres])
    found, labels = kmeans(points, 3, seed=5)
    again, _ = kmeans(points, 3, seed=5)
    assert torch.equal(found, again)
    assert torch.cdist(centres, found).min(1).values.max() < 0.1
    assert all(len(set(labels[i * 20 : (i + 1) * 20].tolist())) == 1 for i in range(3))
    exact, _ = kmeans(points[:5], 5)
    assert torch.cdist(points[:5], exact).min(1).values.max() < 1e-6


def test_ladder_starts_as_kmeans_of_the_base_codebook():
    model = _tiny_model()
    base = model.quantizers["32"].codebook.detach()
    for K in (4, 8):
        centroids, labels = kmeans(base, K)
        assert torch.allclose(model.quantizers[str(K)].codebook, centroids)
        assert torch.equal(model.quant_convs[str(K)].weight, model.quant_convs["32"].weight)


def test_ms_ssim_loss_is_computed_in_float32_under_bf16_autocast():
    # bf16 convolutions inside MS-SSIM drift (and overflow to inf on real photographs)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 192), torch.linspace(0, 1, 192), indexing="ij")
    x = torch.stack([yy, xx, (yy + xx) / 2])[None].repeat(2, 1, 1, 1) * 0.8 + 0.1
    x_hat = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    reference = ms_ssim_loss(x_hat, x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = ms_ssim_loss(x_hat, x)
    assert torch.isfinite(under_autocast) and abs(float(under_autocast - reference)) < 1e-5


def test_codebook_fine_tuning_changes_only_codebooks_and_quantizer_convolutions():
    base = _tiny_model()
    torch.manual_seed(1)
    model = VQGANModel(**{**TINY, "stage": "codebooks"})
    model.load_state_dict(base.state_dict())
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(6):
        out = reconstruction_loss(model, torch.rand(2, 3, 32, 32))
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    trainable = ("quantizers.", "quant_convs.", "post_quant_convs.")
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith(trainable) or k == "steps" for k in changed), changed - {"steps"}
    assert any(k.endswith(".codebook") for k in changed) and any(k.startswith("quant_convs.") for k in changed)
    assert not any(k.startswith(("encoder.", "decoder.")) for k in changed)


def test_round_trip_has_the_picture_size_and_exact_indices(codec, image):
    data = codec.encode(image, quality=8)
    header, sections = bitstream.unpack(data)
    assert (header.height, header.width, header.config) == (37, 45, {"codebook": 8})
    out = codec.decode(data)
    assert out.shape == image.shape and out.dtype == np.uint8
    x = torch.from_numpy(np.pad(image, ((0, 3), (0, 3), (0, 0)), mode="edge")).permute(2, 0, 1)[None].float() / 255
    K, indices = codec.indices(header, sections)
    assert K == 8 and np.array_equal(indices, codec.model.encode_indices(x, 8)[0].numpy())
    assert np.array_equal(codec.decode_index_map(indices, 8, 37, 45), out)


def test_file_size_tracks_the_prior_and_uniform_priors_cost_log2_k(codec, image, tmp_path):
    data = codec.encode(image, quality=32)
    header, sections = bitstream.unpack(data)
    _, indices = codec.indices(header, sections)
    ideal = CategoricalCoder.symbol_bits(indices, codec.priors[32]).sum()
    assert ideal - 64 <= 8 * len(sections[0]) <= ideal + 128
    uniform = _tiny_codec(tmp_path / "uniform.safetensors", uniform=True)
    for K in (4, 8, 32):
        _, sections = bitstream.unpack(uniform.encode(image, quality=K))
        fixed_length = 10 * 12 * math.log2(K)
        assert fixed_length - 64 <= 8 * len(sections[0]) <= fixed_length + 128


def test_decoding_does_not_depend_on_thread_count(codec, image):
    assert_decoding_ignores_thread_count(codec, codec.encode(image, quality=4))


def test_latents_are_codewords_with_bits(codec, image):
    data = codec.encode(image, quality=32)
    header, sections = bitstream.unpack(data)
    lat = codec.latents_parsed(header, sections)
    assert tuple(lat.tensor.shape) == (8, 10, 12) and lat.stride == (4, 4)
    assert abs(float(lat.bits.sum()) - 8 * len(sections[0])) < 128
    assert torch.equal(lat.tensor, codec.model.quantizers["32"].codebook[lat.side["indices"]].permute(2, 0, 1).float())


def test_damaged_foreign_and_bad_inputs_are_refused_with_typed_errors(codec, image, tmp_path):
    from neuralcodecs.weightfiles import load_weights, save_weights

    data = codec.encode(image, quality=8)
    header, sections = bitstream.unpack(data)
    damaged = bytearray(sections[0])
    damaged[len(damaged) // 2] ^= 0x5A
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, [bytes(damaged)])
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header, [sections[0][:-8]])
    with pytest.raises(BitstreamError):
        codec.decode_parsed(header.__class__(**{**header.__dict__, "config": {"codebook": 16}}), sections)
    with pytest.raises(WeightsMismatchError):
        _tiny_codec(tmp_path / "other.safetensors", seed=1).decode(data)
    with pytest.raises(CodecArgumentError):
        codec.encode(image, quality=16)
    tensors, meta = load_weights(tmp_path / "other.safetensors")
    save_weights(tmp_path / "broken.safetensors", {**tensors, "prior.8": tensors["prior.8"].float()}, meta)
    with pytest.raises(WeightsError):
        VQGANCodec.from_weights(tmp_path / "broken.safetensors")


def test_mutated_vqgan_files_decode_or_raise_bitstream_errors(codec, image):
    seeds = [codec.encode(image, quality=32), codec.encode(image[:20, :33, 0], quality=4)]
    assert_mutants_decode_or_raise_bitstream_errors(codec, seeds, 150, 4 * 37 * 45)


def test_loss_simulator_and_simple_fill():
    from neuralcodecs.image.vqgan.restore import nearest_fill
    from neuralcodecs.transmission import drop_indices

    lost = drop_indices((10, 12), 0.2, seed=3)
    assert lost.sum() == 24 and np.array_equal(lost, drop_indices((10, 12), 0.2, seed=3))
    indices = np.arange(120).reshape(10, 12) % 7
    filled = nearest_fill(indices, lost, 7)
    assert np.array_equal(filled[~lost], indices[~lost])
    ys, xs = np.nonzero(lost)
    for y, x in zip(ys, xs):  # a copy of a received index at the smallest city-block distance
        d = np.abs(np.arange(10)[:, None] - y) + np.abs(np.arange(12)[None] - x)
        d = np.where(lost, 99, d)
        assert filled[y, x] in indices[d == d.min()]
    with pytest.raises(CodecArgumentError):
        nearest_fill(indices, np.ones_like(lost), 7)


def test_restorer_learns_masked_indices_and_keeps_received_ones():
    from neuralcodecs.image.vqgan.restore import IndexRestorer, restore_lost
    from neuralcodecs.transmission import drop_indices

    torch.manual_seed(0)
    K, W = 6, 8
    restorer = IndexRestorer(K, dim=32, layers=2, heads=2, window=W)
    g = torch.Generator().manual_seed(0)

    def maps(n):  # rows of one value each: a masked index equals its row's received neighbours
        return torch.randint(0, K, (n, W, 1), generator=g).expand(n, W, W).clone()

    held_out = maps(16)
    before = float(restorer.masked_loss(held_out, torch.Generator().manual_seed(1)).detach())
    opt = torch.optim.Adam(restorer.parameters(), lr=3e-3)
    for _ in range(200):
        loss = restorer.masked_loss(maps(16), g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = float(restorer.masked_loss(held_out, torch.Generator().manual_seed(1)).detach())
    assert after < 0.5 * before
    restorer.eval()
    big = np.repeat(np.arange(20)[:, None] % K, 13, axis=1)  # larger than a window: sliding windows
    lost = drop_indices(big.shape, 0.2, seed=0)
    out = restore_lost(restorer, np.where(lost, 0, big), lost)
    assert out.shape == big.shape and np.array_equal(out[~lost], big[~lost])
    assert (out[lost] == big[lost]).mean() > 0.8


def test_encoder_effort_searches_indices_that_lower_the_real_rate_distortion_cost(codec, image):
    """The index search: same decoder, a lower lambda * 255^2 * MSE + bpp on the real file (lambda
    the image's ladder slope, the trade-off it searches at)."""
    from neuralcodecs.image.base import pixels_to_tensor
    from neuralcodecs.image.vqgan.search import codebook_lambda

    x = pixels_to_tensor(image, codec.model.stride, "cpu")
    lam = codebook_lambda(codec.model, x, 8, codec.priors, image.shape[:2])

    def cost(effort):
        data = codec.encode(image, quality=8, effort=effort)
        mse = np.mean((codec.decode(data).astype(np.float64) - image) ** 2)
        return (lam * mse + 8 * len(data) / (image.shape[0] * image.shape[1])) if lam else mse

    fast, medium = cost("fast"), cost("medium")
    assert medium < fast
    with pytest.raises(CodecArgumentError, match="effort"):
        codec.encode(image, effort="extreme")


def test_the_index_search_reads_each_changed_position_in_its_own_neighbourhood():
    """Squared errors summed over each position's 3x3 blocks: one changed block shows in the 9
    positions around it and nowhere else, and the padding outside the true picture never counts."""
    from neuralcodecs.image.vqgan.search import _block_errors

    x = torch.zeros(1, 3, 24, 24)
    picture = x.clone()
    picture[..., 8:12, 12:16] = 1 / 255  # block (2, 3) of a 4-pixel grid
    picture[..., 20:, :] = 1.0  # padding rows
    errors = _block_errors(picture, x, 4, (20, 24))[0]
    assert errors.shape == (6, 6)
    assert torch.equal(errors[1:4, 2:5], torch.full((3, 3), 48.0))  # 16 pixels x 3 channels x 1**2
    assert float(errors.sum()) == 9 * 48.0
