"""The public API takes a loaded codec wherever it takes a codec name."""

import numpy as np
import pytest

import neuralcodecs as nc
from neuralcodecs.errors import CodecArgumentError


def test_encode_takes_a_loaded_codec(small_photo):
    crop = np.ascontiguousarray(small_photo[:64, :96])
    codec = nc.load_codec("mcquic")
    data = nc.encode(crop, codec=codec, quality=2)  # raised UnknownCodecError before
    assert data == nc.encode(crop, codec="mcquic", quality=2)
    header = nc.read_header(data)
    assert header.codec == "mcquic" and header.fingerprint == codec.fingerprint
    assert nc.decode(data).shape == crop.shape
    assert nc.load_codec(codec) is codec


def test_a_loaded_codec_with_weights_or_device_is_refused(small_photo):
    codec = nc.load_codec("hyperprior")
    with pytest.raises(CodecArgumentError, match="loaded already"):
        nc.encode(small_photo, codec=codec, device="cpu")
    with pytest.raises(CodecArgumentError, match="loaded already"):
        nc.load_codec(codec, weights="other.safetensors")
    with pytest.raises(CodecArgumentError, match="codec name or a loaded codec"):
        nc.encode(small_photo, codec=object())
