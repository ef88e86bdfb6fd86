"""Shared fixtures: the shipped hyperprior codec, small real photos and a teacher network file."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import neuralcodecs
from neuralcodecs.demo import PHOTO

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def codec():
    return neuralcodecs.load_codec("hyperprior")


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """The bundled Kodak photo (768x512 RGB)."""
    return np.asarray(Image.open(PHOTO).convert("RGB"))


@pytest.fixture(scope="session")
def small_photo(photo) -> np.ndarray:
    """A 192x256 crop of the bundled photo: quick to code."""
    return np.ascontiguousarray(photo[64:256, 384:640])


@pytest.fixture(scope="session")
def small_stream(codec, small_photo) -> bytes:
    return codec.encode(small_photo, quality=3)


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    """A randomly initialised MobileNetV2's weights as a torchvision .pth (the latent classifiers' teacher file)."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), path)
    return path
