"""Training of point classifiers (latent and pixel domain) on a tiny set of real files."""

from pathlib import Path

import numpy as np
import pytest
import torch

from neuralcodecs.errors import CodecArgumentError, WeightsError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MOBILENET = SHARED_DATA / "models" / "mobilenet_v2-b0353104.pth"  # torchvision's IMAGENET1K_V1 weights
# an Imagenette val photo of a golf ball (ImageNet-1k class 574); MobileNetV2 gives it 574 with p > 0.99
GOLF_BALL = SHARED_DATA / "images" / "imagenette" / "val" / "n03445777" / "ILSVRC2012_val_00009902.JPEG"
GOLF_BALL_CLASS = 574
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def reference_prediction(path, domain, inputs) -> int:
    """The class a torchvision MobileNetV2 predicts when it is given the saved weights, wired here
    by hand: the pixel domain is the whole network on ImageNet-normalized pixels; the latent
    domain is the saved adapter followed by torchvision's ``features[cut:]`` and classifier."""
    import torchvision

    from neuralcodecs.downstream.latent_mobilenet import LatentAdapter
    from neuralcodecs.weightfiles import load_weights

    tensors, meta = load_weights(path)
    saved = {k[len("model."):]: v.float() if v.is_floating_point() else v for k, v in tensors.items()}
    net = torchvision.models.mobilenet_v2(weights=None).eval()
    with torch.no_grad():
        if domain == "pixel":
            net.load_state_dict({k[len("net."):]: v for k, v in saved.items()})
            x = torch.from_numpy(inputs.astype(np.float32)).permute(2, 0, 1)[None] / 255
            x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
            return int(net(x).argmax(1))
        cut = {8: 7, 16: 8}[int(meta["stride"])]
        features = {f"{int(k.split('.')[1]) + cut}.{k.split('.', 2)[2]}": v for k, v in saved.items() if k.startswith("tail.")}
        net.features.load_state_dict({**net.features.state_dict(), **features})
        net.classifier.load_state_dict({k[len("classifier."):]: v for k, v in saved.items() if k.startswith("classifier.")})
        adapter = LatentAdapter(int(meta["in_channels"]), net.features[cut].conv[0][0].in_channels, int(meta["width"])).eval()
        adapter.load_state_dict({k[len("adapter."):]: v for k, v in saved.items() if k.startswith("adapter.")})
        x = net.features[cut:](adapter(inputs.picture_tensor()[None].float()))
        return int(net.classifier(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)).argmax(1))




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
    inputs = codec.latents(data) if domain == "latent" else codec.decode(data)
    assert classifier(inputs) == reference_prediction(out, domain, inputs)
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


@pytest.mark.skipif(not (MOBILENET.is_file() and GOLF_BALL.is_file()), reason="shared data (MobileNetV2 weights, Imagenette) missing")
def test_point_classifiers_name_the_class_of_a_real_photo(tmp_path):
    """With the real ImageNet MobileNetV2 as teacher: the pixel classifier before any fine-tuning is
    the teacher itself, so it names the golf ball from the decoded file; the latent classifier,
    trained on that photo's latents only, learns to name it from the latents (no synthesis)."""
    from neuralcodecs import load_codec
    from neuralcodecs.downstream.train_latent import load_point_classifier, train_point_classifier
    from neuralcodecs.image.io import load_image

    codec = load_codec("hyperprior")
    data = codec.encode(load_image(GOLF_BALL)[0], quality=2.0)
    for domain, distill, finetune in (("pixel", 0, 0), ("latent", 5, 3)):
        out = tmp_path / f"{domain}.safetensors"
        train_point_classifier("hyperprior", 2.0, [GOLF_BALL], [GOLF_BALL_CLASS], MOBILENET, out, domain=domain,
                               distill_epochs=distill, finetune_epochs=finetune, progress=False)
        inputs = codec.latents(data) if domain == "latent" else codec.decode(data)
        assert load_point_classifier(out)(inputs) == GOLF_BALL_CLASS == reference_prediction(out, domain, inputs), domain
