"""Typed errors of neuralcodecs.

Every failure a user can cause (a bad file, a bad image, wrong weights, a bad argument)
raises a subclass of :class:`NeuralCodecsError` with a message that says what is wrong and
what to do about it.  Container and payload problems are :class:`BitstreamError` subclasses;
they also derive from :class:`ValueError` so that generic callers can catch them.
"""

from __future__ import annotations


class NeuralCodecsError(Exception):
    """Base class of every error raised on purpose by neuralcodecs."""


# --------------------------------------------------------------------------- bitstream


class BitstreamError(NeuralCodecsError, ValueError):
    """A .ncb file cannot be decoded: it is damaged, foreign, or made by other weights."""


class BadMagicError(BitstreamError):
    """The data does not start with the .ncb magic: it is not a neuralcodecs file."""


class UnsupportedVersionError(BitstreamError):
    """The file was written by a format version this library cannot read."""


class TruncatedError(BitstreamError):
    """The file ends before the structure its header announces."""


class TrailingBytesError(BitstreamError):
    """Bytes follow the end of the file's last structure (its CRC)."""


class CrcMismatchError(BitstreamError):
    """The CRC32 stored in the file does not match its content: bytes were altered."""


class HeaderFieldError(BitstreamError):
    """A header field holds a value outside what the format allows."""


class UnknownCodecError(BitstreamError):
    """The header names a codec this installation does not have."""


class WeightsMismatchError(BitstreamError):
    """The file was made with other weights than the ones loaded to decode it."""


class SectionLayoutError(BitstreamError):
    """The number or sizes of the payload sections disagree with the geometry and codec."""


class DecodeBudgetError(BitstreamError):
    """Decoding the stream would exceed the decoder's pixel or memory budget (``max_pixels``,
    ``max_memory``); nothing was allocated.  The stream itself may be valid."""


class CorruptPayloadError(BitstreamError):
    """An entropy-coded section decodes inconsistently (range, sentinel or length check)."""


# --------------------------------------------------------------------------- inputs


class UnsupportedImageError(NeuralCodecsError, ValueError):
    """An input image cannot be encoded (unreadable, empty, too large, unknown mode)."""


class TransparentImageError(UnsupportedImageError):
    """An image has transparent pixels and the caller asked for them to be refused."""


class UnsupportedVideoError(NeuralCodecsError, ValueError):
    """An input video cannot be read (missing, unreadable, truncated, no video stream, a bad
    y4m header, a raw file whose size does not fit its geometry) or exceeds the caller's
    ``max_frames`` / ``max_pixels`` budget (refused before its frames are allocated)."""


class WeightsError(NeuralCodecsError, ValueError):
    """A weights file is missing, malformed, or does not fit the codec that loads it."""


class CodecArgumentError(NeuralCodecsError, ValueError):
    """A codec was called with an argument outside its documented range."""


class RateControlError(NeuralCodecsError):
    """No quality of the codec meets the requested size or rate budget."""


class StateFileError(CodecArgumentError):
    """A resumable state file (``--fit-state``) is not a neuralcodecs state, is damaged, or was
    made by another fit; it is never unpickled."""


# --------------------------------------------------------------------------- datasets of shards


class ShardError(NeuralCodecsError, ValueError):
    """A dataset of compressed shards (``ncodec encode-dataset``) cannot be used or continued: its
    manifest is missing, malformed or unfinished, a shard it lists is missing or not a plain tar
    file, a sample lacks its ``.ncb`` member, or the folder holds a dataset made with other settings."""


class ShardChecksumError(ShardError):
    """A shard's bytes differ from the SHA-256 (or size) its manifest records: it was altered,
    truncated or replaced after the dataset was written."""
