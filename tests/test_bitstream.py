"""The .ncb container: round trips and one typed error per kind of damage."""

import struct
import zlib

import pytest

from neuralcodecs import bitstream
from neuralcodecs.bitstream import Header, pack, unpack
from neuralcodecs.errors import (
    BadMagicError,
    BitstreamError,
    CrcMismatchError,
    HeaderFieldError,
    TrailingBytesError,
    TruncatedError,
    UnsupportedVersionError,
)

FP = bytes(range(16))


def make(**overrides):
    fields = dict(codec="hyperprior", fingerprint=FP, width=17, height=33, config={"quality_x256": 512, "latent_channels": 192})
    fields.update(overrides)
    return Header(**fields)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip_keeps_every_field():
    header = make(frames=1, color=bitstream.COLOR_GRAY)
    sections = [b"\x01\x02\x03\x04", b"", b"x" * 1000]
    data = pack(header, sections)
    got, got_sections = unpack(data)
    assert (got.codec, got.fingerprint, got.width, got.height, got.color, got.config, got.version) == (
        header.codec, header.fingerprint, header.width, header.height, header.color, header.config, 2)
    assert got_sections == sections
    assert got.section_frames == (0, 0, 0) and got.keyframes == ((0, 0),)
    assert data[:4] == bitstream.MAGIC
    v1, v1_sections = unpack(pack(header, sections, version=1))
    assert v1.version == 1 and v1_sections == sections


def test_every_proper_prefix_is_reported_as_truncated():
    data = pack(make(), [b"abcd" * 3, b"efgh"])
    for n in range(1, len(data)):
        with pytest.raises(TruncatedError):
            unpack(data[:n])


def test_empty_and_foreign_data_are_bad_magic():
    for data in (b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"hello world, not a stream"):
        with pytest.raises(BadMagicError):
            unpack(data)


def test_flipping_any_payload_bit_is_a_crc_mismatch_that_names_the_section():
    for version in (1, 2):
        data = bytearray(pack(make(), [b"abcdefgh", b"ijklmnop"], version=version))
        (_, _, end), = bitstream.section_spans(bytes(data))[1:]
        for bit in range(64):
            damaged = bytearray(data)
            damaged[end - 8 + bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(CrcMismatchError, match="section 1" if version == 2 else "CRC32"):
                unpack(bytes(damaged))


def test_newer_version_asks_for_an_upgrade():
    data = bytearray(pack(make(), [b"abcd"], version=1))
    data[4] = 3
    with pytest.raises(UnsupportedVersionError, match="upgrade"):
        unpack(with_crc(bytes(data[:-4])))


def test_trailing_bytes():
    for version in (1, 2):
        data = pack(make(), [b"abcd"], version=version)
        with pytest.raises(TrailingBytesError):
            unpack(data + b"\0")


def test_sequences_keep_frame_tags_and_the_frame_index(tmp_path):
    header = make(frames=4, fps=(30000, 1001))
    sections = [b"seq", b"f0", b"f1", b"f2a", b"f2b", b"f3"]
    tags = [bitstream.WHOLE_STREAM, 0, 1, 2, 2, 3]
    data = pack(header, sections, section_frames=tags, keyframes=[0, 2])
    got, got_sections = unpack(data)
    assert got.section_frames == tuple(tags) and got.keyframes == ((0, 1), (2, 3)) and got_sections == sections
    path = tmp_path / "v.ncb"
    path.write_bytes(data)
    reader = bitstream.open_stream(path)
    assert reader.keyframe_before(3) == (2, 3) and reader.keyframe_before(1) == (0, 1)
    assert reader.section(4) == b"f2b"
    reader.file.close()
    damaged = bytearray(data)
    _, _, end = bitstream.section_spans(data)[5]
    damaged[end - 1] ^= 1
    path.write_bytes(bytes(damaged))
    reader = bitstream.open_stream(path)  # opening reads no payload: the damage is found per section
    assert reader.section(2) == b"f1"
    with pytest.raises(CrcMismatchError, match="section 5 \\(frame 3\\)"):
        reader.section(5)
    reader.file.close()
    with pytest.raises(HeaderFieldError):
        pack(header, sections, section_frames=[0, 1, 0, 2, 2, 3], keyframes=[0])
    with pytest.raises(HeaderFieldError):
        pack(header, sections)  # a sequence must say which frame each section belongs to


def test_section_count_beyond_the_file_is_refused_before_allocation():
    """A header (CRC valid) that announces more sections than the file's bytes can hold is a
    TruncatedError from the count check itself, before any section is read; past the format's
    limit it is a HeaderFieldError."""
    data = bytearray(pack(make(), [b"abcd"]))
    header_size = struct.unpack_from("<H", data, 6)[0]
    for count in (2**24, len(data) // 12 + 1):
        struct.pack_into("<I", data, 8 + header_size - 4, count)
        with pytest.raises(TruncatedError, match=f"header announces {count} sections, more than a {len(data)}-byte file"):
            unpack(bitstream.reseal(bytes(data)))
    struct.pack_into("<I", data, 8 + header_size - 4, 2**24 + 1)
    with pytest.raises(HeaderFieldError, match="at most 16777216"):
        unpack(bitstream.reseal(bytes(data)))


def test_header_fields_outside_their_rules_are_refused_even_with_a_valid_crc():
    good = pack(make(), [b"abcd"], version=1)
    # width is the u32 after: preamble(8) + name len(1) + name(10) + fp(16) + coder(1) + color(1)
    offset = 8 + 1 + 10 + 16 + 2
    for value in (0, 70000):
        body = bytearray(good[:-4])
        body[offset : offset + 4] = struct.pack("<I", value)
        with pytest.raises(HeaderFieldError):
            unpack(with_crc(bytes(body)))
    body = bytearray(good[:-4])
    body[5] = 1  # flags must be zero
    with pytest.raises(HeaderFieldError):
        unpack(with_crc(bytes(body)))


def test_header_validation_on_write():
    with pytest.raises(HeaderFieldError):
        pack(make(codec="Bad Name"), [])
    with pytest.raises(HeaderFieldError):
        pack(make(config={"q": 1.5}), [])
    with pytest.raises(HeaderFieldError):
        pack(make(width=0), [])


def test_error_classes_are_bitstream_and_value_errors():
    for cls in (BadMagicError, CrcMismatchError, HeaderFieldError, TrailingBytesError, TruncatedError, UnsupportedVersionError):
        assert issubclass(cls, BitstreamError) and issubclass(cls, ValueError)
