"""The downstream trainers read their files from shards: the same examples as encoding in-process."""

import pytest
import torch
from shard_samples import CODEC, QUALITY, make_folder

from neuralcodecs.errors import CodecArgumentError
from neuralcodecs.shards import encode_dataset

CLASS_MAP = {"cat": 281, "dog": 207}  # ImageNet indices, as Imagenette's SOURCE.txt gives them




@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A folder of 8 labelled crops and its shards, with and without mirror images."""
    root = make_folder(tmp_path_factory.mktemp("labelled") / "src", gray=False)
    shards = tmp_path_factory.mktemp("labelled-shards")
    encode_dataset(root, shards / "mirror", CODEC, QUALITY, shard_size=5, mirror=True, progress=False)
    encode_dataset(root, shards / "plain", CODEC, QUALITY, shard_size=3, progress=False)
    return root, shards


def test_the_latent_classifier_trains_on_the_same_examples_from_shards(labelled, teacher_file, tmp_path):
    from neuralcodecs.downstream.train_latent import train_point_classifier

    root, shards = labelled
    files = sorted(root.glob("*/*.png"))
    settings = dict(distill_epochs=1, finetune_epochs=1, batch=4, progress=False)
    here = train_point_classifier(CODEC, QUALITY, files, [CLASS_MAP[p.parent.name] for p in files], teacher_file,
                                  tmp_path / "here.safetensors", cache=tmp_path / "here.pt", **settings)
    read = train_point_classifier(CODEC, QUALITY, None, None, teacher_file, tmp_path / "read.safetensors",
                                  cache=tmp_path / "read.pt", shards=shards / "mirror", class_map=CLASS_MAP, workers=2, **settings)
    assert read["examples"] == here["examples"] == 16 and read["training_images"] == 8
    assert read["shards"][0]["mirror"] and "shards" not in here
    a, b = torch.load(tmp_path / "here.pt", weights_only=True), torch.load(tmp_path / "read.pt", weights_only=True)
    assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["labels"], b["labels"])  # same files, same order
    for key in ("logits", "activations"):  # the teacher ran batched here, one image at a time there
        torch.testing.assert_close(a[key].float(), b[key].float(), atol=2e-3, rtol=1e-3)
    with pytest.raises(CodecArgumentError, match="not in the class map"):
        train_point_classifier(CODEC, QUALITY, None, None, teacher_file, tmp_path / "x.safetensors", shards=shards / "plain",
                               class_map={"cat": 1}, workers=0, **settings)
    with pytest.raises(CodecArgumentError, match="q3"):
        train_point_classifier(CODEC, 3.0, None, None, teacher_file, tmp_path / "x.safetensors", shards=shards / "plain",
                               workers=0, **settings)


def test_the_token_projector_trains_on_the_same_examples_from_shards(labelled, teacher_file):
    from neuralcodecs import load_codec
    from neuralcodecs.adapter.train_projector import build_examples, build_examples_from_shards
    from neuralcodecs.downstream.latent_mobilenet import mobilenet_v2
    from neuralcodecs.shards.reader import training_shards

    root, shards = labelled
    codec, teacher = load_codec(CODEC), mobilenet_v2(teacher_file)
    here = build_examples(codec, QUALITY, sorted(root.glob("*/*.png")), teacher, progress=False)
    read = build_examples_from_shards(training_shards(shards / "plain", codec, QUALITY), teacher, workers=0, progress=False)
    assert torch.equal(here["latents"], read["latents"]) and torch.equal(here["bits"], read["bits"])
    torch.testing.assert_close(here["targets"].float(), read["targets"].float(), atol=2e-3, rtol=1e-3)


def test_train_projector_records_its_shards(labelled, teacher_file, tmp_path):
    from neuralcodecs.adapter.train_projector import load_projector, train_projector

    _, shards = labelled
    record = train_projector(CODEC, QUALITY, None, teacher_file, tmp_path / "p.safetensors", epochs=1, batch=4,
                             progress=False, shards=shards / "plain", workers=0)
    assert record["training_images"] == 8 and record["shards"][0]["samples"] == 8
    projector, meta = load_projector(tmp_path / "p.safetensors")
    assert meta["codec"] == CODEC and projector.stride == 8
