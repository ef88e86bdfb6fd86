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
    assert got == header
    assert got_sections == sections
    assert data[:4] == bitstream.MAGIC


def test_every_proper_prefix_is_reported_as_truncated():
    data = pack(make(), [b"abcd" * 3, b"efgh"])
    for n in range(1, len(data)):
        with pytest.raises(TruncatedError):
            unpack(data[:n])


def test_empty_and_foreign_data_are_bad_magic():
    for data in (b"", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"hello world, not a stream"):
        with pytest.raises(BadMagicError):
            unpack(data)


def test_flipping_any_payload_bit_is_a_crc_mismatch():
    data = bytearray(pack(make(), [b"abcdefgh"]))
    start = len(data) - 4 - 8
    for bit in range(64):
        damaged = bytearray(data)
        damaged[start + bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(CrcMismatchError):
            unpack(bytes(damaged))


def test_newer_version_asks_for_an_upgrade():
    data = bytearray(pack(make(), [b"abcd"]))
    data[4] = 2
    with pytest.raises(UnsupportedVersionError, match="upgrade"):
        unpack(with_crc(bytes(data[:-4])))


def test_trailing_bytes():
    data = pack(make(), [b"abcd"])
    with pytest.raises(TrailingBytesError):
        unpack(data + b"\0")


def test_header_fields_outside_their_rules_are_refused_even_with_a_valid_crc():
    good = pack(make(), [b"abcd"])
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


def test_error_classes_are_distinct_bitstream_errors():
    classes = {BadMagicError, CrcMismatchError, HeaderFieldError, TrailingBytesError, TruncatedError, UnsupportedVersionError}
    assert all(issubclass(c, BitstreamError) and issubclass(c, ValueError) for c in classes)
    assert len(classes) == 6
