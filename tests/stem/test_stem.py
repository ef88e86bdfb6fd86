"""The stem video codec with its shipped weights: exact round trips, random access, the
temporal prior's saving, typed errors, the container's frame index and the CLI."""

import numpy as np
import pytest
import torch
from PIL import Image

import neuralcodecs as nc
from codec_checks import assert_decoding_ignores_thread_count, assert_mutants_decode_or_raise_bitstream_errors
from neuralcodecs import bitstream, registry
from neuralcodecs.cli import main as cli_main
from neuralcodecs.demo import PHOTO
from neuralcodecs.errors import (CodecArgumentError, CrcMismatchError, HeaderFieldError,
                                 TruncatedError, UnsupportedVideoError, WeightsMismatchError)
from neuralcodecs.stem.codec import intra_before, is_intra


@pytest.fixture(scope="module")
def codec():
    return registry.load("stem")


@pytest.fixture(scope="module")
def pan():
    """A pan over the demo photo, 3 pixels right and 1 down per frame: 7 frames of 53x70 (odd sizes)."""
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    return np.stack([photo[150 + t : 203 + t, 300 + 3 * t : 370 + 3 * t] for t in range(7)])


@pytest.fixture(scope="module")
def stream(codec, pan):
    return codec.encode(pan, quality=4, intra_period=4)


def test_latents_round_trip_exactly_and_frames_decode(codec, pan, stream):
    header, sections = bitstream.unpack(stream)
    assert (header.frames, header.width, header.height) == (7, 70, 53)
    assert [k for k, _ in header.keyframes] == [0, 4] and len(sections) == 14
    values = codec.symbol_arrays(header, sections)
    for t in range(7):  # the decoder's lattice latents are the encoder's, frame by frame
        _, expected = codec.analyze(pan[t], 1024)
        assert torch.equal(torch.from_numpy(values[t]), expected)
    out = nc.decode(stream)
    assert out.shape == pan.shape and out.dtype == np.uint8
    psnr = 10 * np.log10(255**2 / np.mean((out.astype(float) - pan) ** 2))
    assert psnr > 25


def test_random_access_equals_full_decode(stream):
    full = nc.decode(stream)
    for frames in ([6], [2, 5], [0]):
        assert np.array_equal(nc.decode(stream, frames=frames), full[frames])


def test_decoding_is_identical_across_thread_counts(codec, stream):
    assert_decoding_ignores_thread_count(codec, stream)


def test_mutated_streams_raise_typed_errors(codec, stream, pan):
    seeds = [stream, codec.encode(pan[:3, :17, :33], quality=7.5, intra_period=0)]
    report = assert_mutants_decode_or_raise_bitstream_errors(codec, seeds, 150, max_pixels=4 * 53 * 70 * 7)
    assert report["rejected"] > 100


def test_p_frames_cost_fewer_bits_than_intra_at_identical_distortion(codec, pan):
    q256 = 1024
    intra = inter = 0
    prev = None
    for frame in pan:
        y, values = codec.analyze(frame, q256)
        if prev is not None:
            intra += sum(map(len, codec.encode_intra(y, values, q256)))
            inter += sum(map(len, codec.encode_inter(y, values, prev, q256)))
        prev = values
    assert inter < 0.9 * intra


def test_file_size_is_close_to_the_ideal_code_length(codec, pan):
    """Each y section is the ANS stream of its symbols: within 1% + 8 bytes of -sum(log2 p)."""
    q256 = 1024
    y, values = codec.analyze(pan[1], q256)
    _, prev = codec.analyze(pan[0], q256)
    chunks = []
    gain, log_gain, _ = codec.hp.gains(q256)
    codec.stem.walk(codec.stem.hyper_latent(y, prev), prev, gain, log_gain,
                    lambda mask, m, i: codec._code_lattice(chunks, values, m, i, mask))
    ideal = sum(codec.lattice.ideal_bits(s, r) for s, r in chunks) / 8
    coded = len(codec.encode_inter(y, values, prev, q256)[1])
    assert ideal <= coded + 8 and coded <= 1.01 * ideal + 8


def test_intra_period_rules():
    assert [t for t in range(10) if is_intra(t, 4)] == [0, 4, 8]
    assert [t for t in range(10) if is_intra(t, 0)] == [0]
    assert intra_before(7, 4) == 4 and intra_before(7, 0) == 0


def test_bad_arguments_and_inputs_are_typed(codec, pan, stream):
    with pytest.raises(CodecArgumentError):
        nc.decode(stream, frames=[7])
    with pytest.raises(CodecArgumentError):
        nc.decode(stream, frames=[])
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, quality=4, intra_period=-1)
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, quality=9)
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, effort="extreme")
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, steps=3)  # not an option of stem
    with pytest.raises(UnsupportedVideoError):
        codec.encode(pan.astype(np.float32))
    with pytest.raises(UnsupportedVideoError):
        codec.encode(pan[0])
    with pytest.raises(UnsupportedVideoError):
        codec.encode(pan, max_frames=3)
    with pytest.raises(UnsupportedVideoError):
        codec.encode("/nonexistent/clip.mp4")


def test_damaged_streams_name_their_frame(stream):
    header, sections = bitstream.unpack(stream)
    spans = bitstream.section_spans(stream)
    cut = spans[9][0] + 10  # inside section 9: frame 4's y section
    with pytest.raises(TruncatedError, match="frame 4") as info:
        nc.decode(stream[:cut])
    assert info.value.frame == 4
    damaged = bytearray(stream)
    damaged[spans[5][0] + 12] ^= 0x40  # a payload byte of frame 2's y section
    with pytest.raises(CrcMismatchError, match="frame 2"):
        nc.decode(bytes(damaged))
    # a header that says another intra period no longer matches the frame index
    header.config = {**header.config, "intra_period": 3}
    forged = bitstream.pack(header, sections, section_frames=list(header.section_frames), keyframes=[0, 4])
    with pytest.raises(HeaderFieldError):
        nc.decode(forged)
    header.config = {**header.config, "intra_period": 4}
    header.fingerprint = bytes(16)
    other = bitstream.pack(header, sections, section_frames=list(header.section_frames), keyframes=[0, 4])
    with pytest.raises(WeightsMismatchError):
        registry.load("stem").decode(other)


def test_cli_encodes_a_frame_folder_and_decodes_frames(tmp_path, pan, capsys):
    frames = tmp_path / "clip"
    frames.mkdir()
    for t, frame in enumerate(pan[:5]):
        Image.fromarray(frame).save(frames / f"im{t + 1}.png")
    out = tmp_path / "clip.ncb"
    assert cli_main(["encode", str(frames), "-o", str(out), "--codec", "stem", "--quality", "3",
                     "--intra-period", "2", "--fps", "25"]) == 0
    assert "x 5 frames" in capsys.readouterr().out
    header = nc.read_header(out.read_bytes())
    assert header.fps == (25, 1) and header.config["intra_period"] == 2
    assert cli_main(["encode", str(frames), "-o", str(tmp_path / "default.ncb")]) == 0  # a folder: the video codec
    assert nc.read_header((tmp_path / "default.ncb").read_bytes()).codec == "stem"
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "all.y4m")]) == 0
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "three"), "--frames", "3"]) == 0
    from neuralcodecs.video.io import read_video

    everything = read_video(tmp_path / "all.y4m").frames
    full = nc.decode(out.read_bytes())
    assert np.array_equal(read_video(tmp_path / "three").frames[0], full[3])
    assert everything.shape == full.shape  # y4m is 4:2:0 (chroma subsampled), so close but not equal
    assert 10 * np.log10(255**2 / np.mean((everything.astype(float) - full) ** 2)) > 35
    capsys.readouterr()
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "x.png")]) == 2
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "x.y4m"), "--frames", "9-3"]) == 2
    assert cli_main(["encode", str(frames), "-o", str(tmp_path / "y.ncb"), "--codec", "stem", "--target-bpp", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and not (tmp_path / "x.png").exists() and not (tmp_path / "y.ncb").exists()


def test_train_and_export_through_the_cli(tmp_path):
    """``ncodec train --codec stem`` on video folders (latent pairs), then ``ncodec export``: a loadable codec."""
    from neuralcodecs.stem.codec import StemCodec

    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    for k in range(2):  # two sequences of three frames: pans over the demo photo
        folder = tmp_path / "clips" / f"{k:04d}"
        folder.mkdir(parents=True)
        for t in range(3):
            Image.fromarray(photo[100 * k + 2 * t : 100 * k + 2 * t + 160, 300 + 3 * t : 460 + 3 * t]).save(folder / f"im{t + 1}.png")
    vimeo = str(tmp_path / "clips")
    run = tmp_path / "run"
    assert cli_main(["train", "--codec", "stem", "--data", vimeo, "--out", str(run), "--steps", "2", "--batch-size", "2",
                     "--crop", "128", "--threads", "1", "--log-every", "1", "--model-args", '{"temporal_channels": [32, 32], '
                     '"context_channels": 16, "param_hidden": [32]}']) == 0
    assert (run / "latent_pairs.safetensors").exists() and (run / "checkpoint.safetensors").exists()
    weights = tmp_path / "stem-test.safetensors"
    assert cli_main(["export", str(run / "checkpoint.safetensors"), "-o", str(weights), "--codec", "stem",
                     "--calibration-data", vimeo]) == 0
    codec = StemCodec.from_weights(weights)
    clip = np.zeros((3, 20, 30, 3), np.uint8) + np.arange(30, dtype=np.uint8)[None, None, :, None] * 8
    data = codec.encode(clip, quality=2, intra_period=0)
    assert codec.decode(data).shape == clip.shape
    with pytest.raises(WeightsMismatchError):
        registry.load("stem").decode(data)
    assert cli_main(["train", "--codec", "stem", "--data", str(PHOTO.parent), "--out", str(tmp_path / "x"),
                     "--steps", "1"]) == 2  # one still picture: no sequence of two or more frames


def test_latents_carry_the_bits_of_the_file(stream):
    lat = nc.latents(stream)
    header = nc.read_header(stream)
    assert tuple(lat.tensor.shape) == (7, 192, 4, 8) and tuple(lat.bits.shape) == (7, 4, 8)
    payload_bits = 8 * sum(len(s) for s in bitstream.unpack(stream)[1])
    assert abs(float(lat.bits.sum()) - payload_bits) < 0.02 * payload_bits + 64 * 14  # ideal code length vs ANS bytes
    assert float(lat.bits.std()) > 0  # per position, not spread evenly
    assert header.frames == lat.frames


@pytest.mark.parametrize("variant", [{"residual": True}, {"temporal": False}, {"checkerboard": False}])
def test_variants_round_trip_exactly(variant, pan):
    """The ablation and residual variants (small, untrained but perturbed) freeze into exact coders."""
    from neuralcodecs.image.base import pixels_to_tensor
    from neuralcodecs.stem.codec import StemCodec
    from neuralcodecs.stem.frozen import FrozenStem
    from neuralcodecs.stem.training import StemTrainingModel
    from neuralcodecs.stem.weights import calibration_record

    torch.manual_seed(0)
    model = StemTrainingModel(temporal_channels=[16, 16], context_channels=8, param_hidden=[16], **variant)
    with torch.no_grad():
        for p in model.entropy.parameters():
            p.add_(0.01 * torch.randn_like(p))  # move the zero-initialized corrections off zero
    hp = registry.load("hyperprior")
    frames = pan[:4]
    with torch.no_grad():
        latents = torch.cat([hp.frozen.model.g_a(pixels_to_tensor(f, 64, torch.device("cpu"))) for f in frames])
    pairs = torch.stack([latents[t : t + 2] for t in range(3)])  # (3, 2, M, 4, 8)
    lattice = registry.load("stem").lattice  # the shipped tables (building them takes seconds)
    codec = StemCodec(hp, FrozenStem.freeze(model.entropy, calibration_record(model, pairs)), lattice, bytes(16))
    data = codec.encode(frames, quality=5, intra_period=0)
    values = codec.symbol_arrays(*bitstream.unpack(data))
    for t in range(4):
        assert torch.equal(torch.from_numpy(values[t]), codec.analyze(frames[t], 5 * 256)[1])


def test_stem_finds_the_hyperprior_it_was_trained_on_by_fingerprint(tmp_path, monkeypatch, codec, stream):
    """Retraining ``hyperprior``: the shipped file changes, the old one stays as a retired file, and stem
    keeps decoding its streams with the old transforms; without the old file, a typed error names it."""
    from neuralcodecs import paths
    from neuralcodecs.errors import WeightsError
    from neuralcodecs.stem.codec import StemCodec
    from neuralcodecs.stem.image_codec import IMAGE_WEIGHTS
    from neuralcodecs.weightfiles import load_weights, read_metadata, save_weights

    assert IMAGE_WEIGHTS == registry.spec("hyperprior").weights
    shipped_stem, shipped_image = registry.spec("stem").weights_path, registry.spec("hyperprior").weights_path
    image_fp = read_metadata(shipped_stem)["image_fingerprint"]
    assert codec.image.fingerprint.hex() == image_fp  # the shipped stem file finds its hyperprior
    tensors, meta = load_weights(shipped_image)
    tensors["model.g_s.6.bias"] = tensors["model.g_s.6.bias"] + 0.02  # a "retrained" hyperprior
    (tmp_path / shipped_stem.name).symlink_to(shipped_stem)
    save_weights(tmp_path / IMAGE_WEIGHTS, tensors, meta)
    monkeypatch.setattr(paths, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(WeightsError, match=image_fp):
        StemCodec.from_weights(tmp_path / shipped_stem.name)
    (tmp_path / "hyperprior-before.safetensors").symlink_to(shipped_image)  # the old file, retired
    again = StemCodec.from_weights(tmp_path / shipped_stem.name)
    assert again.image.fingerprint.hex() == image_fp and again.fingerprint == codec.fingerprint
    assert np.array_equal(again.decode(stream), codec.decode(stream))


def test_refined_i_frames_lower_their_real_cost_and_p_frames_follow(codec, pan, monkeypatch):
    """effort medium: the I-frame's lattice latents refined for the frame (a lower lambda * 255^2 *
    MSE + bpp of that frame, measured on the real file's sections); P-frames still decode exactly
    from the refined I-frame; fast stays the analysis output."""
    from neuralcodecs.image.variable_rate import level_lambda
    from neuralcodecs.stem.options import EFFORT_STEPS

    monkeypatch.setitem(EFFORT_STEPS, "medium", 10)  # the mechanism, at a test's cost
    clip = pan[:2]
    lam = level_lambda(codec.hp.model.lambdas, 1024)

    def first_frame_cost(effort):
        data = codec.encode(clip, quality=4, intra_period=0, effort=effort)
        header, sections = bitstream.unpack(data)
        out = nc.decode(data)
        assert out.shape == clip.shape
        mse = np.mean((out[0].astype(np.float64) - clip[0]) ** 2)
        return lam * mse + 8 * sum(map(len, sections[:2])) / (clip.shape[1] * clip.shape[2]), data

    fast, fast_data = first_frame_cost("fast")
    medium, medium_data = first_frame_cost("medium")
    assert medium < fast and medium_data != fast_data
    assert fast_data == codec.encode(clip, quality=4, intra_period=0)
