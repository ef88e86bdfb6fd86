"""The ``.ncb`` container (``bitstreams/FORMAT.md`` is the normative spec).

:func:`pack` writes a complete file from a :class:`Header` and payload sections;
:func:`unpack` validates and parses one.  Parsing never allocates more than the input's
own size and raises a :class:`~neuralcodecs.errors.BitstreamError` subclass for every
problem it finds, before any codec-specific work happens.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field

from .errors import (
    BadMagicError,
    BitstreamError,
    CrcMismatchError,
    HeaderFieldError,
    TrailingBytesError,
    TruncatedError,
    UnsupportedVersionError,
)

MAGIC = b"\x89NCB"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = (1,)
FINGERPRINT_SIZE = 16
MAX_HEADER_SIZE = 4096
MAX_CONFIG_ENTRIES = 32
MAX_SECTIONS = 64
MAX_SIDE = 65535
MAX_FRAMES = 100_000
MAX_SAMPLES = 2**31
COLOR_RGB, COLOR_GRAY = 0, 1
COLOR_FORMATS = {COLOR_RGB: "rgb", COLOR_GRAY: "gray"}
CODER_CONSTRICTION_ANS = 1
ENTROPY_CODERS = {CODER_CONSTRICTION_ANS: "constriction-ans"}

_NAME_RE = re.compile(rb"^[a-z0-9_-]{1,32}$")
_KEY_RE = re.compile(rb"^[a-z0-9_]{1,32}$")
_PREAMBLE = struct.Struct("<4sBBH")  # magic, version, flags, header size
_GEOMETRY = struct.Struct("<BBIIIII")  # coder, color, width, height, frames, fps num, fps den
_CONFIG_VALUE = struct.Struct("<q")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


@dataclass
class Header:
    """Everything the container says about a stream, apart from the payload.

    Attributes:
        codec: registry name of the codec.
        fingerprint: 16-byte digest of the weights the stream was made with.
        width, height: true picture size in pixels (before any codec padding).
        frames: 1 for an image.
        fps: frame rate as (numerator, denominator); (0, 1) for images.
        color: ``COLOR_RGB`` or ``COLOR_GRAY``.
        coder: entropy coder id (``CODER_CONSTRICTION_ANS``).
        config: the codec's integer settings, e.g. ``{"quality_x256": 1024}``.
        version: format version the stream was written with.
    """

    codec: str
    fingerprint: bytes
    width: int
    height: int
    frames: int = 1
    fps: tuple[int, int] = (0, 1)
    color: int = COLOR_RGB
    coder: int = CODER_CONSTRICTION_ANS
    config: dict[str, int] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    def validate(self) -> None:
        """Raise :class:`HeaderFieldError` if a field is outside the format's rules."""
        if not isinstance(self.codec, str) or not _NAME_RE.match(self.codec.encode("ascii", "replace")):
            raise HeaderFieldError(f"codec name {self.codec!r} must be 1-32 characters of [a-z0-9_-]")
        if not isinstance(self.fingerprint, (bytes, bytearray)) or len(self.fingerprint) != FINGERPRINT_SIZE:
            raise HeaderFieldError(f"weights fingerprint must be {FINGERPRINT_SIZE} bytes")
        if self.coder not in ENTROPY_CODERS:
            raise HeaderFieldError(f"entropy coder id {self.coder} is not one of {sorted(ENTROPY_CODERS)}")
        if self.color not in COLOR_FORMATS:
            raise HeaderFieldError(f"color format {self.color} is not one of {sorted(COLOR_FORMATS)}")
        if not (1 <= self.width <= MAX_SIDE and 1 <= self.height <= MAX_SIDE):
            raise HeaderFieldError(f"picture size {self.width}x{self.height} outside 1..{MAX_SIDE} per side")
        if not 1 <= self.frames <= MAX_FRAMES:
            raise HeaderFieldError(f"frame count {self.frames} outside 1..{MAX_FRAMES}")
        if self.width * self.height * self.frames > MAX_SAMPLES:
            raise HeaderFieldError("width x height x frames exceeds 2**31 samples")
        num, den = self.fps
        if not (0 <= num <= 0xFFFFFFFF and 1 <= den <= 65535):
            raise HeaderFieldError(f"frame rate {num}/{den} is not representable")
        if len(self.config) > MAX_CONFIG_ENTRIES:
            raise HeaderFieldError(f"more than {MAX_CONFIG_ENTRIES} config entries")
        for key, value in self.config.items():
            if not isinstance(key, str) or not _KEY_RE.match(key.encode("ascii", "replace")):
                raise HeaderFieldError(f"config key {key!r} must be 1-32 characters of [a-z0-9_]")
            if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
                raise HeaderFieldError(f"config value of {key!r} must be a signed 64-bit integer")


def _header_body(header: Header, section_count: int) -> bytes:
    name = header.codec.encode("ascii")
    parts = [bytes([len(name)]), name, bytes(header.fingerprint)]
    parts.append(
        _GEOMETRY.pack(header.coder, header.color, header.width, header.height, header.frames, *header.fps)
    )
    parts.append(bytes([len(header.config)]))
    for key, value in header.config.items():
        k = key.encode("ascii")
        parts += [bytes([len(k)]), k, _CONFIG_VALUE.pack(value)]
    parts.append(_U16.pack(section_count))
    return b"".join(parts)


def pack(header: Header, sections: list[bytes]) -> bytes:
    """Build a complete ``.ncb`` file.

    Args:
        header: validated before writing (:class:`HeaderFieldError` otherwise).
        sections: the codec's payload sections, in the codec's order.
    """
    header.validate()
    if len(sections) > MAX_SECTIONS:
        raise HeaderFieldError(f"at most {MAX_SECTIONS} sections")
    body = _header_body(header, len(sections))
    if len(body) > MAX_HEADER_SIZE:
        raise HeaderFieldError("header body exceeds 4096 bytes")
    parts = [_PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(body)), body]
    for section in sections:
        if len(section) > 0xFFFFFFFF:
            raise HeaderFieldError("section larger than 4 GiB")
        parts += [_U32.pack(len(section)), bytes(section)]
    data = b"".join(parts)
    return data + _U32.pack(zlib.crc32(data))


class _Reader:
    """Bounds-checked cursor over the header body."""

    def __init__(self, data: memoryview):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise HeaderFieldError("header size field is smaller than the fields it must hold")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]


def _parse_body(body: memoryview, version: int) -> tuple[Header, int]:
    r = _Reader(body)
    name = bytes(r.take(r.u8()))
    if not _NAME_RE.match(name):
        raise HeaderFieldError(f"codec name {name!r} is not 1-32 characters of [a-z0-9_-]")
    fingerprint = bytes(r.take(FINGERPRINT_SIZE))
    coder, color, width, height, frames, fps_num, fps_den = _GEOMETRY.unpack(r.take(_GEOMETRY.size))
    config: dict[str, int] = {}
    count = r.u8()
    if count > MAX_CONFIG_ENTRIES:
        raise HeaderFieldError(f"{count} config entries; at most {MAX_CONFIG_ENTRIES}")
    for _ in range(count):
        key = bytes(r.take(r.u8()))
        if not _KEY_RE.match(key):
            raise HeaderFieldError(f"config key {key!r} is not 1-32 characters of [a-z0-9_]")
        if key.decode() in config:
            raise HeaderFieldError(f"config key {key.decode()!r} appears twice")
        config[key.decode()] = _CONFIG_VALUE.unpack(r.take(8))[0]
    (sections,) = _U16.unpack(r.take(2))
    if r.pos != len(body):
        raise HeaderFieldError(f"header body holds {len(body) - r.pos} unexplained bytes")
    if sections > MAX_SECTIONS:
        raise HeaderFieldError(f"{sections} sections; at most {MAX_SECTIONS}")
    header = Header(
        codec=name.decode(),
        fingerprint=fingerprint,
        width=width,
        height=height,
        frames=frames,
        fps=(fps_num, fps_den),
        color=color,
        coder=coder,
        config=config,
        version=version,
    )
    return header, sections


def _read_preamble(data: bytes) -> tuple[int, int]:
    if len(data) < len(MAGIC):
        if MAGIC.startswith(bytes(data)) and len(data) > 0:
            raise TruncatedError(f"file is {len(data)} bytes: it ends inside the magic number")
        raise BadMagicError("not a .ncb file: it is shorter than the 4-byte magic number")
    if bytes(data[:4]) != MAGIC:
        raise BadMagicError(f"not a .ncb file: magic is {bytes(data[:4])!r}, expected {MAGIC!r}")
    if len(data) < _PREAMBLE.size:
        raise TruncatedError(f"file is {len(data)} bytes: it ends inside the preamble")
    _, version, flags, header_size = _PREAMBLE.unpack_from(data)
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(
            f"format version {version} is not supported by this neuralcodecs "
            f"(it reads {', '.join(map(str, SUPPORTED_VERSIONS))}); "
            + ("upgrade neuralcodecs" if version > FORMAT_VERSION else "the file is damaged")
        )
    if flags != 0:
        raise HeaderFieldError(f"flags byte is {flags}; format version {version} requires 0")
    if header_size > MAX_HEADER_SIZE:
        raise HeaderFieldError(f"header size {header_size} exceeds {MAX_HEADER_SIZE}")
    return version, header_size


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Validate and split a ``.ncb`` file into its header and sections.

    Raises (all :class:`BitstreamError`): ``BadMagicError``, ``UnsupportedVersionError``,
    ``TruncatedError``, ``TrailingBytesError``, ``CrcMismatchError``, ``HeaderFieldError``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    view = memoryview(data).cast("B")
    version, header_size = _read_preamble(view)
    body_end = _PREAMBLE.size + header_size
    if len(view) < body_end + 4:
        raise TruncatedError(f"file is {len(view)} bytes: it ends inside the {header_size}-byte header")
    header, count = _parse_body(view[_PREAMBLE.size : body_end], version)
    pos = body_end
    spans = []
    for i in range(count):
        if pos + 4 > len(view):
            raise TruncatedError(f"file ends before the length of section {i + 1} of {count}")
        (length,) = _U32.unpack_from(view, pos)
        pos += 4
        if pos + length + 4 > len(view):
            raise TruncatedError(
                f"section {i + 1} of {count} claims {length} bytes but the file ends "
                f"{max(0, len(view) - pos)} bytes later (CRC included)"
            )
        spans.append((pos, pos + length))
        pos += length
    if pos + 4 > len(view):
        raise TruncatedError("file ends inside the CRC")
    if pos + 4 < len(view):
        raise TrailingBytesError(f"{len(view) - pos - 4} bytes follow the end of the stream (its CRC)")
    (stored_crc,) = _U32.unpack_from(view, pos)
    if zlib.crc32(view[:pos]) != stored_crc:
        raise CrcMismatchError("CRC32 mismatch: the file was altered or damaged in transfer")
    header.validate()
    return header, [bytes(view[a:b]) for a, b in spans]


def read_header(data: bytes) -> Header:
    """Parse and validate a file's header (the whole file is checked, CRC included)."""
    return unpack(data)[0]


__all__ = [
    "BitstreamError",
    "Header",
    "pack",
    "unpack",
    "read_header",
    "MAGIC",
    "FORMAT_VERSION",
    "COLOR_RGB",
    "COLOR_GRAY",
    "CODER_CONSTRICTION_ANS",
]
