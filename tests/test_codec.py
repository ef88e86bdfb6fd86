"""The codec contract's declarations: quality ladders and ranges, options, rate control over a ladder."""

import pytest

from neuralcodecs.codec import CodecOption, QualitySpec
from neuralcodecs.errors import CodecArgumentError
from neuralcodecs.ratecontrol import search_quality


def test_a_ladder_accepts_only_its_values_and_is_the_rate_control_grid():
    spec = QualitySpec.from_ladder([8, 16, 64, 256, 1024], default=256, unit="codebook size")
    assert spec.grid() == [8.0, 16.0, 64.0, 256.0, 1024.0] and spec.sweep == tuple(spec.grid())
    assert spec.check(64) == 64.0
    with pytest.raises(CodecArgumentError, match="codebook size"):
        spec.check(100)


def test_a_range_grid_steps_by_its_step_and_refuses_outside_values():
    spec = QualitySpec(1.0, 2.0, 1.5, 0.25, (1.0, 2.0))
    assert spec.grid() == [1.0, 1.25, 1.5, 1.75, 2.0]
    for bad in (0.5, 2.5, float("nan"), True, "3"):
        with pytest.raises(CodecArgumentError):
            spec.check(bad)


def test_search_over_a_ladder_finds_the_largest_quality_that_fits():
    sizes = {8.0: 100, 16.0: 180, 64.0: 400, 256.0: 900, 1024.0: 2000}
    grid = QualitySpec.from_ladder(sizes, default=64).grid()
    quality, data, trials = search_quality(lambda q: b"x" * sizes[q], grid, score=lambda s: -s, feasible=lambda s: s <= 500)
    assert quality == 64.0 and len(data) == 400 and trials <= 4
    assert search_quality(lambda q: b"x" * sizes[q], grid, score=lambda s: -s, feasible=lambda s: s <= 50) is None


def test_options_convert_and_check_their_range():
    effort = CodecOption("effort", int, 2, "fitting effort", minimum=1, maximum=5)
    assert effort.flag == "--effort" and effort.check("3") == 3
    for bad in ("x", 0, 9):
        with pytest.raises(CodecArgumentError, match="--effort"):
            effort.check(bad)
    size = CodecOption("size", str, "0.3M", "model size", choices=("0.3M", "1.5M"))
    with pytest.raises(CodecArgumentError, match="one of"):
        size.check("3M")
