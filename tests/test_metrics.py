"""Metrics: PSNR, MS-SSIM and Bjontegaard deltas.

The BD tests never compare the implementation with numbers it produced itself: they use
curves whose BD values are known in closed form, and published rate-distortion points whose
BD values are computed here by an independent reference -- the Bjontegaard definition with a
hand-written monotone piecewise-cubic (Fritsch-Carlson / Matlab ``pchip``) fit, integrated by
the trapezoid rule on a dense grid, without scipy.
"""

import math
from pathlib import Path

import numpy as np
import pytest

from neuralcodecs.metrics import bd_psnr, bd_rate, ms_ssim, psnr
from neuralcodecs.plot import bd_table, load_curves

PUBLISHED = Path(__file__).resolve().parents[1] / "benchmarks" / "published"

# libx265 at two preset settings, as published with the FAU-LMS ``bjontegaard`` package's
# README (rate in kbps, PSNR in dB): anchor first, test second.
X265_ANCHOR = ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851])
X265_TEST = ([9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987])


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson derivatives: weighted harmonic means inside, the shape-preserving
    three-point formula at the ends (as Matlab's ``pchip``)."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    n = len(x)
    d = np.zeros(n)
    if n == 2:
        return np.full(n, delta[0])
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
    for end, (h0, h1, d0, d1) in ((0, (h[0], h[1], delta[0], delta[1])), (n - 1, (h[-1], h[-2], delta[-1], delta[-2]))):
        s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(s) != np.sign(d0):
            s = 0.0
        elif np.sign(d0) != np.sign(d1) and abs(s) > abs(3 * d0):
            s = 3 * d0
        d[end] = s
    return d


def _pchip_eval(x: np.ndarray, y: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The cubic Hermite interpolant through ``(x, y)`` with :func:`_pchip_slopes`, at ``t``."""
    d = _pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    s = (t - x[k]) / h
    h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
    h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
    return h00 * y[k] + h10 * h * d[k] + h01 * y[k + 1] + h11 * h * d[k + 1]


def _mean_over(x, y, lo, hi, samples=200_001):
    """Mean of the fitted curve over ``[lo, hi]`` by the trapezoid rule."""
    order = np.argsort(x)
    t = np.linspace(lo, hi, samples)
    v = _pchip_eval(np.asarray(x, float)[order], np.asarray(y, float)[order], t)
    return float(np.sum((v[1:] + v[:-1]) / 2) * (t[1] - t[0]) / (hi - lo))


def reference_bd_rate(anchor, test):
    """Bjontegaard delta rate in percent: log-rate as a function of quality, averaged over the
    overlapping quality interval."""
    (ra, qa), (rt, qt) = anchor, test
    lo, hi = max(min(qa), min(qt)), min(max(qa), max(qt))
    diff = _mean_over(qt, np.log(rt), lo, hi) - _mean_over(qa, np.log(ra), lo, hi)
    return (math.exp(diff) - 1) * 100


def reference_bd_psnr(anchor, test):
    """Bjontegaard delta quality: quality as a function of log-rate, averaged over the
    overlapping log-rate interval."""
    (ra, qa), (rt, qt) = anchor, test
    la, lt = np.log(ra), np.log(rt)
    lo, hi = max(la.min(), lt.min()), min(la.max(), lt.max())
    return _mean_over(lt, qt, lo, hi) - _mean_over(la, qa, lo, hi)


# several shapes of curve: uneven spacing, more than four points, points in no particular order
CURVES = [
    ([0.2, 0.4, 0.8, 1.6], [28.0, 31.0, 34.5, 38.0]),
    ([0.13, 0.95, 0.31, 0.52, 1.7, 0.2], [27.4, 36.2, 31.0, 33.1, 39.9, 29.3]),
    ([9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851]),
]


@pytest.mark.parametrize("rate, quality", CURVES)
@pytest.mark.parametrize("factor", [0.5, 0.9, 1.25])
def test_a_constant_rate_factor_is_exactly_that_bd_rate(rate, quality, factor):
    """The same qualities at ``factor`` times the rate: the log-rate curves differ by a constant."""
    cheaper = [r * factor for r in rate]
    assert bd_rate(rate, quality, cheaper, quality) == pytest.approx((factor - 1) * 100, abs=1e-9)
    assert bd_rate(cheaper, quality, rate, quality) == pytest.approx((1 / factor - 1) * 100, abs=1e-9)
    assert bd_rate(rate, quality, rate, quality) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("rate, quality", CURVES)
@pytest.mark.parametrize("shift", [0.5, -1.2])
def test_a_constant_quality_shift_is_exactly_that_bd_psnr(rate, quality, shift):
    better = [q + shift for q in quality]
    assert bd_psnr(rate, quality, rate, better) == pytest.approx(shift, abs=1e-9)
    assert bd_psnr(rate, better, rate, quality) == pytest.approx(-shift, abs=1e-9)


def test_log_linear_curves_sampled_apart_have_closed_form_bd_values():
    """ln R = a + b q for both codecs, with other slopes, other sample points and only part of the
    quality range in common: every monotone cubic fit is the line itself, so the averages over the
    overlap are those of two lines, ``(a2 - a1) + (b2 - b1) (lo + hi) / 2``."""
    (a1, b1), (a2, b2) = (-9.0, 0.25), (-9.6, 0.255)
    qa = np.array([27.0, 29.5, 33.0, 36.0, 38.5])
    qt = np.array([30.0, 31.0, 34.0, 37.0, 40.0, 41.0])
    anchor, test = (np.exp(a1 + b1 * qa), qa), (np.exp(a2 + b2 * qt), qt)
    lo, hi = 30.0, 38.5
    expected_rate = (math.exp((a2 - a1) + (b2 - b1) * (lo + hi) / 2) - 1) * 100
    # quality as a function of L = ln R: q = (L - a) / b, over the common log-rate interval
    la, lt = np.log(anchor[0]), np.log(test[0])
    llo, lhi = max(la.min(), lt.min()), min(la.max(), lt.max())
    mid = (llo + lhi) / 2
    expected_psnr = (mid - a2) / b2 - (mid - a1) / b1
    assert abs(expected_rate) > 5 and abs(expected_psnr) > 0.5  # a real difference, not a shift
    assert bd_rate(*anchor, *test) == pytest.approx(expected_rate, abs=1e-9)
    assert bd_psnr(*anchor, *test) == pytest.approx(expected_psnr, abs=1e-9)
    # the reference below agrees on this case, which vouches for it on the published points
    assert reference_bd_rate(anchor, test) == pytest.approx(expected_rate, abs=1e-6)
    assert reference_bd_psnr(anchor, test) == pytest.approx(expected_psnr, abs=1e-6)


def _published(name):
    (curve,) = load_curves([PUBLISHED / f"compressai-{name}-kodak.json"], "psnr")
    return curve


@pytest.mark.parametrize("anchor, test", [
    (X265_ANCHOR, X265_TEST),
    ("bmshj2018-hyperprior", "mbt2018-mean"),
    ("bmshj2018-hyperprior", "cheng2020-anchor"),
    ("mbt2018-mean", "cheng2020-anchor"),
])
def test_published_points_agree_with_the_independent_reference(anchor, test):
    if isinstance(anchor, str):
        anchor, test = _published(anchor), _published(test)
        anchor, test = (anchor["bpp"], anchor["quality"]), (test["bpp"], test["quality"])
    expected_rate, expected_psnr = reference_bd_rate(anchor, test), reference_bd_psnr(anchor, test)
    assert abs(expected_rate) > 0.5 and abs(expected_psnr) > 0.02  # the curves really differ
    assert bd_rate(*anchor, *test) == pytest.approx(expected_rate, abs=1e-4)
    assert bd_psnr(*anchor, *test) == pytest.approx(expected_psnr, abs=1e-5)


def test_the_plot_table_prints_the_bd_values():
    curves = [_published("bmshj2018-hyperprior"), _published("mbt2018-mean")]
    anchor, test = ((c["bpp"], c["quality"]) for c in curves)
    table = bd_table(curves, curves[0]["name"], "psnr")
    row = next(line for line in table.splitlines() if line.startswith(f"| {curves[1]['name']} |"))
    assert f"{reference_bd_rate(anchor, test):+.2f}%" in row
    assert f"{reference_bd_psnr(anchor, test):+.3f} dB" in row


def test_curves_without_a_common_range_are_refused():
    bpp, q = [0.2, 0.4, 0.8, 1.6], [28.0, 31.0, 34.5, 38.0]
    with pytest.raises(ValueError):
        bd_rate(bpp, q, bpp, [v + 20 for v in q])
    with pytest.raises(ValueError):
        bd_psnr(bpp, q, [b * 100 for b in bpp], q)


def test_psnr_and_ms_ssim():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, size=(64, 48, 3), dtype=np.uint8)
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert psnr(a, a) == float("inf")
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (1 / a.size)))
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(a, 255 - a) < 0.5
