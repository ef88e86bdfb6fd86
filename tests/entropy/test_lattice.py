"""Fractional-mean lattice tables: valid rows, storage round trip, exact rows, coding cost."""

import math

import numpy as np
import pytest
import torch

from neuralcodecs.entropy.coders import TableCoder
from neuralcodecs.entropy.gaussian import NUM_SCALES, scale_table
from neuralcodecs.entropy.lattice import FRACTIONS, build_table, lattice_rows, lattice_symbols, table_from_state, table_state


@pytest.fixture(scope="module")
def table():
    return build_table()


def test_rows_store_and_reload(table):
    assert table.cdf.shape[0] == NUM_SCALES * FRACTIONS
    table.validate()
    state = table_state(table, "t")
    assert state["t.cdf"].ndim == 1 and state["t.cdf"].numel() == int(table.cdf_length.sum())
    again = table_from_state(state, "t")
    assert torch.equal(again.cdf, table.cdf) and torch.equal(again.offset, table.offset)
    state["t.cdf_length"] = state["t.cdf_length"][:-1]
    with pytest.raises(ValueError):
        table_from_state(state, "t")


def test_fractional_mean_rows_are_exact():
    means = torch.tensor([0.0, 0.124, 0.125, 0.375, 0.875, -0.125, -0.13, 2.5], dtype=torch.float64)
    base, rows = lattice_rows(means, torch.full((8,), 3, dtype=torch.int64))
    assert base.tolist() == [0, 0, 0, 0, 1, 0, -1, 2]
    assert (rows - 3 * FRACTIONS).tolist() == [0, 0, 1, 2, 0, 0, 3, 2]


def test_values_cost_what_the_gaussian_says(table):
    """Values drawn around a fractional mean cost about their entropy; a rounded mean would cost more."""
    coder = TableCoder(table)
    rng = np.random.default_rng(0)
    k = 8  # sigma ~ 0.3
    sigma = scale_table()[k]
    values = torch.from_numpy(np.round(0.5 + sigma * rng.standard_normal(20000)).astype(np.int64))
    means = torch.full((20000,), 0.5, dtype=torch.float64)
    sym, rows = lattice_symbols(values, means, torch.full((20000,), k, dtype=torch.int64))
    data = coder.encode(sym, rows)
    assert np.array_equal(coder.decode(data, rows), sym)
    p = [0.5 * (math.erfc(-(v + 0.5 - 0.5) / (sigma * math.sqrt(2))) - math.erfc(-(v - 0.5 - 0.5) / (sigma * math.sqrt(2))))
         for v in (0, 1)]
    entropy = -sum(q * math.log2(q) for q in p)
    assert 8 * len(data) / 20000 < entropy * 1.03 + 0.01
    rounded = lattice_symbols(values, torch.full((20000,), 1.0, dtype=torch.float64), torch.full((20000,), k, dtype=torch.int64))
    assert coder.ideal_bits(*rounded) > 2 * coder.ideal_bits(sym, rows)
