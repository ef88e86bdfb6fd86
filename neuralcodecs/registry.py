"""Codec name -> builder, shipped weights file and capabilities.

Everything outside a codec's own module (the public API, the CLI, evaluation) reaches
codecs through this registry.  Loaded codecs are cached per (name, weights, device).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import UnknownCodecError, WeightsError
from .weightfiles import WEIGHTS_DIR


@dataclass(frozen=True)
class CodecSpec:
    """What the registry knows about a codec without loading it.

    Attributes:
        name: registry name (written into files).
        kind: ``"image"`` or ``"video"``.
        description: one line for ``ncodec list``.
        load: ``load(weights_path, device) -> codec``.
        weights: file name of the shipped weights inside ``neuralcodecs/weights``.
        trainable: returns the trainable model class (for ``ncodec train``), or None.
        capabilities: free-form flags (``variable_rate``, ...).
    """

    name: str
    kind: str
    description: str
    load: Callable
    weights: str
    trainable: Callable | None = None
    capabilities: dict = field(default_factory=dict)

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / self.weights

    def weights_candidates(self) -> list[Path]:
        """The shipped weights file first, then any retired ones (``<stem>-*.safetensors``).

        Retired files keep streams made with earlier weights decodable: decoding picks the
        file whose fingerprint the stream names.
        """
        stem = Path(self.weights).stem
        retired = sorted(WEIGHTS_DIR.glob(f"{stem}-*.safetensors"))
        return [self.weights_path, *retired]


def _load_hyperprior(weights_path, device):
    from .image.hyperprior_codec import HyperpriorCodec

    return HyperpriorCodec.from_weights(weights_path, device)


def _train_hyperprior():
    from .image.hyperprior import GainedMeanScaleHyperprior

    return GainedMeanScaleHyperprior


_REGISTRY: dict[str, CodecSpec] = {
    "hyperprior": CodecSpec(
        name="hyperprior",
        kind="image",
        description="mean-scale hyperprior (Minnen 2018, no context), gain units for variable rate, exact entropy parameters",
        load=_load_hyperprior,
        weights="hyperprior.safetensors",
        trainable=_train_hyperprior,
        capabilities={"variable_rate": True, "exact_entropy_parameters": True},
    ),
}
_CACHE: dict[tuple[str, str, str], object] = {}


def spec(name: str) -> CodecSpec:
    """The registry entry of ``name``; :class:`UnknownCodecError` if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownCodecError(
            f"no codec named {name!r} in this installation; available: {', '.join(sorted(_REGISTRY))}"
        ) from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def load(name: str, weights: str | Path | None = None, device: str = "cpu", fingerprint: bytes | None = None):
    """A ready codec (cached).

    Args:
        name: registry name.
        weights: a weights file; default: the shipped one, or with ``fingerprint`` the
            shipped or retired file that has that fingerprint (the one a stream names).
        device: torch device.
        fingerprint: 16-byte weights fingerprint to look for when ``weights`` is None.
    """
    entry = spec(name)
    if weights is not None:
        return _load_cached(entry, Path(weights), device)
    candidates = [p for p in entry.weights_candidates() if p.exists()]
    if not candidates:
        raise WeightsError(f"no weights file for codec {name!r} in {WEIGHTS_DIR}")
    if fingerprint is not None:
        for path in candidates:
            codec = _load_cached(entry, path, device)
            if codec.fingerprint == fingerprint:
                return codec
    return _load_cached(entry, candidates[0], device)


def _load_cached(entry: CodecSpec, path: Path, device: str):
    key = (entry.name, str(path.resolve()), str(device))
    if key not in _CACHE:
        _CACHE[key] = entry.load(path, device)
    return _CACHE[key]


def trainable_model_builder(name: str):
    """The trainable model class of a codec (``ncodec train``)."""
    entry = spec(name)
    if entry.trainable is None:
        raise UnknownCodecError(f"codec {name!r} has no trainable model")
    return entry.trainable()
