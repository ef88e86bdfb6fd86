"""Entropy coders: exact round trips, honest sizes, and typed errors on damage."""

import numpy as np
import pytest
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from neuralcodecs.entropy.coders import SYMBOL_LIMIT, CategoricalCoder, CdfTable, TableCoder
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


def test_categorical_round_trip_shared_and_per_symbol_probabilities():
    rng = np.random.default_rng(5)
    probs = rng.random(1024) + 1e-3
    symbols = rng.integers(0, 1024, size=4000)
    assert np.array_equal(CategoricalCoder.decode(CategoricalCoder.encode(symbols, probs), 4000, probs), symbols)
    rows = rng.random((300, 16))
    symbols = rng.integers(0, 16, size=300)
    assert np.array_equal(CategoricalCoder.decode(CategoricalCoder.encode(symbols, rows), 300, rows), symbols)
    with pytest.raises(ValueError):
        CategoricalCoder.encode(np.array([16]), rows[0])
