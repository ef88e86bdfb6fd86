"""The overfitted video codecs (nerv, hnerv, nirvana) on tiny clips: exact parameter round trips
through files, random access equal to the full decode, odd sizes, typed errors on damaged or
forged streams, resumable fitting, threads, fuzzing and the CLI."""

import json

import numpy as np
import pytest
from PIL import Image

import neuralcodecs as nc
from codec_checks import assert_decoding_ignores_thread_count, assert_mutants_decode_or_raise_bitstream_errors
from neuralcodecs import bitstream, registry
from neuralcodecs.cli import main as cli_main
from neuralcodecs.demo import PHOTO
from neuralcodecs.errors import (CodecArgumentError, StateFileError, CorruptPayloadError, CrcMismatchError, HeaderFieldError,
                                 SectionLayoutError, TruncatedError, UnknownCodecError, WeightsError,
                                 WeightsMismatchError)
from neuralcodecs.inr import weight_coding
from neuralcodecs.inr.options import parse_model_size

CODECS = ("nerv", "hnerv", "nirvana", "nerv-boost", "hnerv-boost", "nervpp")


@pytest.fixture(scope="module")
def pan():
    """A pan over the demo photo: 5 frames of 39x57 (odd sizes; the smallest networks must hold fewer values
    than the clip has samples, or the encoder refuses it)."""
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    return np.stack([photo[150 + t : 189 + t, 300 + 3 * t : 357 + 3 * t] for t in range(5)])


@pytest.fixture(scope="module")
def streams(pan):
    return {name: registry.load(name).encode(pan, quality=0.01, effort="fast") for name in CODECS}


def _psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2))


@pytest.mark.parametrize("name", CODECS)
def test_frames_decode_and_any_frame_decodes_alone(name, streams, pan):
    data = streams[name]
    header = nc.read_header(data)
    assert (header.codec, header.frames, header.width, header.height) == (name, 5, 57, 39)
    full = nc.decode(data)
    assert full.shape == pan.shape and full.dtype == np.uint8
    assert _psnr(full, pan) > 14  # a fitted network, not noise (fast effort, 10k parameters)
    for k in (0, 3, 4):
        assert np.array_equal(nc.decode(data, frames=[k])[0], full[k])
    assert np.array_equal(nc.decode(data, frames=[4, 1]), full[[1, 4]])


@pytest.mark.parametrize("name", ("nerv", "hnerv", "nerv-boost", "hnerv-boost", "nervpp"))
def test_parameter_sections_round_trip_exactly(name, streams):
    """Every parameter section decodes to integers that re-encode to the same bytes, and the file
    is made of those sections (no hidden state)."""
    from neuralcodecs.inr import hnerv_codec, nerv_codec

    header, sections = bitstream.unpack(streams[name])
    arch = json.loads(sections[0])
    codec = registry.load(name)
    cfg = codec.config_of(arch)
    if not name.startswith("hnerv"):
        layouts = [codec.layout(cfg)]
    else:
        layouts = [hnerv_codec.decoder_layout(cfg, codec.decoder), hnerv_codec.embedding_layout(cfg, header.frames)]
    for section, layout in zip(sections[1:], layouts):
        q = weight_coding.decode(section, layout)
        assert weight_coding.encode(q) == section
        assert all(np.abs(v).max(initial=0) <= 2 ** (b - 1) - 1 for v, b in zip(q.values, q.bits))
    assert len(sections) == 1 + len(layouts)
    assert nerv_codec.parameter_layout(nerv_codec.config_of(json.loads(bitstream.unpack(streams["nerv"])[1][0])))


def test_nirvana_groups_chain_as_differences(streams, pan):
    from neuralcodecs.inr.nirvana_codec import config_of, decode_group

    header, sections = bitstream.unpack(streams["nirvana"])
    cfg = config_of(json.loads(sections[0]))
    assert header.section_frames[1:] == (0, 3) and [k for k, _ in header.keyframes] == [0]
    ints0, _, _ = decode_group(cfg, sections[1], None)
    ints1, _, _ = decode_group(cfg, sections[2], ints0)
    delta = {n: ints1[n] - ints0[n] for n in ints0}
    # the second group starts from the first: its coded differences are smaller than its values
    assert sum(int(d.abs().sum()) for d in delta.values()) < 0.5 * sum(int(v.abs().sum()) for v in ints1.values())


@pytest.mark.parametrize("name", CODECS)
def test_decoding_is_identical_across_thread_counts(name, streams):
    assert_decoding_ignores_thread_count(registry.load(name), streams[name])


@pytest.mark.parametrize("name", CODECS)
def test_damaged_and_forged_streams_raise_typed_errors(name, streams):
    data = streams[name]
    codec = registry.load(name)
    with pytest.raises(TruncatedError):
        nc.decode(data[: len(data) // 2])
    spans = bitstream.section_spans(data)
    damaged = bytearray(data)
    damaged[spans[1][0] + 20] ^= 0x10
    with pytest.raises(CrcMismatchError):
        nc.decode(bytes(damaged))
    header, sections = bitstream.unpack(data)
    tags, keys = list(header.section_frames), [k for k, _ in header.keyframes]

    def forge(arch=None, config=None, payload=None, fingerprint=None):
        h = bitstream.Header(**{**header.__dict__, "config": config or header.config,
                                "fingerprint": fingerprint or header.fingerprint})
        secs = [arch if arch is not None else sections[0], *(payload or sections[1:])]
        return bitstream.pack(h, secs, section_frames=tags[: len(secs)], keyframes=keys)

    arch = json.loads(sections[0])
    with pytest.raises(HeaderFieldError):
        codec.decode(forge(arch=b"not json"))
    with pytest.raises(HeaderFieldError):
        codec.decode(forge(arch=json.dumps(arch, indent=1).encode()))  # not canonical
    with pytest.raises(HeaderFieldError):
        codec.decode(forge(config={"parameters": header.config["parameters"] + 1}))
    big = dict(arch)
    key = {"nerv": "mlp_hidden", "hnerv": "embed_channels", "nirvana": "hidden", "nerv-boost": "mlp_hidden",
           "hnerv-boost": "condition_channels", "nervpp": "stem_hidden"}[name]
    big[key] = 10**9
    with pytest.raises(HeaderFieldError):
        codec.decode(forge(arch=json.dumps(big, sort_keys=True, separators=(",", ":")).encode()))
    with pytest.raises(WeightsMismatchError):
        codec.decode(forge(fingerprint=bytes(16)))
    with pytest.raises(CorruptPayloadError):
        codec.decode(forge(payload=[b"\x00" * 7 for _ in sections[1:]]))
    with pytest.raises(SectionLayoutError):
        h = bitstream.Header(**header.__dict__)
        codec.decode(bitstream.pack(h, sections[:1], section_frames=tags[:1], keyframes=[k for k in keys if k == -1]))
    with pytest.raises(UnknownCodecError):
        registry.load("nerv" if name != "nerv" else "hnerv").decode(data)


@pytest.mark.parametrize("name", CODECS)
def test_mutated_streams_raise_typed_errors(name, streams):
    assert_mutants_decode_or_raise_bitstream_errors(registry.load(name), [streams[name]], 40, 20_000)


def test_bad_arguments_are_typed(pan):
    codec = registry.load("nerv")
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, quality=0.001)
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, effort="forever")
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, intra_period=3)
    with pytest.raises(CodecArgumentError):
        codec.encode(pan, quality=0.01, effort="fast", prune=0.95)
    with pytest.raises(CodecArgumentError):
        registry.load("hnerv").encode(pan, prune=0.5)
    with pytest.raises(WeightsError):
        registry.load("nerv", weights="x.safetensors")
    data = codec.encode(pan, quality=0.005, effort="fast")
    with pytest.raises(CodecArgumentError):
        nc.decode(data, frames=[5])
    with pytest.raises(CodecArgumentError):
        registry.load("nerv").latents(data)
    assert parse_model_size("0.3M") == 0.3 and parse_model_size("300k") == 0.3 and parse_model_size("NeRV-S") == 3.2
    with pytest.raises(CodecArgumentError):
        parse_model_size("0.3")


def test_hnerv_latents_are_its_embeddings(streams):
    latents = nc.latents(streams["hnerv"])
    assert latents.tensor.shape[0] == 5 and latents.tensor.shape[1] == 16
    sy, sx = latents.stride
    assert latents.grid[0] * sy >= 39 and latents.grid[1] * sx >= 57


@pytest.mark.parametrize("name", ("nerv", "nirvana"))
def test_interrupted_fitting_resumes_to_the_same_file(name, pan, tmp_path, monkeypatch):
    codec = registry.load(name)
    reference = codec.encode(pan, quality=0.005, effort="fast")
    state = tmp_path / "fit.state"
    module = __import__(f"neuralcodecs.inr.{name}", fromlist=["x"])
    net = module.Nerv if name == "nerv" else module.NirvanaGroupNet
    original, calls = net.forward, [0]

    def dies(self, *args):
        calls[0] += 1
        if calls[0] == {"nerv": 170, "nirvana": 125}[name]:  # nirvana: inside its second group
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(net, "forward", dies)
    nerv_save = None
    if name == "nerv":  # checkpoint every 50 steps so that the kill lands after one
        from neuralcodecs.inr import nerv_codec

        nerv_save = nerv_codec.SAVE_EVERY
        monkeypatch.setattr(nerv_codec, "SAVE_EVERY", 50)
    with pytest.raises(KeyboardInterrupt):
        codec.encode(pan, quality=0.005, effort="fast", fit_state=str(state))
    assert state.exists()
    monkeypatch.setattr(net, "forward", original)
    assert codec.encode(pan, quality=0.005, effort="fast", fit_state=str(state)) == reference
    with pytest.raises(StateFileError, match="another fit"):  # the state of another clip is refused
        codec.encode(np.ascontiguousarray(pan[::-1]), quality=0.005, effort="fast", fit_state=str(state))
    assert nerv_save is None or nerv_save > 50


def test_nerv_pruning_zeroes_weights_and_still_fits(pan):
    codec = registry.load("nerv")
    dense = codec.encode(pan, quality=0.01, effort="fast")
    pruned = codec.encode(pan, quality=0.01, effort="fast", prune=0.5)
    assert len(pruned) < 0.8 * len(dense)
    assert _psnr(nc.decode(pruned), pan) > 14


def test_cli_encodes_with_a_model_size_and_decodes(tmp_path, pan, capsys):
    frames = tmp_path / "clip"
    frames.mkdir()
    for t, frame in enumerate(pan[:3]):
        Image.fromarray(frame).save(frames / f"im{t + 1}.png")
    out = tmp_path / "clip.ncb"
    assert cli_main(["encode", str(frames), "-o", str(out), "--codec", "nirvana", "--size", "30k"]) == 2  # 20,007 samples
    assert "larger than the clip" in capsys.readouterr().err and not out.exists()
    assert cli_main(["encode", str(frames), "-o", str(out), "--codec", "nirvana", "--size", "6k", "--effort", "fast"]) == 0
    header = nc.read_header(out.read_bytes())
    assert header.codec == "nirvana" and abs(header.config["parameters"] - 6_000) < 0.25 * 6_000
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "out.y4m")]) == 0
    assert cli_main(["decode", str(out), "-o", str(tmp_path / "one"), "--frames", "2"]) == 0
    from neuralcodecs.video.io import read_video

    assert np.array_equal(read_video(tmp_path / "one").frames[0], nc.decode(out.read_bytes(), frames=[2])[0])
    from neuralcodecs.video.io import rgb_to_yuv420, yuv420_to_rgb

    decoded, written = nc.decode(out.read_bytes()), read_video(tmp_path / "out.y4m").frames
    assert written.shape == decoded.shape == (3, *pan.shape[1:])
    assert np.array_equal(written, yuv420_to_rgb(*rgb_to_yuv420(decoded)))  # the decode, through y4m's 4:2:0 planes
    capsys.readouterr()
    assert cli_main(["encode", str(frames), "-o", str(tmp_path / "x.ncb"), "--codec", "nirvana", "--size", "8k",
                     "--quality", "0.01"]) == 2
    assert cli_main(["encode", str(frames), "-o", str(tmp_path / "y.ncb"), "--codec", "stem", "--size", "8k"]) == 2
    assert capsys.readouterr().err.count("error:") == 2
    assert not (tmp_path / "x.ncb").exists() and not (tmp_path / "y.ncb").exists()


def test_default_video_codec_is_still_stem():
    assert registry.default_codec("video") == "stem"


def test_decoding_ignores_the_thread_count_at_a_real_frame_size(monkeypatch):
    """At 320x180 a NeRV's library convolutions gave frames one level apart with 1 and 2 threads;
    decoding renders on one thread whatever the caller's setting."""
    from neuralcodecs.inr import options

    monkeypatch.setitem(options.EFFORT_EPOCHS, "fast", 3)
    clip = np.random.default_rng(0).integers(0, 256, (3, 180, 320, 3), dtype=np.uint8)
    codec = registry.load("nerv")
    assert_decoding_ignores_thread_count(codec, codec.encode(clip, quality=0.1, effort="fast"))


@pytest.mark.parametrize("name, size, c0", [("NeRV-S", 3_201_905, 26), ("NeRV-M", 6_282_001, 58), ("NeRV-L", 12_524_563, 112)])
def test_nerv_paper_recipe_builds_the_published_networks(name, size, c0):
    """NeRV-S/M/L at 1280x720 under ``recipe=paper``: the official code's widths (C0, C0, then halving
    to 96), its 512-wide stem and 40 encoding levels."""
    from neuralcodecs.inr import nerv

    cfg = nerv.for_size(720, 1280, int(parse_model_size(name) * 1e6), recipe="paper")
    assert cfg.channels == (c0, c0, 96, 96, 96, 96) and cfg.strides == (5, 2, 2, 2, 2) and cfg.base == (9, 16)
    assert (cfg.mlp_hidden, cfg.encoding_levels) == (512, 40) and nerv.count_parameters(cfg) == size


def test_paper_recipes_encode_the_published_configurations(monkeypatch):
    """``recipe=paper`` reaches the published configurations from the codec: NeRV's layout and loss,
    NIRVANA's 32x32 patches of 16 channels (a clip just large enough for the smallest of each)."""
    from neuralcodecs.inr import fitting, video_codec

    monkeypatch.setitem(video_codec.EFFORT_EPOCHS, "fast", 1)
    losses = []
    monkeypatch.setattr(fitting, "_loss", lambda kind, out, target: losses.append(kind) or ((out - target) ** 2).mean())
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    clip = np.stack([photo[100 + t : 260 + t, 200 : 400] for t in range(10)])  # 10 x 200x160
    data = registry.load("nerv").encode(clip, quality=0.8, effort="fast", recipe="paper")
    arch = json.loads(bitstream.unpack(data)[1][0])
    assert arch["channels"][2:] == [96] * (len(arch["channels"]) - 2) and arch["mlp_hidden"] == 512
    assert arch["encoding_levels"] == 40 and set(losses) == {"l1_ssim"}
    assert nc.decode(data).shape == clip.shape
    data = registry.load("nirvana").encode(clip, quality=0.05, effort="fast", recipe="paper")
    arch = json.loads(bitstream.unpack(data)[1][0])
    assert (arch["patch"], arch["channels"]) == (32, 16)
    assert nc.decode(data, frames=[4]).shape == (1, *clip.shape[1:])


def test_nirvana_paper_training_sees_the_coded_biases_and_convolutions():
    """``quantize_all`` (the paper recipe): the network trains on the 8-bit values its biases and
    convolutions will be coded with, so fitting and the decoded file agree."""
    import torch

    from neuralcodecs.inr.nirvana import NirvanaConfig, NirvanaGroupNet

    torch.manual_seed(0)
    cfg = NirvanaConfig(patch=4, channels=2, hidden=8, group=2)
    aware = NirvanaGroupNet(cfg, quantize_all=True)
    coded = NirvanaGroupNet(cfg)
    others = {n: t for n, t in aware.state_dict().items() if not n.endswith((".q", ".log_step")) and not n.startswith("bits.")}
    coded.load_state_dict({**aware.state_dict(), **weight_coding.dequantize(weight_coding.quantize(others, 8))})
    coords, codes = torch.rand(5, 2) * 2 - 1, torch.randn(2, 2)
    with torch.no_grad():
        torch.testing.assert_close(aware(coords, codes), coded(coords, codes), rtol=0, atol=1e-5)
        plain = NirvanaGroupNet(cfg)
        plain.load_state_dict(aware.state_dict())
        assert not torch.allclose(aware(coords, codes), plain(coords, codes), rtol=0, atol=1e-7)
