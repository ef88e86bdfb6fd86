"""The hyperprior codec with its shipped weights: real files, exact latents, typed errors."""


import numpy as np
import pytest
import torch

import neuralcodecs as nc
from neuralcodecs import bitstream
from neuralcodecs.anchors import anchor
from neuralcodecs.errors import (
    BadMagicError,
    CodecArgumentError,
    CorruptPayloadError,
    CrcMismatchError,
    DecodeBudgetError,
    HeaderFieldError,
    SectionLayoutError,
    TruncatedError,
    UnknownCodecError,
    UnsupportedVersionError,
    WeightsMismatchError,
)
from neuralcodecs.image.base import pixels_to_tensor
from neuralcodecs.metrics import psnr
from neuralcodecs.weightfiles import load_weights, save_weights


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (513, 769)])
def test_odd_sizes_round_trip_with_their_true_size(codec, shape):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    data = codec.encode(pixels, quality=5)
    header = nc.read_header(data)
    assert (header.height, header.width) == shape
    out = nc.decode(data)
    assert out.shape == (*shape, 3) and out.dtype == np.uint8


def test_decoder_recovers_exactly_the_encoders_latents(codec, small_photo):
    frozen = codec.frozen
    for q256 in (256, 3 * 256 + 77, 8 * 256):
        x = pixels_to_tensor(small_photo, 64, codec.device)
        enc = frozen.compress(x, q256)
        dec = frozen.decode_symbols(enc["strings"], enc["shape"], q256)
        assert torch.equal(dec["z_symbols"], enc["symbols"]["z_symbols"])
        assert torch.equal(dec["y_symbols"], enc["symbols"]["y_symbols"])
        assert torch.equal(dec["means"], enc["symbols"]["means"])
        assert torch.equal(dec["y_indexes"], enc["symbols"]["y_indexes"])


def test_file_size_matches_the_ideal_code_length(codec, small_photo):
    x = pixels_to_tensor(small_photo, 64, codec.device)
    enc = codec.frozen.compress(x, 4 * 256)
    payload = sum(len(s) for s in enc["strings"])
    ideal = codec.frozen.estimated_bits(enc["symbols"]) / 8
    assert ideal <= payload <= ideal * 1.01 + 16


def test_rate_grows_and_distortion_falls_with_quality(codec, small_photo):
    sizes, quality = [], []
    for q in (1, 2.5, 4, 6, 8):
        data = codec.encode(small_photo, quality=q)
        sizes.append(len(data))
        quality.append(psnr(small_photo, codec.decode(data)))
    assert sizes == sorted(sizes) and len(set(sizes)) == len(sizes)
    assert quality == sorted(quality)


# The shipped weights were trained on 2 CPU cores (29k steps) and do not yet beat JPEG on
# this photo (Kodak: 6-13 of 24 images at qualities 3-6; see docs/evaluation.md and the issue notes).
# Until GPU-trained weights land, this guards against regressions: broken weights, a
# desynchronized decoder or a lost rate point fall far more than this below JPEG.
JPEG_GAP_DB = 2.5


def test_stays_near_jpeg_at_equal_size_on_the_bundled_photo(codec, photo):
    jpeg = anchor("jpeg")
    for q in (2, 4, 6):
        data = codec.encode(photo, quality=q)
        ours = psnr(photo, codec.decode(data))
        # best JPEG that is not larger than our file
        best = max(
            (psnr(photo, jpeg.decode(d)) for d in (jpeg.encode(photo, jq) for jq in range(1, 96)) if len(d) <= len(data)),
            default=0.0,
        )
        assert ours > best - JPEG_GAP_DB, f"quality {q}: {ours:.2f} dB vs JPEG {best:.2f} dB at <= {len(data)} bytes"


def test_typed_errors_for_damaged_files(codec, small_stream, tmp_path):
    data = small_stream
    with pytest.raises(TruncatedError):
        nc.decode(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(CrcMismatchError):
        nc.decode(bytes(flipped))
    with pytest.raises(BadMagicError):
        nc.decode(b"GIF8" + data[4:])
    newer = bytearray(data)
    newer[4] = bitstream.FORMAT_VERSION + 1
    with pytest.raises(UnsupportedVersionError):
        nc.decode(bytes(newer))
    # the same file decoded with other weights: one changed tensor changes the fingerprint
    tensors, meta = load_weights(codec_weights_path())
    tensors["model.g_s.6.bias"] = tensors["model.g_s.6.bias"] + 0.01
    other = tmp_path / "other.safetensors"
    save_weights(other, tensors, meta)
    with pytest.raises(WeightsMismatchError):
        nc.decode(data, weights=other)


def codec_weights_path():
    from neuralcodecs import registry

    return registry.spec("hyperprior").weights_path


def _rewrite(data: bytes, **changes) -> bytes:
    header, sections = bitstream.unpack(data)
    sections = changes.pop("sections", sections)
    for k, v in changes.items():
        setattr(header, k, v)
    return bitstream.pack(header, sections, section_frames=[0] * len(sections), keyframes=[0])


def test_valid_containers_with_wrong_content_raise_typed_errors(small_stream):
    header, sections = bitstream.unpack(small_stream)
    with pytest.raises(UnknownCodecError):
        nc.decode(_rewrite(small_stream, codec="nosuchcodec"))
    with pytest.raises(SectionLayoutError):
        nc.decode(_rewrite(small_stream, sections=sections + [b"abcd"]))
    with pytest.raises(SectionLayoutError):  # y section far larger than its geometry allows
        nc.decode(_rewrite(small_stream, sections=[sections[0], sections[1] * 400]))
    with pytest.raises(HeaderFieldError):
        nc.decode(_rewrite(small_stream, config={"quality_x256": 99999, "latent_channels": 192}))
    with pytest.raises(HeaderFieldError):
        nc.decode(_rewrite(small_stream, config={"quality_x256": 512}))
    # a payload changed after the CRC was recomputed: caught by the entropy decoder
    damaged = bytearray(sections[1])
    damaged[len(damaged) // 3] ^= 0x01
    with pytest.raises(CorruptPayloadError):
        nc.decode(_rewrite(small_stream, sections=[sections[0], bytes(damaged)]))
    # another geometry than the payload was made for
    with pytest.raises(CorruptPayloadError):
        nc.decode(_rewrite(small_stream, width=header.width + 64))


def test_quality_outside_the_range_is_refused(codec, small_photo):
    for q in (0.5, 8.5, float("nan"), "4"):
        with pytest.raises(CodecArgumentError):
            codec.encode(small_photo, quality=q)


def test_grayscale_input_decodes_gray(codec, small_photo):
    gray = small_photo[..., 1]
    data = codec.encode(gray, quality=4)
    assert nc.read_header(data).color == bitstream.COLOR_GRAY
    out = nc.decode(data)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert psnr(np.repeat(gray[..., None], 3, 2), out) > 25


def test_crafted_huge_header_with_tiny_sections_is_refused_before_any_network(codec):
    """4096x4096 announced, 4-byte sections: refused by the section-size lower bound; with sections
    of the smallest possible sizes, by the budget (checked after the layout, FORMAT.md check 19)."""
    header = bitstream.Header(codec="hyperprior", fingerprint=codec.fingerprint, width=4096, height=4096,
                              config={"quality_x256": 1024, "latent_channels": codec.latent_channels})
    data = bitstream.pack(header, [b"\x01\x00\x00\x00", b"\x01\x00\x00\x00"])
    with pytest.raises(SectionLayoutError, match="between"):
        nc.decode(data, max_pixels=2**31)
    h, w = codec.z_shape(header)
    frozen = codec.frozen
    smallest = [bytes(frozen.z_coder.min_section_bytes(frozen.model.N * h * w)),
                bytes(frozen.y_coder.min_section_bytes(frozen.model.M * 16 * h * w))]
    data = bitstream.pack(header, smallest)
    with pytest.raises(DecodeBudgetError, match="max_memory"):
        nc.decode(data, max_pixels=2**31, max_memory="64M")
    with pytest.raises(DecodeBudgetError, match="max_pixels"):
        nc.decode(data, max_pixels=10**6)


def test_fractional_gains_agree_in_v2_and_v1_streams_keep_their_rule(codec):
    """v2 interpolates the mean gain geometrically, like the log-gain; v1 linearly (kept)."""
    frozen = codec.frozen
    worst = {1: 0.0, 2: 0.0}
    for q256 in range(256, 256 * frozen.num_levels + 1, 32):
        for version in (1, 2):
            gain, log_gain, _ = frozen.gains(q256, version)
            mismatch = (gain.double() / 4096).log() - log_gain.double() / 64
            worst[version] = max(worst[version], float(mismatch.abs().max()))
    # v2: only rounding remains: half a 2**-6 log unit at the levels, half a unit interpolating
    assert worst[2] <= 1 / 64 + 1e-3
    assert worst[1] > worst[2] + 0.01  # v1's linear gain drifts from the log-linear log-gain
    for q256 in range(256, 256 * frozen.num_levels + 1, 256):  # integer levels: both rules agree
        assert torch.equal(frozen.gains(q256, 1)[0], frozen.gains(q256, 2)[0])


def test_latents_are_the_decoders_latents_with_bits_per_position(codec, small_photo):
    data = codec.encode(small_photo, quality=3)
    lat = nc.latents(data)
    header, sections = bitstream.unpack(data)
    dec = codec.frozen.decode_symbols(sections, codec.z_shape(header), 768)
    expected = codec.frozen.dequantize(dec["y_symbols"], dec["means"], 768)[0]
    assert lat.tensor.shape == (192, 12, 16) and torch.equal(lat.tensor, expected)
    assert lat.stride == (16, 16) and lat.grid == (12, 16) and (lat.height, lat.width) == (192, 256)
    ideal = codec.frozen.estimated_bits(codec.frozen.analyze(pixels_to_tensor(small_photo, 64, torch.device("cpu")), 768))
    assert float(lat.bits.sum()) == pytest.approx(ideal, rel=1e-4)
    assert (lat.bits > 0).all()


def test_tiled_synthesis_matches_whole_synthesis(codec, photo):
    data = codec.encode(photo[:256, :384], quality=5)
    header, sections = bitstream.unpack(data)
    dec = codec.frozen.decode_symbols(sections, codec.z_shape(header), 5 * 256)
    y_hat = codec.frozen.dequantize(dec["y_symbols"], dec["means"], 5 * 256)
    whole = codec.frozen.synthesize_pixels(y_hat, 256, 384, tile=64, halo=3)
    tiled = codec.frozen.synthesize_pixels(y_hat, 256, 384, tile=8, halo=3)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    assert np.mean(whole != tiled) < 1e-3


def test_encoder_effort_lowers_the_real_rate_distortion_cost(codec, small_photo, monkeypatch):
    """SGA-refined latents: same decoder, a lower lambda * 255^2 * MSE + bpp measured on the real file."""
    from neuralcodecs.image.hyperprior_options import EFFORT_STEPS

    monkeypatch.setitem(EFFORT_STEPS, "medium", 40)  # the mechanism, at a test's cost
    image = np.ascontiguousarray(small_photo[:64, :96])
    lam = codec.frozen.model.lambdas[1]

    def cost(effort):
        data = codec.encode(image, quality=2, effort=effort)
        out = codec.decode(data).astype(np.float64)
        return lam * np.mean((out - image) ** 2) + 8 * len(data) / (image.shape[0] * image.shape[1])

    assert cost("medium") < cost("fast")
    with pytest.raises(Exception, match="effort"):
        codec.encode(image, effort="extreme")


def test_sga_rounding_anneals_to_the_nearer_integer():
    import torch

    from neuralcodecs.fitting import sga_round, sga_temperature

    x = torch.tensor([0.1, 0.45, 0.55, 0.9, -1.3, 2.0]).repeat(2000, 1).requires_grad_()
    g = torch.Generator().manual_seed(0)
    hot = sga_round(x, 0.5, g)
    assert ((hot - x).abs() < 1).all() and hot.std(0)[:4].min() > 0.05  # random, between the neighbours
    cold = sga_round(x, 1e-3, g)
    assert torch.allclose(cold.mean(0), torch.round(x[0]), atol=0.05)
    hot.sum().backward()
    assert x.grad.abs().sum() > 0
    assert sga_temperature(0, 100) == sga_temperature(35, 100) == 0.5 and abs(sga_temperature(100, 100) - 0.5 * 2.718281828**-1.3) < 1e-9
