"""Every conformance stream of every format version still decodes to its recorded output.

The latents (entropy-decoded symbols) must match their checksum exactly on any machine.
The pixels come from the float synthesis network: they must match their checksum or, on a
CPU whose float kernels round differently, differ from the reference PNG by at most one level.
"""

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import neuralcodecs as nc
from neuralcodecs import registry

FOLDER = Path(__file__).resolve().parents[1] / "bitstreams" / "conformance"
spec = importlib.util.spec_from_file_location("make_conformance", FOLDER.parent / "make_conformance.py")
_make = importlib.util.module_from_spec(spec)
spec.loader.exec_module(_make)
latent_digest = _make.latent_digest

MANIFEST = json.loads((FOLDER / "manifest.json").read_text())["streams"] if (FOLDER / "manifest.json").exists() else []


def test_there_are_conformance_streams():
    assert len(MANIFEST) >= 2


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_stream_decodes_to_its_recorded_output(entry):
    data = (FOLDER / entry["file"]).read_bytes()
    header = nc.read_header(data)
    assert header.version == entry["format_version"] and header.codec == entry["codec"]
    codec = registry.load(header.codec, fingerprint=header.fingerprint)
    readable = [f.hex() for f in (codec.fingerprint, *codec.readable_fingerprints)]  # earlier decoder revisions too
    assert entry["weights_fingerprint"] in readable, "the weights (or decoder revision) this stream names are not shipped"
    assert latent_digest(codec, data) == entry["sha256_decoded_latents"]
    if "reference_npy" in entry:  # a features codec: class probabilities from float networks
        output = nc.decode(data)
        if hashlib.sha256(np.ascontiguousarray(output).tobytes()).hexdigest() != entry["sha256_decoded_output"]:
            reference = np.load(FOLDER / entry["reference_npy"], allow_pickle=False)
            assert output.shape == reference.shape and np.abs(output - reference).max() <= 1e-4
            assert output.argmax() == reference.argmax()
        return
    pixels = nc.decode(data)
    frames = entry.get("frames", 1)
    assert pixels.shape == ((frames,) if frames > 1 else ()) + (entry["height"], entry["width"], 3)
    if hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest() != entry["sha256_decoded_pixels"]:
        reference = np.asarray(Image.open(FOLDER / entry["reference_png"]).convert("RGB")).astype(np.int16)
        assert np.abs(pixels.reshape(reference.shape).astype(np.int16) - reference).max() <= 1  # video: frames stacked
