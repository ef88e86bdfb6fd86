"""The ``.ncb`` container (``bitstreams/FORMAT.md`` is the normative spec).

:func:`pack` writes a complete file from a :class:`Header` and payload sections;
:func:`unpack` validates and parses one.  Parsing never allocates more than the input's
own size and raises a :class:`~neuralcodecs.errors.BitstreamError` subclass for every
problem it finds, before any codec-specific work happens.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass, field, replace

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
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
FINGERPRINT_SIZE = 16
MAX_HEADER_SIZE = 4096
MAX_CONFIG_ENTRIES = 32
MAX_SECTIONS_V1 = 64
MAX_SECTIONS = 2**24  # v2; a file must also hold 12 bytes per section
WHOLE_STREAM = 0xFFFFFFFF  # section tag of a section that belongs to no single frame
MAX_SIDE = 65535
MAX_FRAMES = 100_000
MAX_SAMPLES = 2**31
COLOR_RGB, COLOR_GRAY, COLOR_YUV420 = 0, 1, 2
COLOR_FORMATS = {COLOR_RGB: "rgb", COLOR_GRAY: "gray", COLOR_YUV420: "yuv420"}
COLOR_FORMATS_V1 = (COLOR_RGB, COLOR_GRAY)
CODER_CONSTRICTION_ANS = 1
ENTROPY_CODERS = {CODER_CONSTRICTION_ANS: "constriction-ans"}

_NAME_RE = re.compile(rb"^[a-z0-9_-]{1,32}$")
_KEY_RE = re.compile(rb"^[a-z0-9_]{1,32}$")
_PREAMBLE = struct.Struct("<4sBBH")  # magic, version, flags, header size
_GEOMETRY = struct.Struct("<BBIIIII")  # coder, color, width, height, frames, fps num, fps den
_CONFIG_VALUE = struct.Struct("<q")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_SECTION_HEAD = struct.Struct("<II")  # v2: length, frame tag
_INDEX_ENTRY = struct.Struct("<IIQ")  # v2: frame, section number, byte offset
_U64 = struct.Struct("<Q")


@dataclass
class Header:
    """Everything the container says about a stream, apart from the payload.

    Attributes:
        codec: registry name of the codec.
        fingerprint: 16-byte digest of the weights the stream was made with.
        width, height: true picture size in pixels (before any codec padding).
        frames: 1 for an image.
        fps: frame rate as (numerator, denominator); (0, 1) for images.
        color: ``COLOR_RGB``, ``COLOR_GRAY`` or (version 2) ``COLOR_YUV420``.
        coder: entropy coder id (``CODER_CONSTRICTION_ANS``).
        config: the codec's integer settings, e.g. ``{"quality_x256": 1024}``.
        version: format version the stream was written with.
        section_frames: v2: the frame each section belongs to (``WHOLE_STREAM`` for
            sequence-level sections); filled in by :func:`unpack`.
        keyframes: v2 frame index: ``(frame, section)`` of each frame a decoder can start
            at, ascending; filled in by :func:`unpack`.
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
    section_frames: tuple[int, ...] = ()
    keyframes: tuple[tuple[int, int], ...] = ()

    def validate(self) -> None:
        """Raise :class:`HeaderFieldError` if a field is outside the format's rules."""
        if not isinstance(self.codec, str) or not _NAME_RE.match(self.codec.encode("ascii", "replace")):
            raise HeaderFieldError(f"codec name {self.codec!r} must be 1-32 characters of [a-z0-9_-]")
        if not isinstance(self.fingerprint, (bytes, bytearray)) or len(self.fingerprint) != FINGERPRINT_SIZE:
            raise HeaderFieldError(f"weights fingerprint must be {FINGERPRINT_SIZE} bytes")
        if self.coder not in ENTROPY_CODERS:
            raise HeaderFieldError(f"entropy coder id {self.coder} is not one of {sorted(ENTROPY_CODERS)}")
        colors = COLOR_FORMATS_V1 if self.version == 1 else tuple(COLOR_FORMATS)
        if self.color not in colors:
            raise HeaderFieldError(f"color format {self.color} is not one of {sorted(colors)}")
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


def _header_body(header: Header, section_count: int, version: int = FORMAT_VERSION) -> bytes:
    name = header.codec.encode("ascii")
    parts = [bytes([len(name)]), name, bytes(header.fingerprint)]
    parts.append(
        _GEOMETRY.pack(header.coder, header.color, header.width, header.height, header.frames, *header.fps)
    )
    parts.append(bytes([len(header.config)]))
    for key, value in header.config.items():
        k = key.encode("ascii")
        parts += [bytes([len(k)]), k, _CONFIG_VALUE.pack(value)]
    parts.append((_U16 if version == 1 else _U32).pack(section_count))
    return b"".join(parts)


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
    if version == 1:
        (sections,) = _U16.unpack(r.take(2))
    else:
        (sections,) = _U32.unpack(r.take(4))
    if r.pos != len(body):
        raise HeaderFieldError(f"header body holds {len(body) - r.pos} unexplained bytes")
    limit = MAX_SECTIONS_V1 if version == 1 else MAX_SECTIONS
    if sections > limit:
        raise HeaderFieldError(f"{sections} sections; format version {version} allows at most {limit}")
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
    header.validate()  # every header rule is checked here, before the sections are looked at
    return header, sections


def _read_preamble(data) -> tuple[int, int]:
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


# --------------------------------------------------------------------------- writing


def default_layout(header: Header, count: int) -> tuple[list[int], list[int]]:
    """Section tags and keyframes of an image stream: every section is frame 0's."""
    if header.frames != 1:
        raise HeaderFieldError("a sequence must give the frame of every section (section_frames)")
    return [0] * count, [0] if count else []


def pack(
    header: Header,
    sections: list[bytes],
    section_frames: list[int] | None = None,
    keyframes: list[int] | None = None,
    version: int = FORMAT_VERSION,
) -> bytes:
    """Build a complete ``.ncb`` file (version 2 unless ``version=1`` is asked for).

    Args:
        header: validated before writing (:class:`HeaderFieldError` otherwise).
        sections: the codec's payload sections, in the codec's order.
        section_frames: v2: the frame of each section, or ``WHOLE_STREAM``; frames must not
            decrease.  Default (images): every section belongs to frame 0.
        keyframes: v2: the frames a decoder can start at (their first section is indexed).
        version: 1 writes the legacy layout (conformance tests only).
    """
    header = replace(header, version=version)
    header.validate()
    if version == 1:
        return _pack_v1(header, sections)
    if section_frames is None or keyframes is None:
        tags, keys = default_layout(header, len(sections))
        section_frames = tags if section_frames is None else section_frames
        keyframes = keys if keyframes is None else keyframes
    _check_layout(header, len(sections), list(section_frames))
    body = _header_body(header, len(sections), 2)
    if len(body) > MAX_HEADER_SIZE:
        raise HeaderFieldError("header body exceeds 4096 bytes")
    head = _PREAMBLE.pack(MAGIC, 2, 0, len(body)) + body
    parts = [head, _U32.pack(zlib.crc32(head))]
    pos = len(head) + 4
    offsets = []
    for section, tag in zip(sections, section_frames):
        if len(section) > 0xFFFFFFFF:
            raise HeaderFieldError("section larger than 4 GiB")
        chunk = _SECTION_HEAD.pack(len(section), tag) + bytes(section)
        parts += [chunk, _U32.pack(zlib.crc32(chunk))]
        offsets.append(pos)
        pos += len(chunk) + 4
    first_section: dict[int, int] = {}
    for i, tag in enumerate(section_frames):
        first_section.setdefault(tag, i)
    entries = []
    for frame in keyframes:
        if frame not in first_section:
            raise HeaderFieldError(f"keyframe {frame} has no section")
        entries.append(_INDEX_ENTRY.pack(frame, first_section[frame], offsets[first_section[frame]]))
    index = _U32.pack(len(entries)) + b"".join(entries)
    parts += [index, _U32.pack(zlib.crc32(index)), _U64.pack(pos)]
    return b"".join(parts)


def _pack_v1(header: Header, sections: list[bytes]) -> bytes:
    if len(sections) > MAX_SECTIONS_V1:
        raise HeaderFieldError(f"at most {MAX_SECTIONS_V1} sections in version 1")
    body = _header_body(header, len(sections), 1)
    parts = [_PREAMBLE.pack(MAGIC, 1, 0, len(body)), body]
    for section in sections:
        parts += [_U32.pack(len(section)), bytes(section)]
    data = b"".join(parts)
    return data + _U32.pack(zlib.crc32(data))


def _check_layout(header: Header, count: int, tags: list[int]) -> None:
    if len(tags) != count:
        raise HeaderFieldError("one frame tag per section")
    last = -1
    for i, tag in enumerate(tags):
        if tag == WHOLE_STREAM:
            continue
        if not 0 <= tag < header.frames:
            raise HeaderFieldError(f"section {i} belongs to frame {tag}, but the stream has {header.frames} frames")
        if tag < last:
            raise HeaderFieldError(f"section {i} belongs to frame {tag}, after a section of frame {last}")
        last = tag


# --------------------------------------------------------------------------- stream kinds


def check_image_stream(header: Header) -> None:
    """The rules of every stream of an image codec (FORMAT.md, "Image and video streams"):
    one frame, frame rate 0/1, every section tagged 0 and a frame index of frame 0 alone.

    Raises :class:`HeaderFieldError`; the header comes from :func:`unpack` (tags and index filled in).
    """
    name = header.codec
    if header.frames != 1:
        raise HeaderFieldError(f"{name} is an image codec: its streams have 1 frame, this header says {header.frames}")
    if tuple(header.fps) != (0, 1):
        raise HeaderFieldError(f"{name} is an image codec: its streams have frame rate 0/1, this header says "
                               f"{header.fps[0]}/{header.fps[1]}")
    if any(tag != 0 for tag in header.section_frames):
        raise HeaderFieldError(f"{name} is an image codec: every section of its streams is tagged frame 0, these are "
                               f"tagged {sorted(set(header.section_frames))}")
    expected = ((0, 0),) if header.section_frames else ()
    if tuple(header.keyframes) != expected:
        listed = [frame for frame, _ in header.keyframes]
        raise HeaderFieldError(f"{name} is an image codec: the frame index of its streams lists frame 0 alone, this "
                               f"one lists {listed}")


def check_video_stream(header: Header) -> None:
    """The rule of every stream of a video codec (FORMAT.md, "Image and video streams"): a frame
    rate numerator of at least 1.  Raises :class:`HeaderFieldError`."""
    if header.fps[0] < 1:
        raise HeaderFieldError(f"{header.codec} is a video codec: its streams need a frame rate, this header says "
                               f"{header.fps[0]}/{header.fps[1]}")


def check_color(header: Header, supported: tuple[int, ...]) -> None:
    """Refuse a colour format the codec's sections do not define (:class:`HeaderFieldError`)."""
    if header.color not in supported:
        have = " and ".join(f"{c} ({COLOR_FORMATS[c]})" for c in supported)
        got = COLOR_FORMATS.get(header.color, "unknown")
        raise HeaderFieldError(f"{header.codec} decodes colour formats {have}; this stream says {header.color} ({got}), "
                               f"which {header.codec}'s sections do not define")


# --------------------------------------------------------------------------- reading


@dataclass
class SectionEntry:
    """Where one section of a v2 file lies: ``offset`` of its length field, payload size, frame."""

    offset: int
    length: int
    frame: int


def _truncated(message: str, frame: int | None) -> TruncatedError:
    """A :class:`TruncatedError` whose ``frame`` attribute names the first frame the file lacks (or ``None``)."""
    error = TruncatedError(message)
    error.frame = frame
    return error


class StreamReader:
    """Reads a ``.ncb`` file through a seekable binary file object, section by section.

    Only the header, the frame index and 8 bytes per section are read when it opens; each
    section's payload is read (and its CRC checked) when asked for, so a long video need not
    be held in memory and a damaged section is reported with its number and frame.  Version
    1 files (one CRC over everything) are read whole.

    Attributes:
        header: the validated :class:`Header` (with ``section_frames`` and ``keyframes``).
        entries: one :class:`SectionEntry` per section.
        size: the file's size in bytes.
    """

    def __init__(self, file):
        self.file = file
        file.seek(0, 2)
        self.size = file.tell()
        file.seek(0)
        start = file.read(min(self.size, _PREAMBLE.size + MAX_HEADER_SIZE + 4))
        version, header_size = _read_preamble(start)
        self._v1_sections = None
        if version == 1:
            file.seek(0)
            self.header, self._v1_sections = _unpack_v1(memoryview(file.read()).cast("B"), version, header_size)
            self.entries = []
            return
        head_end = _PREAMBLE.size + header_size
        if len(start) < head_end + 4:
            raise TruncatedError(f"file is {self.size} bytes: it ends inside the {header_size}-byte header")
        (stored,) = _U32.unpack_from(start, head_end)
        if zlib.crc32(start[:head_end]) != stored:
            raise CrcMismatchError("header CRC32 mismatch: the header was altered or damaged in transfer")
        header, count = _parse_body(memoryview(start)[_PREAMBLE.size : head_end], version)
        if count * 12 > self.size:
            raise TruncatedError(f"header announces {count} sections, more than a {self.size}-byte file can hold")
        pos = head_end + 4
        entries = []
        for i in range(count):
            file.seek(pos)
            raw = file.read(_SECTION_HEAD.size)
            if len(raw) < _SECTION_HEAD.size:
                after = f" (after frame {entries[-1].frame})" if entries and entries[-1].frame != WHOLE_STREAM else ""
                raise _truncated(f"file ends before the head of section {i + 1} of {count}{after}",
                                 entries[-1].frame + 1 if after else None)
            length, tag = _SECTION_HEAD.unpack(raw)
            end = pos + _SECTION_HEAD.size + length + 4
            if end > self.size:
                where = f" (frame {tag})" if tag != WHOLE_STREAM else ""
                raise _truncated(
                    f"section {i + 1} of {count}{where} claims {length} bytes but the file ends "
                    f"{max(0, self.size - pos - _SECTION_HEAD.size)} bytes later (its CRC included)",
                    tag if where else None,
                )
            entries.append(SectionEntry(pos, length, tag))
            pos = end
        self.entries = entries
        header.section_frames = tuple(e.frame for e in entries)
        _check_layout(header, len(entries), list(header.section_frames))
        header.keyframes = self._read_index(pos, count)
        self.header = header

    def _read_index(self, pos: int, count: int) -> tuple[tuple[int, int], ...]:
        self.file.seek(pos)
        raw = self.file.read(4)
        if len(raw) < 4:
            raise TruncatedError("file ends before the frame index")
        (n,) = _U32.unpack(raw)
        if n > count:
            raise HeaderFieldError(f"frame index has {n} entries for {count} sections")
        body_size = 4 + n * _INDEX_ENTRY.size
        end = pos + body_size + 4 + _U64.size
        if end > self.size:
            raise TruncatedError("file ends inside the frame index or its trailer")
        if end < self.size:
            raise TrailingBytesError(f"{self.size - end} bytes follow the end of the stream (its trailer)")
        self.file.seek(pos)
        raw = self.file.read(body_size + 4 + _U64.size)
        (stored,) = _U32.unpack_from(raw, body_size)
        if zlib.crc32(raw[:body_size]) != stored:
            raise CrcMismatchError("frame index CRC32 mismatch: the index was altered or damaged")
        (index_offset,) = _U64.unpack_from(raw, body_size + 4)
        if index_offset != pos:
            raise HeaderFieldError(f"trailer points to byte {index_offset}, but the frame index starts at {pos}")
        first_section: dict[int, int] = {}
        for i, entry in enumerate(self.entries):
            first_section.setdefault(entry.frame, i)
        keyframes = []
        for k in range(n):
            frame, section, offset = _INDEX_ENTRY.unpack_from(raw, 4 + k * _INDEX_ENTRY.size)
            if (frame == WHOLE_STREAM or section >= count or offset != self.entries[section].offset
                    or self.entries[section].frame != frame):
                raise HeaderFieldError(f"frame index entry {k} (frame {frame}) does not point at a section of that frame")
            if first_section[frame] != section:
                raise HeaderFieldError(f"frame index entry {k} points at section {section}, but the first section of "
                                       f"frame {frame} is section {first_section[frame]}")
            if keyframes and frame <= keyframes[-1][0]:
                raise HeaderFieldError("frame index entries must ascend by frame")
            keyframes.append((frame, section))
        return tuple(keyframes)

    def section(self, i: int) -> bytes:
        """The payload of section ``i``; :class:`CrcMismatchError` if it is damaged."""
        if self._v1_sections is not None:
            return self._v1_sections[i]
        entry = self.entries[i]
        self.file.seek(entry.offset)
        raw = self.file.read(_SECTION_HEAD.size + entry.length + 4)
        if len(raw) != _SECTION_HEAD.size + entry.length + 4:
            raise TruncatedError(f"section {i} was cut short while reading")
        (stored,) = _U32.unpack_from(raw, _SECTION_HEAD.size + entry.length)
        if zlib.crc32(raw[: _SECTION_HEAD.size + entry.length]) != stored:
            where = "the whole stream" if entry.frame == WHOLE_STREAM else f"frame {entry.frame}"
            raise CrcMismatchError(f"section {i} ({where}) is damaged: its CRC32 does not match")
        return raw[_SECTION_HEAD.size : _SECTION_HEAD.size + entry.length]

    def sections(self) -> list[bytes]:
        """Every section's payload, each CRC-checked."""
        if self._v1_sections is not None:
            return list(self._v1_sections)
        return [self.section(i) for i in range(len(self.entries))]

    def keyframe_before(self, frame: int) -> tuple[int, int]:
        """``(frame, section)`` of the last frame at or before ``frame`` a decoder can start at."""
        candidates = [k for k in self.header.keyframes if k[0] <= frame]
        if not candidates:
            raise HeaderFieldError(f"no keyframe at or before frame {frame}")
        return candidates[-1]


def _unpack_v1(view: memoryview, version: int, header_size: int) -> tuple[Header, list[bytes]]:
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
    header.section_frames = (0,) * count
    header.keyframes = ((0, 0),) if count else ()
    return header, [bytes(view[a:b]) for a, b in spans]


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Validate and split a whole ``.ncb`` file (any supported version) into header and sections.

    Raises (all :class:`BitstreamError`): ``BadMagicError``, ``UnsupportedVersionError``,
    ``TruncatedError``, ``TrailingBytesError``, ``CrcMismatchError``, ``HeaderFieldError``.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    reader = StreamReader(io.BytesIO(bytes(data)))
    return reader.header, reader.sections()


def read_header(data: bytes) -> Header:
    """Parse and validate a file's header (every section's CRC is checked too)."""
    return unpack(data)[0]


def open_stream(path) -> StreamReader:
    """A :class:`StreamReader` over a file on disk (read lazily; close with ``reader.file.close()``)."""
    file = open(path, "rb")
    try:
        return StreamReader(file)
    except BaseException:
        file.close()
        raise


def _walk(data) -> tuple[int, int, list[tuple[int, int, int]], int | None]:
    """Where the parts of a file lie, as far as its length fields can be followed.

    Returns ``(version, header end, sections, index offset)``: each section as
    ``(offset of its length field, payload start, payload end)``; the index offset (v2) is
    ``None`` when the sections run past the data.  Validates nothing beyond the preamble.
    """
    version, header_size = _read_preamble(data)
    head_end = _PREAMBLE.size + header_size
    if version == 1:
        count, pos, head, crc = struct.unpack_from("<H", data, head_end - 2)[0], head_end, 4, 0
    else:
        count, pos, head, crc = struct.unpack_from("<I", data, head_end - 4)[0], head_end + 4, _SECTION_HEAD.size, 4
    spans = []
    for _ in range(min(count, len(data) // 4)):
        if pos + 4 > len(data):
            return version, head_end, spans, None
        (length,) = _U32.unpack_from(data, pos)
        end = pos + head + length
        if end + crc > len(data):
            return version, head_end, spans, None
        spans.append((pos, pos + head, end))
        pos = end + crc
    return version, head_end, spans, pos


def reseal(data: bytes) -> bytes:
    """Recompute every CRC (and the v2 trailer) of a structurally parseable file.

    For fuzzing and tests only: it lets a mutation reach the checks behind the CRCs.
    CRCs that the length fields do not lead to are left as they are.
    """
    buf = bytearray(data)
    try:
        version, head_end, spans, index = _walk(buf)
    except (BitstreamError, struct.error):
        return bytes(data)
    if version == 1:
        return bytes(buf[:-4]) + _U32.pack(zlib.crc32(bytes(buf[:-4]))) if len(buf) >= 4 else bytes(data)
    if len(buf) < head_end + 4:
        return bytes(data)
    buf[head_end : head_end + 4] = _U32.pack(zlib.crc32(bytes(buf[:head_end])))
    for start, _, end in spans:
        buf[end : end + 4] = _U32.pack(zlib.crc32(bytes(buf[start:end])))
    if index is not None and index + 4 <= len(buf):
        (n,) = _U32.unpack_from(buf, index)
        body_end = index + 4 + n * _INDEX_ENTRY.size
        if body_end + 12 <= len(buf):
            buf[body_end : body_end + 4] = _U32.pack(zlib.crc32(bytes(buf[index:body_end])))
            buf[body_end + 4 : body_end + 12] = _U64.pack(index)
    return bytes(buf)


def section_spans(data: bytes) -> list[tuple[int, int, int]]:
    """``(offset of the length field, payload start, payload end)`` of each section of a valid file."""
    return _walk(data)[2]


__all__ = [
    "BitstreamError",
    "Header",
    "StreamReader",
    "pack",
    "unpack",
    "read_header",
    "open_stream",
    "MAGIC",
    "FORMAT_VERSION",
    "COLOR_RGB",
    "COLOR_GRAY",
    "COLOR_YUV420",
    "CODER_CONSTRICTION_ANS",
    "WHOLE_STREAM",
    "check_image_stream",
    "check_video_stream",
    "check_color",
]
