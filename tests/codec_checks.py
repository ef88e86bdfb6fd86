"""Checks every image codec's tests run: thread-count independence and the fuzz harness."""

import numpy as np
import torch

from neuralcodecs.budget import Budget
from neuralcodecs.fuzz import run_fuzz


def assert_decoding_ignores_thread_count(codec, data: bytes) -> None:
    """Decoding ``data`` with one and with two threads gives identical pixels."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.decode(data)
        torch.set_num_threads(2)
        two = codec.decode(data)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, two)


def assert_mutants_decode_or_raise_bitstream_errors(codec, seeds: list[bytes], count: int, max_pixels: int) -> dict:
    """Fuzz ``seeds``: no untyped failure, hang or silent corruption; returns the report."""
    budget = Budget(max_pixels=max_pixels)
    tally = run_fuzz(seeds, count, lambda d: codec.decode(d, budget=budget), seed=3, timeout_s=60)
    report = tally.as_dict()
    assert report["untyped_failures"] == 0, report["failure_examples"]
    assert report["hangs"] == 0 and report["silent_corruptions"] == 0
    return report
