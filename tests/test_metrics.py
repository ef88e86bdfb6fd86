"""Metrics: PSNR, MS-SSIM and Bjontegaard deltas, pinned to a published value."""

from pathlib import Path

import numpy as np
import pytest

from neuralcodecs.metrics import bd_psnr, bd_rate, ms_ssim, psnr
from neuralcodecs.plot import bd_table, load_curves

PUBLISHED = Path(__file__).resolve().parents[1] / "benchmarks" / "published"


def test_bd_rate_regression_pin_on_compressais_published_curves():
    """A regression pin, not an external reference: -6.85% is what this implementation
    computed when it was written (PCHIP, overlap interval) for CompressAI's published Kodak
    curves of mbt2018-mean vs bmshj2018-hyperprior.  It catches changes to the BD-rate code;
    agreement with other BD-rate tools is not claimed by this test."""
    curves = load_curves(
        [PUBLISHED / "compressai-bmshj2018-hyperprior-kodak.json", PUBLISHED / "compressai-mbt2018-mean-kodak.json"], "psnr"
    )
    anchor, test = curves
    value = bd_rate(anchor["bpp"], anchor["quality"], test["bpp"], test["quality"])
    assert value == pytest.approx(-6.85, abs=0.1)
    table = bd_table(curves, anchor["name"], "psnr")
    assert "-6.8" in table


def test_bd_rate_of_a_uniformly_cheaper_codec():
    bpp = [0.2, 0.4, 0.8, 1.6]
    q = [28.0, 31.0, 34.5, 38.0]
    assert bd_rate(bpp, q, bpp, q) == pytest.approx(0.0, abs=1e-9)
    assert bd_rate(bpp, q, [b * 0.9 for b in bpp], q) == pytest.approx(-10.0, abs=1e-6)
    assert bd_psnr(bpp, q, bpp, [v + 0.5 for v in q]) == pytest.approx(0.5, abs=1e-9)
    with pytest.raises(ValueError):
        bd_rate(bpp, q, bpp, [v + 20 for v in q])


def test_psnr_and_ms_ssim():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (1 / a.size)))
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(a, 255 - a) < 0.5
