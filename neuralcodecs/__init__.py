"""neuralcodecs: learned image and video codecs that write real arithmetic-coded files.

Quick use::

    import neuralcodecs as nc
    data = nc.encode("photo.png", quality=4)   # bytes of a .ncb file (the default codec)
    pixels = nc.decode(data)                   # uint8 (H, W, 3), or (T, H, W, 3) for video
    nc.read_header(data).width
    nc.latents(data).tensor                    # entropy-decoded latents, no synthesis run

Every function raises a subclass of :class:`neuralcodecs.errors.NeuralCodecsError` for bad
input; damaged files raise :class:`neuralcodecs.errors.BitstreamError` subclasses.
Importing the package does not import torch; loading a codec does.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

# compressai's layers call torch.jit.script at import; newer torch warns on every command
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)

from . import compressai_import  # noqa: E402

compressai_import.install()  # compressai without its point-cloud imports: 6 s less per command

from . import registry  # noqa: E402
from .bitstream import Header, read_header, unpack  # noqa: E402
from .codec import Codec, Latents  # noqa: E402
from .budget import Budget  # noqa: E402
from .errors import BitstreamError, CodecArgumentError, NeuralCodecsError  # noqa: E402

__version__ = "0.2.0"


def list_codecs(kind: str | None = None) -> list[str]:
    """Names of the codecs this installation has (of one ``kind``, ``"image"`` or ``"video"``)."""
    return registry.names(kind)


def load_codec(name=None, weights: str | Path | None = None, device: str | None = None):
    """The codec ``name`` (default: the default image codec) with its shipped weights (or ``weights``),
    on ``device`` (default ``"cpu"``).

    ``name`` may also be a codec already loaded (a :class:`~neuralcodecs.codec.Codec`): it is
    returned as it is, so every function that takes a codec name takes a loaded codec too;
    ``weights`` and ``device`` are then refused (the codec has both already).
    """
    if isinstance(name, Codec):
        given = [flag for flag, value in (("weights", weights), ("device", device)) if value is not None]
        if given:
            raise CodecArgumentError(f"{' and '.join(given)} apply to a codec given by name; codec {name.name!r} is "
                                     f"loaded already (load_codec({name.name!r}, weights=..., device=...) makes another)")
        return name
    if name is not None and not isinstance(name, str):
        raise CodecArgumentError(f"codec must be a codec name or a loaded codec (load_codec), got {type(name).__name__}")
    return registry.load(name or registry.default_codec(), weights, device or "cpu")


def encode(media, codec=None, quality: float | None = None, device: str | None = None, **options) -> bytes:
    """Encode an image (path, PIL image or uint8 array) or a video into the bytes of a ``.ncb`` file.

    ``codec``: a codec name (default: the registry's default image codec, on ``device``,
    default ``"cpu"``) or a codec from :func:`load_codec` (which runs where it was loaded).
    ``options`` go to the codec's ``encode``: input rules (``alpha="composite"``,
    ``max_pixels=...``) and the codec's own declared options (``registry.spec(name).options``).
    """
    return load_codec(codec, device=device).encode(media, quality=quality, **options)


def _codec_for(header: Header, weights, device):
    return registry.load(header.codec, weights=weights, device=device, fingerprint=header.fingerprint)


def _file_bytes(data) -> bytes:
    """The bytes of a file given as bytes (or a bytes-like object) or as a path."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, (str, os.PathLike)):
        try:
            return Path(data).read_bytes()
        except OSError as exc:
            raise CodecArgumentError(f"cannot read {data}: {exc.strerror or exc}") from None
    raise CodecArgumentError(f"expected the bytes of a .ncb file or its path, got {type(data).__name__}")


def decode(
    data,
    weights: str | Path | None = None,
    device: str = "cpu",
    max_pixels: int | None = None,
    max_memory: int | str | None = None,
    max_compute: float | str | None = None,
    frames=None,
    restore_lost=None,
    restore_method: str = "transformer",
    progress: bool = False,
):
    """Decode a ``.ncb`` file (its bytes or its path): uint8 ``(H, W, 3)`` for an image,
    ``(T, H, W, 3)`` for video.

    The header names the codec and the fingerprint of its weights, which selects the
    shipped (or retired) weights file; ``weights`` overrides that choice.  ``max_pixels``
    (default 40 MP), ``max_memory`` (default 4 GiB; ``"512M"`` works) and ``max_compute``
    (default 15 minutes of the reference CPU; ``"2h"`` works) bound what the decoder accepts
    (:mod:`neuralcodecs.budget`); ``frames`` picks video frames (numbers, a ``range``, or
    :func:`neuralcodecs.frame_selection.parse_frames` of ``"0-9,57"``).
    ``restore_lost``: a bool mask over the codec's index grid (codebook codecs such as
    ``vqgan``): those indices are treated as lost in transmission and restored
    (``restore_method`` ``"transformer"`` or ``"nearest"``) before decoding.
    """
    budget = Budget.of(max_pixels, max_memory, max_compute)
    header, sections = unpack(_file_bytes(data))
    codec = _codec_for(header, weights, device)
    if restore_lost is not None:
        if frames is not None:
            raise CodecArgumentError("restore_lost is for images; give it without frames")
        return codec.decode_restored(header, sections, restore_lost, restore_method, budget=budget)
    return codec.decode_parsed(header, sections, frames=frames, budget=budget, progress=progress)


def features(data, weights: str | Path | None = None, device: str = "cpu", max_pixels: int | None = None,
             max_memory: int | str | None = None, max_compute: float | str | None = None) -> dict:
    """The decoded outputs of a ``features`` codec's file (its bytes or its path) by name, float32
    arrays: for ``student``, ``probabilities`` ``(1000,)``, ``embedding`` ``(1280,)`` and ``cut``
    ``(24, h, w)``.  Budgets as :func:`decode`; a file of a pixel codec is refused."""
    budget = Budget.of(max_pixels, max_memory, max_compute)
    header, sections = unpack(_file_bytes(data))
    return _codec_for(header, weights, device).features_parsed(header, sections, budget)


def latents(data, weights: str | Path | None = None, device: str = "cpu") -> Latents:
    """The entropy-decoded latents of a ``.ncb`` file (its bytes or its path;
    :class:`~neuralcodecs.codec.Latents`), without running the synthesis transform: for
    downstream models that read latents."""
    header, sections = unpack(_file_bytes(data))
    return _codec_for(header, weights, device).latents_parsed(header, sections)


__all__ = [
    "encode",
    "decode",
    "latents",
    "features",
    "read_header",
    "list_codecs",
    "load_codec",
    "Codec",
    "Header",
    "Latents",
    "BitstreamError",
    "NeuralCodecsError",
]
