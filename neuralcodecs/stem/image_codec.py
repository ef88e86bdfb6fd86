"""The frozen image codec under STEM: exactly the ``hyperprior`` weights a stem model was trained on.

STEM's I-frames are the hyperprior's own coding, and its P-frame entropy model was fitted to the
lattice latents of the hyperprior's analysis at its gains, so a stem weights file is only valid
with those hyperprior weights.  The file records their fingerprint (metadata
``image_fingerprint``, written by :func:`neuralcodecs.stem.weights.export_from_checkpoint`); a
stem stream names the stem weights by fingerprint, so the pair is fixed by the stream.

The hyperprior weights are looked up by that fingerprint among the shipped and retired
hyperprior files (``hyperprior.safetensors`` and ``hyperprior-*.safetensors`` in
``neuralcodecs/weights``), never taken from the registry's current choice: retraining
``hyperprior`` keeps the old file as a retired one (``tests/stem`` checks that every shipped stem
file finds its hyperprior), and a missing one is a :class:`WeightsError` naming the fingerprint.
"""

from __future__ import annotations

from pathlib import Path

from .. import paths
from ..errors import WeightsError
from ..image.hyperprior_codec import HyperpriorCodec, load_frozen

#: the hyperprior's shipped weights file (its registry entry's ``weights``); retired ones are
#: ``hyperprior-*.safetensors`` beside it
IMAGE_WEIGHTS = "hyperprior.safetensors"


def trained_image_codec(image_fingerprint: bytes, device="cpu", what: str = "stem weights") -> HyperpriorCodec:
    """The hyperprior codec whose weights have ``image_fingerprint``, from the shipped or a retired file.

    Raises:
        WeightsError: no installed hyperprior file has that fingerprint (the message names it and
            the files looked at).
    """
    looked = []
    for path in paths.weights_candidates(IMAGE_WEIGHTS):
        if not path.exists():
            continue
        frozen, found = load_frozen(path)
        if found == image_fingerprint:
            return HyperpriorCodec(frozen, found, device)
        looked.append(f"{path.name} ({found.hex()})")
    raise WeightsError(
        f"{what} were trained on hyperprior weights {image_fingerprint.hex()}, and no installed hyperprior file has "
        f"that fingerprint (looked at: {', '.join(looked) or 'none'} in {paths.WEIGHTS_DIR}); install that file "
        f"as hyperprior-<name>.safetensors beside the shipped one")


def shipped_image_codec(weights: str | Path | None = None, device="cpu") -> HyperpriorCodec:
    """The hyperprior a new stem model is trained on: ``weights``, or the shipped file."""
    return HyperpriorCodec.from_weights(weights or paths.WEIGHTS_DIR / IMAGE_WEIGHTS, device)
