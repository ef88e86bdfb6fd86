"""Every codec's decode estimate (neuralcodecs.budget) against what its decoder really does.

The multiply-accumulates a codec announces before decoding (``decode_estimate``) are compared
with the matrix products and convolutions torch's ``FlopCounterMode`` counts during a real
decode; the memory and compute checks refuse before any section is decoded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from torch.utils.flop_counter import FlopCounterMode

import neuralcodecs as nc
from neuralcodecs.bitstream import unpack
from neuralcodecs.budget import Budget, DecodeEstimate, check_budget
from neuralcodecs.errors import DecodeBudgetError

CONFORMANCE = Path(__file__).resolve().parents[1] / "bitstreams" / "conformance"


def counted_macs(codec, data: bytes) -> float:
    header, sections = unpack(data)
    with FlopCounterMode(display=False) as counter:
        codec.decode_parsed(header, sections)
    return counter.get_total_flops() / 2


@pytest.mark.parametrize("name, quality", [("hyperprior", 3), ("s2lic", 3), ("mcquic", 3), ("walloc", 3), ("vqgan", 64),
                                           ("student", 2)])
def test_image_codecs_announce_the_work_they_do(name, quality, small_photo):
    codec = nc.load_codec(name)
    data = codec.encode(np.ascontiguousarray(small_photo[:128, :192]), quality=quality)
    header, sections = unpack(data)
    estimate = codec.decode_estimate(header, sections)
    counted = counted_macs(codec, data)
    if name == "vqgan":  # FlopCounterMode does not count scaled_dot_product_attention: the estimate adds it
        h, w = codec.index_grid(header)
        attention = sum(2 * (h * w) ** 2 * m.proj.in_channels for m in codec.model.decoder.modules()
                        if type(m).__name__ == "AttnBlock")
        assert attention > 0
        counted += attention
    assert estimate.macs == pytest.approx(counted, rel=0.05)


@pytest.mark.parametrize("stream", ["v2-nerv-rgb-72x56x5-q0.01.ncb", "v2-hnerv-rgb-72x56x5-q0.01.ncb",
                                    "v2-nirvana-rgb-72x56x5-q0.01.ncb", "v2-stem-rgb-72x56x5-q4.ncb"])
def test_video_codecs_announce_the_work_they_do(stream):
    data = (CONFORMANCE / stream).read_bytes()
    header, sections = unpack(data)
    codec = nc.load_codec(header.codec)
    estimate = codec.decode_estimate(header, sections)
    assert estimate.macs == pytest.approx(counted_macs(codec, data), rel=0.05)
    one = codec.decode_estimate(header, sections, frames=[header.frames - 1])
    assert one.macs < estimate.macs and one.memory < estimate.memory  # a part costs less than the whole


def test_the_overfitted_image_codec_counts_its_header_widths():
    """Widths come from the stream: a wider synthesis is announced as more memory and work."""
    data = (CONFORMANCE / "v2-overfit-rgb-96x64-q1.ncb").read_bytes()
    header, sections = unpack(data)
    codec = nc.load_codec("overfit")
    base = codec.decode_estimate(header, sections)
    header.config["hidden"] = 256
    header.config["arm_hidden"] = 256
    wide = codec.decode_estimate(header, sections)
    assert wide.memory > base.memory and wide.macs > 5 * base.macs and wide.calls > base.calls
    header.width, header.height = 65535, 610  # 40 MP: refused by the memory budget from the header alone
    with pytest.raises(DecodeBudgetError, match="MiB"):
        check_budget(header, codec.decode_estimate(header, sections))


def test_the_compute_budget_names_the_work_and_the_flag():
    class Geometry:
        width, height, frames = 20, 20, 100_000

    heavy = DecodeEstimate(memory=2**20, macs=1e14)
    with pytest.raises(DecodeBudgetError, match="--max-compute") as raised:
        check_budget(Geometry, heavy)
    assert "G multiply-accumulates" in str(raised.value) and "15 min" in str(raised.value)
    check_budget(Geometry, heavy, Budget.of(max_compute="10h"))  # allowed when asked for
    for bad in ("forever", "-5m", 0, "nan"):
        with pytest.raises(nc.NeuralCodecsError):
            Budget.of(max_compute=bad)
    assert Budget.of(max_compute="90s").max_compute == 90 and Budget.of(max_compute="2h").max_compute == 7200


def test_a_huge_network_on_tiny_frames_is_refused_before_anything_is_built(monkeypatch):
    """The reported attack: a small nerv stream announcing a big network and 100,000 frames."""
    from neuralcodecs.hostile import hnerv_stream, nerv_stream

    from neuralcodecs.inr import hnerv_codec, nerv_codec

    def built(*args, **kwargs):
        raise AssertionError("a network was built before the budget check")

    for make, cls in ((nerv_stream, nerv_codec.NervCodec), (hnerv_stream, hnerv_codec.HnervCodec)):
        data = make(100_000, 20, 20, 10_000_000)
        assert len(data) < 600_000
        with monkeypatch.context() as m:
            m.setattr(cls, "renderer", built)
            with pytest.raises(DecodeBudgetError, match="compute budget"):
                nc.decode(data)


@pytest.mark.parametrize("stream", ["v2-hyperprior-rgb-96x64-q2.ncb", "v2-s2lic-rgb-96x64-q2.ncb", "v2-mcquic-rgb-96x64-q1.ncb",
                                    "v2-vqgan-rgb-96x64-q8.ncb", "v2-walloc-rgb-96x64-q1.ncb", "v2-stem-rgb-72x56x5-q4.ncb"])
def test_the_largest_geometry_a_header_can_hold_at_the_default_budget(stream):
    """Every family with shipped weights at the default budget: a header announcing 40 MP (the pixel
    budget's limit) is refused from its estimate alone when an image codec would need more than the
    memory budget; STEM's 40 MP of frames (one frame's working set at a time) fits both budgets."""
    data = (CONFORMANCE / stream).read_bytes()
    header, sections = unpack(data)
    codec = nc.load_codec(header.codec)
    header.width, header.height = 8000, 5000 // header.frames
    estimate = codec.decode_estimate(header, sections)
    budget = Budget()
    if codec.kind == "image":
        assert estimate.memory > budget.max_memory, estimate
        with pytest.raises(DecodeBudgetError, match="MiB"):
            check_budget(header, estimate)
    else:
        assert estimate.memory < budget.max_memory and 10 < estimate.seconds < budget.max_compute, estimate
