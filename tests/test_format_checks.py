"""``bitstreams/FORMAT.md``, "Decoder checks, in order": one crafted file per documented check,
decoded with ``neuralcodecs.decode``, must raise the class the check names.

Every case names its check (the item number of FORMAT.md's list, with the letter of a sub-item)
and the rule it breaks.  Container files (checks 1-13) are written here by :func:`container`
straight from FORMAT.md's layout tables, so that any rule can be broken on purpose; a test
shows the writer gives the same bytes as :func:`neuralcodecs.bitstream.pack`.  Codec files
(checks 14-20) are the shipped conformance streams (tiny, no encoding needed) with one field,
tag or section changed, repacked by ``pack`` (so the container is valid).  Cases marked
"order" break two checks at once: the earlier check must win.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import struct
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pytest

import neuralcodecs as nc
from neuralcodecs import bitstream
from neuralcodecs.bitstream import MAGIC, WHOLE_STREAM
from neuralcodecs.cli import main
from neuralcodecs.errors import (BadMagicError, BitstreamError, CodecArgumentError, CorruptPayloadError,
                                 CrcMismatchError, DecodeBudgetError, HeaderFieldError, SectionLayoutError,
                                 TrailingBytesError, TruncatedError, UnknownCodecError, UnsupportedVersionError,
                                 WeightsMismatchError)

CONFORMANCE = Path(__file__).resolve().parents[1] / "bitstreams" / "conformance"
W = WHOLE_STREAM


# --------------------------------------------------------------------------- a writer from FORMAT.md

def u16(v: int) -> bytes:
    return struct.pack("<H", v)


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def crc(data: bytes) -> bytes:
    return u32(zlib.crc32(data))


HYPERPRIOR_CONFIG = ((b"quality_x256", 512), (b"latent_channels", 192))


def header_body(version: int, count: int, codec: bytes = b"hyperprior", fingerprint: bytes = bytes(range(16)),
                coder: int = 1, color: int = 0, width: int = 17, height: int = 33, frames: int = 1,
                fps: tuple[int, int] = (0, 1), config=HYPERPRIOR_CONFIG) -> bytes:
    """FORMAT.md "Header body", field by field; ``config`` is ``(key bytes, value)`` pairs (repeats allowed)."""
    body = bytes([len(codec)]) + codec + fingerprint + struct.pack("<BBIIIII", coder, color, width, height, frames, *fps)
    body += bytes([len(config)]) + b"".join(bytes([len(k)]) + k + struct.pack("<q", v) for k, v in config)
    return body + (u16(count) if version == 1 else u32(count))


def container(version: int, sections=(b"abcd", b"efghijkl"), tags=None, index=None, count=None, flags: int = 0,
              size: int | None = None, body: bytes | None = None, trailer: int | None = None, **fields) -> bytes:
    """A complete file laid out as FORMAT.md says ("Layout"; "Version 2"), every CRC right.

    Args:
        count: the header's section count (default: the sections given).
        size: the preamble's header size ``S`` (default: the body's length).
        body: the header body bytes (default: :func:`header_body` of ``fields``).
        tags: v2 frame tags (default all 0).
        index: v2 entries ``(frame, section)`` or ``(frame, section, offset)`` (default: frame 0 at section 0).
        trailer: v2 trailer value (default: the index's offset).
    """
    sections = list(sections)
    if body is None:
        body = header_body(version, len(sections) if count is None else count, **fields)
    head = MAGIC + bytes([version, flags]) + u16(len(body) if size is None else size) + body
    if version == 1:
        data = head + b"".join(u32(len(s)) + s for s in sections)
        return data + crc(data)
    data = head + crc(head)
    offsets = []
    for payload, tag in zip(sections, [0] * len(sections) if tags is None else tags):
        offsets.append(len(data))
        chunk = u32(len(payload)) + u32(tag) + payload
        data += chunk + crc(chunk)
    entries = [(0, 0)] if index is None and sections else index or []
    full = [e if len(e) == 3 else (*e, offsets[e[1]]) for e in entries]
    frame_index = u32(len(full)) + b"".join(struct.pack("<IIQ", *e) for e in full)
    return data + frame_index + crc(frame_index) + struct.pack("<Q", len(data) if trailer is None else trailer)


def flip(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def header_end(data: bytes) -> int:
    """Offset of the first byte after the header body."""
    return 8 + struct.unpack_from("<H", data, 6)[0]


def section_payload(data: bytes, i: int) -> int:
    """Offset of section ``i``'s first payload byte (a valid file)."""
    return bitstream.section_spans(data)[i][1]


def section_end(data: bytes, i: int) -> int:
    """Offset of the first byte after section ``i`` (its CRC included in version 2; a valid file)."""
    end = bitstream.section_spans(data)[i][2]
    return end + 4 if data[4] == 2 else end


def index_offset(data: bytes) -> int:
    return struct.unpack_from("<Q", data, len(data) - 8)[0]


# --------------------------------------------------------------------------- conformance streams, changed

STREAMS = {
    "hyperprior": "v2-hyperprior-rgb-33x17-q5.25.ncb",
    "hyperprior-v1": "v1-hyperprior-rgb-33x17-q5.25.ncb",
    "overfit": "v2-overfit-rgb-33x17-q4.ncb",
    "walloc": "v2-walloc-rgb-33x17-q3.ncb",
    "stem": "v2-stem-rgb-72x56x5-q4.ncb",  # 5 frames, intra period 3: tags 0,0,1,1,...; index frames 0, 3
    "nirvana": "v2-nirvana-rgb-72x56x5-q0.01.ncb",  # tags whole, 0, 3 (groups of 3); index frame 0
}


@lru_cache(maxsize=None)
def stream(name: str) -> bytes:
    return (CONFORMANCE / STREAMS[name]).read_bytes()


def forge(name: str, sections: Callable[[list[bytes]], list[bytes]] | None = None, tags=None, keyframes=None,
          **fields) -> bytes:
    """Conformance stream ``name`` with header ``fields`` replaced (``config`` merged), its
    sections, tags or indexed frames changed, repacked in its own version by ``bitstream.pack``."""
    header, original = bitstream.unpack(stream(name))
    if "config" in fields:
        fields["config"] = {k: v for k, v in {**header.config, **fields["config"]}.items() if v is not None}
    header = dataclasses.replace(header, **fields)
    payload = list(original) if sections is None else sections(list(original))
    if header.version == 1:
        return bitstream.pack(header, payload, version=1)
    tags = list(header.section_frames) if tags is None else tags
    keyframes = [k for k, _ in header.keyframes] if keyframes is None else keyframes
    return bitstream.pack(header, payload, section_frames=tags, keyframes=keyframes)


def revision_fingerprint(codec: str, revision: int) -> bytes:
    return hashlib.sha256(f"neuralcodecs-inr:{codec}:{revision}".encode()).digest()[:16]


# --------------------------------------------------------------------------- the table


@dataclasses.dataclass(frozen=True)
class Case:
    check: str  # FORMAT.md "Decoder checks, in order": item number (and sub-item letter)
    rule: str  # the rule the file breaks
    versions: tuple[int, ...]  # format versions the case is crafted in (``make`` gets the version)
    make: Callable[[int], bytes]
    error: type
    decode: dict = dataclasses.field(default_factory=dict)  # keyword arguments of neuralcodecs.decode
    match: str | None = None  # what the message must say, where FORMAT.md says what it names


V1, V2, BOTH = (1,), (2,), (1, 2)


def config_of(*pairs) -> tuple:
    return tuple((k.encode(), v) for k, v in pairs)


CONTAINER = [
    # 1-4: the preamble
    Case("1", "an empty file", (2,), lambda v: b"", BadMagicError),
    Case("1", "fewer than 4 bytes, a prefix of the magic", (2,), lambda v: MAGIC[:3], TruncatedError),
    Case("1", "fewer than 4 bytes, not a prefix of the magic", (2,), lambda v: b"NC", BadMagicError),
    Case("1", "4 or more bytes without the magic", (2,), lambda v: b"\x89PNG\r\n\x1a\n" + bytes(40), BadMagicError),
    Case("2", "the file ends inside the preamble", BOTH, lambda v: container(v)[:6], TruncatedError),
    Case("3", "a newer format version", BOTH, lambda v: container(v)[:4] + b"\x03" + container(v)[5:],
         UnsupportedVersionError),
    Case("3", "format version 0", BOTH, lambda v: container(v)[:4] + b"\x00" + container(v)[5:],
         UnsupportedVersionError),
    Case("4", "flags other than 0", BOTH, lambda v: container(v, flags=1), HeaderFieldError),
    Case("4", "header size S above 4096", BOTH, lambda v: container(v, size=4097), HeaderFieldError),
    # 5-7: the header
    Case("5", "the file ends inside the header body", BOTH,
         lambda v: container(v)[: header_end(container(v)) - 1], TruncatedError),
    Case("5", "the file ends inside the 4 bytes after the header body", BOTH,
         lambda v: container(v)[: header_end(container(v)) + 3], TruncatedError),
    Case("6", "header CRC mismatch (a fingerprint byte changed)", V2, lambda v: flip(container(v), 8 + 11 + 3),
         CrcMismatchError),
    Case("7", "codec name length 0", BOTH, lambda v: container(v, codec=b""), HeaderFieldError),
    Case("7", "codec name length 33", BOTH, lambda v: container(v, codec=b"a" * 33), HeaderFieldError),
    Case("7", "codec name outside [a-z0-9_-]", BOTH, lambda v: container(v, codec=b"Hyperprior"), HeaderFieldError),
    Case("7", "entropy coder id other than 1", BOTH, lambda v: container(v, coder=2), HeaderFieldError),
    Case("7", "colour format 2 in version 1", V1, lambda v: container(v, color=2), HeaderFieldError),
    Case("7", "colour format 3", BOTH, lambda v: container(v, color=3), HeaderFieldError),
    Case("7", "width 0", BOTH, lambda v: container(v, width=0), HeaderFieldError),
    Case("7", "width 65536", BOTH, lambda v: container(v, width=65536), HeaderFieldError),
    Case("7", "height 0", BOTH, lambda v: container(v, height=0), HeaderFieldError),
    Case("7", "frames 0", BOTH, lambda v: container(v, frames=0), HeaderFieldError),
    Case("7", "frames 100001", BOTH, lambda v: container(v, frames=100_001, fps=(25, 1)), HeaderFieldError),
    Case("7", "more than 2**31 samples", BOTH, lambda v: container(v, width=65535, height=65535), HeaderFieldError),
    Case("7", "frame rate denominator 0", BOTH, lambda v: container(v, fps=(0, 0)), HeaderFieldError),
    Case("7", "frame rate denominator 65536", BOTH, lambda v: container(v, fps=(0, 65536)), HeaderFieldError),
    Case("7", "33 config entries", BOTH, lambda v: container(v, config=config_of(*((f"k{i}", i) for i in range(33)))),
         HeaderFieldError),
    Case("7", "config key length 0", BOTH, lambda v: container(v, config=((b"", 1),)), HeaderFieldError),
    Case("7", "config key length 33", BOTH, lambda v: container(v, config=((b"k" * 33, 1),)), HeaderFieldError),
    Case("7", "config key outside [a-z0-9_]", BOTH, lambda v: container(v, config=((b"quality-x256", 1),)),
         HeaderFieldError),
    Case("7", "a config key twice", BOTH, lambda v: container(v, config=config_of(("quality_x256", 1), ("quality_x256", 2))),
         HeaderFieldError),
    Case("7", "section count above the version's limit (64; 2**24)", BOTH,
         lambda v: container(v, count=65 if v == 1 else 2**24 + 1), HeaderFieldError),
    Case("7", "header size S larger than the fields", BOTH,
         lambda v: container(v, body=header_body(v, 2) + b"\0"), HeaderFieldError),
    Case("7", "header size S smaller than the fields", BOTH,
         lambda v: container(v, body=header_body(v, 2)[:-1]), HeaderFieldError),
    # 8-10: the sections
    Case("8", "more sections than the file can hold (12 bytes each)", V2, lambda v: container(v, count=1000),
         TruncatedError),
    Case("9", "the file ends inside a section's payload", BOTH,
         lambda v: container(v)[: section_payload(container(v), 1) + 3], TruncatedError),
    Case("9", "the file ends inside a section's CRC", V2,
         lambda v: container(v)[: section_payload(container(v), 1) + 8 + 2], TruncatedError),
    Case("9", "the file ends before a section's length", BOTH,
         lambda v: container(v, count=3)[: section_end(container(v), 1)], TruncatedError),
    Case("10", "bytes after the CRC", V1, lambda v: container(v) + b"\0", TrailingBytesError),
    Case("10", "CRC mismatch (a payload byte changed)", V1,
         lambda v: flip(container(v), section_payload(container(v), 1)), CrcMismatchError),
    # 11-13: version 2's tags, index and section CRCs
    Case("11", "a tag that is neither 0xFFFFFFFF nor a frame", V2, lambda v: container(v, tags=[0, 1]),
         HeaderFieldError),
    Case("11", "a frame tag below an earlier one", V2,
         lambda v: container(v, tags=[1, 0], frames=2, fps=(25, 1), index=[(1, 0)]), HeaderFieldError),
    Case("11", "a frame tag below an earlier one, a whole-stream tag between", V2,
         lambda v: container(v, sections=[b"a", b"b", b"c"], tags=[1, W, 0], frames=2, fps=(25, 1), index=[(1, 0)]),
         HeaderFieldError),
    Case("12a", "the file ends before the index's entry count", V2,
         lambda v: container(v)[: index_offset(container(v)) + 2], TruncatedError),
    Case("12b", "more index entries than sections", V2,
         lambda v: container(v, index=[(0, 0), (1, 1), (2, 1)], frames=3, fps=(25, 1), tags=[0, 1]),
         HeaderFieldError),
    Case("12c", "the file ends inside the trailer", V2, lambda v: container(v)[:-3], TruncatedError),
    Case("12d", "bytes after the trailer", V2, lambda v: container(v) + b"\0", TrailingBytesError),
    Case("12e", "index CRC mismatch (an entry's offset changed)", V2,
         lambda v: flip(container(v), index_offset(container(v)) + 4 + 8), CrcMismatchError),
    Case("12f", "the trailer does not hold the index's offset", V2,
         lambda v: container(v, trailer=index_offset(container(v)) - 1), HeaderFieldError),
    Case("12g", "an entry for the whole-stream tag 0xFFFFFFFF", V2,
         lambda v: container(v, tags=[W, 0], frames=2, fps=(25, 1), index=[(W, 0)]), HeaderFieldError),
    Case("12g", "an entry's section number beyond the sections", V2,
         lambda v: container(v, index=[(0, 2, 0)]), HeaderFieldError),
    Case("12g", "an entry's section tagged with another frame", V2,
         lambda v: container(v, tags=[0, 1], frames=2, fps=(25, 1), index=[(1, 0)]), HeaderFieldError),
    Case("12g", "an entry that is not the first section of its frame", V2,
         lambda v: container(v, index=[(0, 1)]), HeaderFieldError),
    Case("12g", "an entry that is not the first section of its frame, a whole-stream section between", V2,
         lambda v: container(v, sections=[b"a", b"b", b"c"], tags=[0, W, 0], index=[(0, 2)]), HeaderFieldError),
    Case("12g", "an entry's offset other than its section's", V2,
         lambda v: container(v, index=[(0, 0, 999)]), HeaderFieldError),
    Case("12g", "entries that do not ascend by frame", V2,
         lambda v: container(v, tags=[0, 1], frames=2, fps=(25, 1), index=[(1, 1), (0, 0)]), HeaderFieldError),
    Case("13", "a section's CRC mismatch (a payload byte changed)", V2,
         lambda v: flip(container(v), section_payload(container(v), 1)), CrcMismatchError,
         match=r"section 1 \(frame 0\)"),
    # two defects: the earlier check wins
    Case("order 6<7", "header CRC mismatch and width 0", V2, lambda v: flip(container(v, width=0), 8 + 11 + 3),
         CrcMismatchError),
    Case("order 7<8", "section count above 2**24, more than the file holds", V2,
         lambda v: container(v, count=2**24 + 1), HeaderFieldError),
    Case("order 7<10", "width 0 and a CRC mismatch", V1,
         lambda v: flip(container(v, width=0), section_payload(container(v), 1)), HeaderFieldError),
    Case("order 9<10", "the file ends inside a section and the CRC cannot match", V1,
         lambda v: container(v)[:-5], TruncatedError),
    Case("order 11<13", "decreasing tags and a section CRC mismatch", V2,
         lambda v: flip(container(v, tags=[1, 0], frames=2, fps=(25, 1), index=[(1, 0)]),
                        section_payload(container(v), 1)), HeaderFieldError),
    Case("order 12d<13", "bytes after the trailer and a section CRC mismatch", V2,
         lambda v: flip(container(v), section_payload(container(v), 1)) + b"\0", TrailingBytesError),
]

CODEC = [
    Case("14", "codec name not registered", BOTH,
         lambda v: forge("hyperprior" if v == 2 else "hyperprior-v1", codec="nosuchcodec"), UnknownCodecError),
    # 15: the kind's rules (image codecs; video codecs)
    Case("15", "image codec: frames 2", BOTH,
         lambda v: forge("hyperprior" if v == 2 else "hyperprior-v1", frames=2), HeaderFieldError),
    Case("15", "image codec: frame rate 25/1", BOTH,
         lambda v: forge("hyperprior" if v == 2 else "hyperprior-v1", fps=(25, 1)), HeaderFieldError),
    Case("15", "image codec: frame rate 0/2", V2, lambda v: forge("hyperprior", fps=(0, 2)), HeaderFieldError),
    Case("15", "image codec: a section tagged 0xFFFFFFFF", V2, lambda v: forge("hyperprior", tags=[W, 0]),
         HeaderFieldError),
    Case("15", "image codec: an empty frame index", V2, lambda v: forge("hyperprior", keyframes=[]), HeaderFieldError),
    Case("15", "image codec with weights in the stream (overfit): frames 2", V2, lambda v: forge("overfit", frames=2),
         HeaderFieldError),
    Case("15", "image codec with weights in the stream (overfit): an empty frame index", V2,
         lambda v: forge("overfit", keyframes=[]), HeaderFieldError),
    Case("15", "video codec (stem): frame rate numerator 0", V2, lambda v: forge("stem", fps=(0, 1)), HeaderFieldError),
    Case("15", "video codec (nirvana): frame rate numerator 0", V2, lambda v: forge("nirvana", fps=(0, 1)),
         HeaderFieldError),
    # 16: the fingerprint
    Case("16", "fingerprint of other weights", BOTH,
         lambda v: forge("hyperprior" if v == 2 else "hyperprior-v1", fingerprint=bytes(16)), WeightsMismatchError),
    Case("16", "overfit: decoder revision 1", V2,
         lambda v: forge("overfit", fingerprint=revision_fingerprint("overfit", 1)), WeightsMismatchError),
    Case("16", "stem: fingerprint of other weights", V2, lambda v: forge("stem", fingerprint=bytes(16)),
         WeightsMismatchError),
    Case("16", "nirvana: decoder revision 2", V2,
         lambda v: forge("nirvana", fingerprint=revision_fingerprint("nirvana", 2)), WeightsMismatchError),
    # 17: colour format and config
    Case("17", "hyperprior: colour format 2 (YCbCr 4:2:0)", V2, lambda v: forge("hyperprior", color=2),
         HeaderFieldError),
    Case("17", "overfit: colour format 2", V2, lambda v: forge("overfit", color=2), HeaderFieldError),
    Case("17", "stem: colour format 2", V2, lambda v: forge("stem", color=2), HeaderFieldError),
    Case("17", "stem: colour format 1 (grayscale)", V2, lambda v: forge("stem", color=1), HeaderFieldError),
    Case("17", "nirvana: colour format 2", V2, lambda v: forge("nirvana", color=2), HeaderFieldError),
    Case("17", "hyperprior: quality_x256 outside its range", BOTH,
         lambda v: forge("hyperprior" if v == 2 else "hyperprior-v1", config={"quality_x256": 99999}), HeaderFieldError),
    Case("17", "hyperprior: a config key missing", V2, lambda v: forge("hyperprior", config={"latent_channels": None}),
         HeaderFieldError),
    Case("17", "overfit: a config key missing", V2, lambda v: forge("overfit", config={"hidden": None}),
         HeaderFieldError),
    Case("17", "walloc: prediction mode 2", V2, lambda v: forge("walloc", config={"prediction": 2}), HeaderFieldError),
    Case("17", "stem: intra_period -1", V2, lambda v: forge("stem", config={"intra_period": -1}), HeaderFieldError),
    Case("17", "stem: latent_channels other than the weights'", V2, lambda v: forge("stem", config={"latent_channels": 8}),
         HeaderFieldError),
    Case("17", "nirvana: parameters other than the architecture's count", V2,
         lambda v: forge("nirvana", config={"parameters": 10489}), HeaderFieldError),
    Case("17", "nirvana: architecture not canonical JSON", V2,
         lambda v: forge("nirvana", sections=lambda s: [s[0].replace(b",", b", "), *s[1:]]), HeaderFieldError),
    Case("17", "nirvana: no section at all (no architecture)", V2,
         lambda v: forge("nirvana", sections=lambda s: [], tags=[], keyframes=[]), SectionLayoutError),
    Case("17", "nirvana: architecture section tagged frame 0", V2, lambda v: forge("nirvana", tags=[0, 0, 3]),
         HeaderFieldError),
    # 18: the codec's sections: number, (video) tags and index, sizes
    Case("18", "hyperprior: 3 sections", BOTH,
         lambda v: forge("hyperprior" if v == 2 else "hyperprior-v1", sections=lambda s: [*s, b"abcd"],
                         tags=[0, 0, 0]), SectionLayoutError),
    Case("18", "hyperprior: y section above 5 * symbols + 64 bytes", V2,
         lambda v: forge("hyperprior", sections=lambda s: [s[0], s[1] * 100]), SectionLayoutError),
    Case("18", "hyperprior: z section not a multiple of 4 bytes", V2,
         lambda v: forge("hyperprior", sections=lambda s: [s[0] + b"\0", s[1]]), SectionLayoutError),
    Case("18", "overfit: 2 sections", V2, lambda v: forge("overfit", sections=lambda s: s[:2], tags=[0, 0]),
         SectionLayoutError),
    Case("18", "overfit: section 1 (ARM integers) other than 7 (2A + 2) bytes", V2,
         lambda v: forge("overfit", sections=lambda s: [s[0], s[1] + bytes(7), s[2]]), SectionLayoutError),
    Case("18", "stem: 2T - 1 sections", V2,
         lambda v: forge("stem", sections=lambda s: s[:-1], tags=[0, 0, 1, 1, 2, 2, 3, 3, 4]), SectionLayoutError),
    Case("18", "stem: tags other than 0, 0, 1, 1, ...", V2, lambda v: forge("stem", tags=[0, 0, 0, 1, 2, 2, 3, 3, 4, 4]),
         HeaderFieldError),
    Case("18", "stem: frame index not exactly the I-frames", V2, lambda v: forge("stem", keyframes=[0]),
         HeaderFieldError),
    Case("18", "stem: a section not a multiple of 4 bytes", V2,
         lambda v: forge("stem", sections=lambda s: [s[0] + b"\0\0", *s[1:]]), SectionLayoutError),
    Case("18", "nirvana: a group section missing", V2,
         lambda v: forge("nirvana", sections=lambda s: s[:2], tags=[W, 0]), SectionLayoutError),
    Case("18", "nirvana: a group tagged other than its first frame", V2, lambda v: forge("nirvana", tags=[W, 0, 2]),
         HeaderFieldError),
    Case("18", "nirvana: frame index without frame 0", V2, lambda v: forge("nirvana", keyframes=[]), HeaderFieldError),
    # 19: the budget (and the caller's frame selection just before it)
    Case("19", "hyperprior: more pixels than max_pixels", BOTH,
         lambda v: stream("hyperprior" if v == 2 else "hyperprior-v1"), DecodeBudgetError, {"max_pixels": 100}),
    Case("19", "stem: more memory than max_memory", V2, lambda v: stream("stem"), DecodeBudgetError,
         {"max_memory": "1M"}),
    Case("19", "nirvana: more pixels than max_pixels", V2, lambda v: stream("nirvana"), DecodeBudgetError,
         {"max_pixels": 1000}),
    Case("19", "stem: a frame beyond the stream asked for (not a stream error)", V2, lambda v: stream("stem"),
         CodecArgumentError, {"frames": [5]}),
    # 20: the payload
    Case("20", "hyperprior: y section changed (CRCs recomputed)", BOTH,
         lambda v: forge("hyperprior" if v == 2 else "hyperprior-v1",
                         sections=lambda s: [s[0], flip(s[1], len(s[1]) // 3)]), CorruptPayloadError),
    Case("20", "stem: frame 0's y section changed (CRCs recomputed)", V2,
         lambda v: forge("stem", sections=lambda s: [s[0], flip(s[1], len(s[1]) // 3), *s[2:]]), CorruptPayloadError),
    # two defects: the earlier check wins
    Case("order 15<16", "image codec with frames 2 and other weights' fingerprint", V2,
         lambda v: forge("hyperprior", frames=2, fingerprint=bytes(16)), HeaderFieldError),
    Case("order 16<17", "other weights' fingerprint and colour format 2", V2,
         lambda v: forge("hyperprior", fingerprint=bytes(16), color=2), WeightsMismatchError),
    Case("order 17<18", "quality_x256 out of range and 3 sections", V2,
         lambda v: forge("hyperprior", config={"quality_x256": 99999}, sections=lambda s: [*s, b"abcd"], tags=[0, 0, 0]),
         HeaderFieldError),
    Case("order 18<19", "3 sections and more pixels than max_pixels", V2,
         lambda v: forge("hyperprior", sections=lambda s: [*s, b"abcd"], tags=[0, 0, 0]), SectionLayoutError,
         {"max_pixels": 100}),
    Case("order 19<20", "a changed y section and more pixels than max_pixels", V2,
         lambda v: forge("hyperprior", sections=lambda s: [s[0], flip(s[1], len(s[1]) // 3)]), DecodeBudgetError,
         {"max_pixels": 100}),
]

CASES = [(case, v) for case in CONTAINER + CODEC for v in case.versions]


def case_id(item) -> str:
    case, version = item
    return f"check {case.check} v{version}: {case.rule}"


@pytest.mark.parametrize("item", CASES, ids=[case_id(item) for item in CASES])
def test_each_documented_check_raises_its_documented_class(item):
    case, version = item
    data = case.make(version)
    with pytest.raises(case.error, match=case.match) as info:
        nc.decode(data, **case.decode)
    assert type(info.value) is case.error, f"got {type(info.value).__name__}: {info.value}"
    if case.error is not CodecArgumentError:
        assert isinstance(info.value, BitstreamError)


@pytest.mark.parametrize("name, changes", [("hyperprior", {"frames": 2}), ("stem", {"fps": (0, 1)})],
                         ids=["image codec, frames 2", "video codec, frame rate 0/1"])
def test_latents_run_the_same_checks(name, changes):
    """Check 15 through ``neuralcodecs.latents``: the codec's checks guard every entry point."""
    with pytest.raises(HeaderFieldError):
        nc.latents(forge(name, **changes))


def test_every_check_of_format_md_has_a_case():
    """Each numbered check (and lettered sub-check) of FORMAT.md's list is crafted here."""
    text = (CONFORMANCE.parent / "FORMAT.md").read_text()
    section = text[text.index("## Decoder checks, in order"): text.index("## Entropy-coded sections")]
    numbers = re.findall(r"^(\d+)\. ", section, re.M)
    letters = re.findall(r"^ +\* \(([a-z])\) ", section, re.M)
    documented = set(numbers) | {f"12{x}" for x in letters}
    documented.discard("12")  # its sub-checks are
    crafted = {case.check for case in CONTAINER + CODEC if not case.check.startswith("order")}
    assert documented == crafted


def test_the_writer_here_lays_out_files_as_pack_does():
    """:func:`container` (from FORMAT.md alone) and ``bitstream.pack`` give the same bytes."""
    header = bitstream.Header(codec="hyperprior", fingerprint=bytes(range(16)), width=17, height=33,
                              config={"quality_x256": 512, "latent_channels": 192})
    sections = [b"abcd", b"efghijkl"]
    for version in (1, 2):
        assert container(version, sections) == bitstream.pack(header, sections, version=version)
    video = dataclasses.replace(header, frames=3, fps=(25, 1))
    ours = container(2, [b"a", b"b", b"c", b"d"], tags=[W, 0, 0, 2], frames=3, fps=(25, 1), index=[(0, 1), (2, 3)])
    assert ours == bitstream.pack(video, [b"a", b"b", b"c", b"d"], section_frames=[W, 0, 0, 2], keyframes=[0, 2])


def test_whole_stream_tags_may_stand_anywhere():
    """"Frame tags": leaving 0xFFFFFFFF out, tags never decrease (nirvana's conformance stream
    starts with one; here they stand between and after frame tags too)."""
    data = container(2, [b"a", b"b", b"c", b"d", b"e"], tags=[W, 0, W, 1, W], frames=2, fps=(25, 1),
                     index=[(0, 1), (1, 3)])
    header, _ = bitstream.unpack(data)
    assert header.section_frames == (W, 0, W, 1, W) and header.keyframes == ((0, 1), (1, 3))
    assert bitstream.unpack(stream("nirvana"))[0].section_frames == (W, 0, 3)


def test_cli_refuses_an_image_stream_of_two_frames_with_one_error_line(tmp_path, capsys):
    """Check 15 in the CLI: an image codec's stream with frames = 2 asked for as a video."""
    path = tmp_path / "x.ncb"
    path.write_bytes(forge("hyperprior", frames=2))
    assert main(["decode", str(path), "-o", str(tmp_path / "out.y4m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "image codec" in err[0] and "internal" not in err[0]
    assert not (tmp_path / "out.y4m").exists()
