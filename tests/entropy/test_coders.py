"""Entropy coders: exact round trips, honest sizes, and typed errors on damage."""

import numpy as np
import pytest
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from neuralcodecs.entropy.coders import SYMBOL_LIMIT, CategoricalCoder, CdfTable, TableCoder, integer_table
from neuralcodecs.entropy.gaussian import scale_table
from neuralcodecs.errors import CorruptPayloadError


@pytest.fixture(scope="module")
def gaussian_table():
    gc = GaussianConditional(scale_table())
    gc.update()
    return CdfTable.from_compressai(gc)


@pytest.fixture(scope="module")
def factorized_table():
    torch.manual_seed(0)
    eb = EntropyBottleneck(8)
    eb.update(force=True)
    return CdfTable.from_compressai(eb)


def gaussian_symbols(rng, n):
    indexes = rng.integers(0, 64, size=n)
    scales = np.array(scale_table())[indexes]
    symbols = np.round(rng.normal(size=n) * scales).astype(np.int64)
    return symbols, indexes


def test_gaussian_table_round_trip_is_exact_including_escapes(gaussian_table):
    rng = np.random.default_rng(0)
    symbols, indexes = gaussian_symbols(rng, 20000)
    symbols[:5] = [SYMBOL_LIMIT, -SYMBOL_LIMIT, 5000, -3000, 77]  # far outside small-scale tables
    indexes[:5] = 0
    coder = TableCoder(gaussian_table)
    data = coder.encode(symbols.reshape(4, 5000), indexes.reshape(4, 5000))
    out = coder.decode(data, indexes.reshape(4, 5000))
    assert out.shape == (4, 5000)
    np.testing.assert_array_equal(out.reshape(-1), symbols)


def test_factorized_table_round_trip(factorized_table):
    rng = np.random.default_rng(1)
    shape = (1, 8, 5, 7)
    indexes = np.broadcast_to(np.arange(8).reshape(1, 8, 1, 1), shape)
    symbols = rng.integers(-6, 7, size=shape)
    coder = TableCoder(factorized_table)
    np.testing.assert_array_equal(coder.decode(coder.encode(symbols, indexes), indexes), symbols)


def test_size_is_close_to_the_ideal_code_length(gaussian_table):
    rng = np.random.default_rng(2)
    symbols, indexes = gaussian_symbols(rng, 100000)
    coder = TableCoder(gaussian_table)
    data = coder.encode(symbols, indexes)
    ideal = coder.ideal_bits(symbols, indexes) / 8
    assert ideal <= len(data) <= ideal * 1.005 + 16


def test_symbols_beyond_the_declared_range_are_refused(gaussian_table):
    coder = TableCoder(gaussian_table)
    with pytest.raises(ValueError):
        coder.encode(np.array([SYMBOL_LIMIT + 1]), np.array([3]))


def test_damaged_sections_raise_corrupt_payload(gaussian_table):
    rng = np.random.default_rng(3)
    symbols, indexes = gaussian_symbols(rng, 3000)
    coder = TableCoder(gaussian_table)
    data = coder.encode(symbols, indexes)
    damaged = [
        data[:-4],  # a word short
        data + b"\x01\0\0\0",  # a word too many
        data[:-1],  # not whole words
        b"",
        bytes(len(data)),  # zeros
    ]
    for bad in damaged:
        with pytest.raises(CorruptPayloadError):
            coder.decode(bad, indexes)
    with pytest.raises(CorruptPayloadError):  # decoding with more symbols than were coded
        coder.decode(data, np.concatenate([indexes, indexes[:10]]))


def test_random_bytes_never_decode_silently(gaussian_table):
    rng = np.random.default_rng(4)
    symbols, indexes = gaussian_symbols(rng, 500)
    coder = TableCoder(gaussian_table)
    failures = 0
    for _ in range(200):
        junk = rng.integers(1, 2**32, size=rng.integers(1, 300), dtype=np.uint64).astype("<u4").tobytes()
        try:
            coder.decode(junk, indexes)
        except CorruptPayloadError:
            failures += 1
    assert failures == 200


def test_categorical_round_trip_shared_and_per_symbol_weights():
    rng = np.random.default_rng(5)
    counts = rng.integers(0, 1000, size=1024)  # zero counts still get a nonzero probability
    symbols = rng.integers(0, 1024, size=4000)
    assert np.array_equal(CategoricalCoder.decode(CategoricalCoder.encode(symbols, counts), 4000, counts), symbols)
    rows = rng.integers(1, 2**20, size=(300, 16))
    symbols = rng.integers(0, 16, size=300)
    assert np.array_equal(CategoricalCoder.decode(CategoricalCoder.encode(symbols, rows), 300, rows), symbols)
    with pytest.raises(ValueError):
        CategoricalCoder.encode(np.array([16]), rows[0])
    with pytest.raises(ValueError, match="integer"):
        CategoricalCoder.encode(np.array([1]), rows[0] / 3.0)


# --------------------------------------------------------------------------- format pins


def _reference_ans(symbol_tables: list[tuple[int, np.ndarray]]) -> bytes:
    """ANS exactly as FORMAT.md words it, independent of constriction.

    ``symbol_tables``: ``(symbol, P)`` in decoding order, ``P`` the 24-bit integer table.
    State: 64 bits, starting at 0; symbols are pushed in reverse decoding order: if
    ``state >> 40 >= P[s]`` the low 32-bit word is emitted first; then
    ``state = (state // P[s]) << 24 | (state % P[s] + F[s])``.  The stream is the emitted
    words followed by the final state's words, low word first, without leading zero words.
    """
    words, state = [], 0
    for symbol, table in reversed(symbol_tables):
        p = int(table[symbol])
        left = int(np.sum(table[:symbol]))
        if state >> 40 >= p:
            words.append(state & 0xFFFFFFFF)
            state >>= 32
        state = ((state // p) << 24) | (state % p + left)
    tail = [state & 0xFFFFFFFF, state >> 32]
    while tail and tail[-1] == 0:
        tail.pop()
    return np.array(words + tail, dtype="<u4").tobytes()


def _sentinel_entries():
    uniform16 = np.full(2**16, 2**8, dtype=np.int64)  # 2**24 / 2**16
    return [(0x4E43, uniform16), (0x4221, uniform16)]


def test_integer_tables_follow_the_format_formula():
    rows = integer_table(np.array([[3, 0, 5, 8], [1, 1, 1, 1]]))
    expected_left = lambda w: [c * (2**24 - 4) // sum(w) + i for i, c in enumerate(np.concatenate([[0], np.cumsum(w)]))]
    assert rows.tolist() == [np.diff(expected_left([3, 0, 5, 8])).tolist(), np.diff(expected_left([1, 1, 1, 1])).tolist()]
    assert (rows.sum(axis=1) == 2**24).all() and rows.min() >= 1


def test_categorical_streams_are_the_reference_ans_bytes():
    """Pins the coder and the integer tables: a library's float rounding cannot change files."""
    rng = np.random.default_rng(11)
    for n in (2, 5, 300):
        weights = rng.integers(0, 5000, size=n)
        symbols = rng.integers(0, n, size=500)
        table = integer_table(weights)
        expected = _reference_ans([(int(s), table) for s in symbols] + _sentinel_entries())
        assert CategoricalCoder.encode(symbols, weights) == expected


def test_table_coder_streams_are_the_reference_ans_bytes(gaussian_table):
    """The 16-bit CDF rows become 24-bit tables by the format's formula (v1 files keep decoding)."""
    coder = TableCoder(gaussian_table)
    rng = np.random.default_rng(12)
    indexes = rng.integers(0, gaussian_table.cdf.shape[0], size=400)
    lengths = gaussian_table.cdf_length.numpy()
    offsets = gaussian_table.offset.numpy()
    symbols = np.array([rng.integers(0, lengths[k] - 2) + offsets[k] for k in indexes])
    cdf = gaussian_table.cdf.numpy().astype(np.int64)
    entries = []
    for k in range(len(lengths)):  # decoding order: by table row, C order within a row
        table = integer_table(np.diff(cdf[k, : lengths[k]]))
        entries += [(int(s - offsets[k]), table) for s in symbols[indexes == k]]
    assert coder.encode(symbols, indexes) == _reference_ans(entries + _sentinel_entries())
