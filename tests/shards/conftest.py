"""Fixtures of the shard tests: a tiny image folder and a dataset of shards made from it."""

from pathlib import Path

import pytest
from shard_samples import CODEC, QUALITY, make_folder


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    return make_folder(tmp_path_factory.mktemp("images") / "src")


@pytest.fixture(scope="session")
def dataset(image_folder, tmp_path_factory) -> Path:
    """``image_folder`` encoded in-process, 3 samples per shard, with mirror images (18 samples, 6 shards)."""
    from neuralcodecs.shards import encode_dataset

    out = tmp_path_factory.mktemp("shards") / "walloc"
    encode_dataset(image_folder, out, CODEC, QUALITY, shard_size=3, mirror=True, progress=False)
    return out
