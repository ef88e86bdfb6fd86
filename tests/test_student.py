"""The ``student`` codec (a ``features`` codec): files in, class probabilities out, exact bottleneck.

A tiny untrained student exported to a temporary weights file exercises the format, the
contract and the hostile-input rules; the shipped weights are checked where they are installed.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import neuralcodecs as nc
from neuralcodecs import registry
from neuralcodecs.codec import FEATURES
from neuralcodecs.errors import BitstreamError, CodecArgumentError, HeaderFieldError, WeightsError
from neuralcodecs.fuzz import run_fuzz
from neuralcodecs.student.codec import StudentCodec
from neuralcodecs.student.export import export_weights, load_student
from neuralcodecs.student.model import EntropicStudent


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    model = EntropicStudent(N=4, width=8, lambdas=(1.0, 4.0), stage=2)
    path = tmp_path_factory.mktemp("student") / "tiny.safetensors"
    export_weights(model, path)
    return path


@pytest.fixture(scope="module")
def tiny(tiny_weights):
    return StudentCodec.from_weights(tiny_weights)


def test_registry_declares_a_features_codec():
    spec = registry.spec("student")
    assert spec.kind == FEATURES and spec.capabilities["latents"]
    assert "student" not in registry.names("image")


@pytest.mark.parametrize("shape", [(1, 1, 3), (17, 33, 3), (64, 48, 3), (30, 21)])
def test_any_size_decodes_to_probabilities(tiny, small_photo, shape):
    pixels = small_photo[: shape[0], : shape[1]] if len(shape) == 3 else small_photo[: shape[0], : shape[1], 0]
    data = tiny.encode(pixels, quality=2)
    out = tiny.decode(data)
    assert out.dtype == np.float32 and out.shape == (1000,)
    assert abs(float(out.sum()) - 1) < 1e-4
    header = nc.read_header(data)
    assert (header.height, header.width) == pixels.shape[:2]


def test_small_inputs_make_small_files(tiny, small_photo):
    small, large = (len(tiny.encode(small_photo[:s, :s], quality=1)) for s in (8, 128))
    assert small < large and small < 200


def test_latents_round_trip_exactly(tiny, small_photo):
    pixels = small_photo[:40, :52]
    data = tiny.encode(pixels, quality=2)
    lat = tiny.latents(data)
    assert lat.stride == (4, 4) and lat.tensor.shape == (4, 10, 13) and lat.codec == "student"
    # the encoder's integer symbols, computed directly, equal the decoded ones
    x = nc.perception.imagenet_normalize(nc.image.base.pixels_to_tensor(pixels, 4, torch.device("cpu")))
    with torch.no_grad():
        y = torch.round(tiny.model.encoder(x) * tiny.model.gains(1)[0])
    symbols = y.to(torch.int64)[0] - tiny.medians[1].reshape(-1, 1, 1)
    assert torch.equal(lat.side["symbols"], symbols)
    # re-encoding the decoded symbols gives the same section
    header, sections = nc.bitstream.unpack(data)
    again = tiny.coder.encode(lat.side["symbols"][None].numpy(), tiny._indexes(1, (1, 4, 10, 13)))
    assert again == sections[0]
    # file size against the tables' ideal code length
    ideal_bits = float(lat.bits.sum())
    assert len(sections[0]) * 8 <= ideal_bits + 64 + 32 + 32


def test_features_are_what_decode_summarizes(tiny, small_photo):
    data = tiny.encode(small_photo[:64, :64], quality=1)
    out = tiny.features(data)
    assert set(out) == {"probabilities", "embedding", "cut"}
    assert out["embedding"].shape == (1280,) and out["cut"].shape == (24, 16, 16)
    assert np.array_equal(out["probabilities"], tiny.decode(data))
    assert len(tiny.output_labels()) == 1000


def test_identical_outputs_across_thread_counts(tiny_weights, small_photo):
    code = (
        "import sys, torch, numpy as np; torch.set_num_threads(int(sys.argv[1]));"
        "from neuralcodecs.student.codec import StudentCodec; from PIL import Image;"
        "from neuralcodecs.demo import PHOTO;"
        "c = StudentCodec.from_weights(sys.argv[2]); p = np.asarray(Image.open(PHOTO).convert('RGB'))[:200, :300];"
        "d = c.encode(p, quality=2); sys.stdout.write(d.hex() + ' ' + c.decode(d).tobytes().hex())"
    )
    runs = [subprocess.run([sys.executable, "-c", code, str(t), str(tiny_weights)], capture_output=True, text=True, check=True).stdout
            for t in (1, 2)]
    assert runs[0] == runs[1]


def test_pixel_codec_refuses_features(codec, small_stream):
    with pytest.raises(CodecArgumentError):
        codec.features(small_stream)


def test_header_and_layout_are_checked(tiny, small_photo):
    data = tiny.encode(small_photo[:32, :32], quality=1)
    header, sections = nc.bitstream.unpack(data)
    for config in ({"quality": 3, "latent_channels": 4}, {"quality": 1, "latent_channels": 5}, {"quality": 1}):
        with pytest.raises(HeaderFieldError):
            tiny.decode(nc.bitstream.pack(nc.bitstream.Header(**{**header.__dict__, "config": config}), sections))
    with pytest.raises(BitstreamError):
        tiny.decode(nc.bitstream.pack(header, sections + [b"\0" * 4]))


def test_weights_file_is_checked(tmp_path, tiny_weights):
    from neuralcodecs.weightfiles import load_weights, save_weights

    tensors, meta = load_weights(tiny_weights)
    del tensors["medians"]
    save_weights(tmp_path / "broken.safetensors", tensors, meta)
    with pytest.raises(WeightsError):
        load_student(tmp_path / "broken.safetensors")


def test_fuzzed_files_decode_or_raise_typed_errors(tiny, tiny_weights, small_photo):
    seeds = [tiny.encode(small_photo[:48, :64], quality=2), tiny.encode(small_photo[:20, :20, 0], quality=1)]
    tally = run_fuzz(seeds, 150, lambda d: nc.decode(d, weights=tiny_weights, max_pixels=4 * 48 * 64), seed=3).as_dict()
    assert tally["untyped_failures"] == 0, tally["failure_examples"]
    assert tally["hangs"] == 0 and tally["silent_corruptions"] == 0


def test_cli_decode_prints_classes_or_writes_features(tmp_path, tiny, tiny_weights, small_photo):
    from safetensors.numpy import load_file

    stream = tmp_path / "a.ncb"
    stream.write_bytes(tiny.encode(small_photo[:32, :32], quality=1))
    run = [sys.executable, "-m", "neuralcodecs.cli", "decode", str(stream), "--weights", str(tiny_weights)]
    printed = subprocess.run(run, capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(printed) == 5 and all(len(line.split()) >= 3 for line in printed)
    subprocess.run(run + ["-o", str(tmp_path / "f.safetensors")], capture_output=True, text=True, check=True)
    written = load_file(tmp_path / "f.safetensors")
    assert written["probabilities"].shape == (1000,) and written["embedding"].shape == (1280,)
    info = json.loads(subprocess.run([sys.executable, "-m", "neuralcodecs.cli", "info", str(stream), "--json"],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["codec"] == "student"


def test_evaluation_measures_the_task_of_a_features_codec(tmp_path, tiny, small_photo):
    from PIL import Image

    from neuralcodecs.evaluation.image import run_evaluation

    for i in range(2):
        (tmp_path / "data" / "n0").mkdir(parents=True, exist_ok=True)
        Image.fromarray(small_photo[i * 40 : i * 40 + 48, :56]).save(tmp_path / "data" / "n0" / f"{i}.png")
    result = run_evaluation(tmp_path / "data", [(tiny, [1.0, 2.0]), ("jpeg", [50.0])], progress=False,
                            classifier_factory=lambda: (lambda pixels: 7), labels_for=lambda path: 7)
    student, jpeg = result["curves"]
    assert "psnr-rgb" not in student["results"] and len(student["results"]["task_top1"]) == 2
    assert all(0 <= t <= 1 for t in student["results"]["task_top1"]) and student["results"]["bpp"][0] > 0
    assert jpeg["results"]["top1"] == [1.0] and "task_top1" not in jpeg["results"]
    with pytest.raises(CodecArgumentError, match="--task classify"):
        run_evaluation(tmp_path / "data", [(tiny, [1.0])], progress=False)


def test_tokens_from_student_files(tiny, tiny_weights, small_photo):
    from neuralcodecs.adapter import tokens_from_file
    from neuralcodecs.adapter.projector import TokenProjector

    data = tiny.encode(small_photo[:64, :96], quality=2)
    every = tokens_from_file(data, weights=tiny_weights)
    assert every.tokens.shape == (1, 16 * 24, 4)  # one token per stride-4 position: the N-channel bottleneck vector
    kept = tokens_from_file(data, strategy="rate", budget=32, weights=tiny_weights)
    assert kept.mask.sum() == 32
    projected = TokenProjector(4, 4)(tiny.latents(data).picture_tensor()[None])
    assert projected.shape == (1, 96, 4, 6)  # a projector maps the stride-4 bottleneck to the stride-16 token grid


def test_rate_control_takes_images_for_a_features_codec(tiny, small_photo):
    from neuralcodecs.ratecontrol import encode_to_budget

    pixels = small_photo[:64, :64]
    sizes = {q: len(tiny.encode(pixels, quality=q)) for q in (1.0, 2.0)}
    result = encode_to_budget(tiny, pixels, max_bytes=max(sizes.values()))
    assert len(result.data) == sizes[result.quality] <= max(sizes.values())
