"""Training of point classifiers (latent and pixel domain) on a tiny set of real files."""

import numpy as np
import pytest
import torch

from neuralcodecs.errors import CodecArgumentError, WeightsError


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    files = []
    for i in range(3):
        path = folder / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(path)
        files.append(path)
    return files


@pytest.mark.parametrize("domain", ["latent", "pixel"])
def test_point_classifier_trains_saves_and_classifies_real_files(domain, teacher_file, images, tmp_path):
    from neuralcodecs import load_codec
    from neuralcodecs.downstream.train_latent import KINDS, load_point_classifier, train_point_classifier
    from neuralcodecs.weightfiles import read_metadata

    out, cache = tmp_path / "clf.safetensors", tmp_path / "cache.pt"
    record = train_point_classifier("hyperprior", 1.0, images, [3, 1, 4], teacher_file, out, domain=domain,
                                    distill_epochs=1, finetune_epochs=1, batch=4, cache=cache, progress=False)
    assert record["examples"] == 6 and [r["phase"] for r in record["log"]] == (["distill", "finetune"] if domain == "latent" else ["finetune"])
    assert all(np.isfinite(r["loss"]) for r in record["log"])
    examples = torch.load(cache, weights_only=True)
    assert examples["inputs"].dtype == (torch.float16 if domain == "latent" else torch.uint8)
    assert read_metadata(out)["kind"] == KINDS[domain]
    classifier = load_point_classifier(out)
    codec = load_codec("hyperprior")
    data = codec.encode(np.zeros((32, 48, 3), np.uint8), quality=1.0)
    prediction = classifier(codec.latents(data) if domain == "latent" else codec.decode(data))
    assert 0 <= prediction < 1000
    again = train_point_classifier("hyperprior", 1.0, images, [3, 1, 4], teacher_file, tmp_path / "again.safetensors",
                                   domain=domain, distill_epochs=1, finetune_epochs=1, batch=4, cache=cache, progress=False)
    assert again["log"][-1]["loss"] == pytest.approx(record["log"][-1]["loss"], rel=1e-4)  # the cache reproduces the run


def test_point_classifier_typed_errors(teacher_file, images, tmp_path):
    from neuralcodecs.downstream.train_latent import LatentClassifier, load_point_classifier, train_point_classifier
    from neuralcodecs.weightfiles import read_metadata

    with pytest.raises(CodecArgumentError):
        train_point_classifier("hyperprior", 1.0, images, [0, 0, 0], teacher_file, tmp_path / "x.safetensors", domain="audio")
    with pytest.raises(WeightsError):
        load_point_classifier(teacher_file)  # a .pth, not a classifier
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(WeightsError):
        read_metadata(junk)
    with pytest.raises(WeightsError):
        LatentClassifier(tmp_path / "missing.safetensors")
