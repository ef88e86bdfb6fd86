"""Mutated .ncb files decode correctly or raise a BitstreamError, nothing else.

Short mode here (a few hundred mutants); set NCODEC_FUZZ_COUNT for a longer run, or use
``python benchmarks/fuzz_decoder.py --count 10000`` for the long run with a JSON tally.
"""

import os

import pytest

import neuralcodecs as nc
from neuralcodecs.fuzz import KINDS, mutate, run_fuzz

COUNT = int(os.environ.get("NCODEC_FUZZ_COUNT", "400"))
MEMORY_BOUND_MB = 1500  # decodes of pictures up to 4x the seeds' area (budget below)


@pytest.fixture(scope="module")
def seeds(codec, small_photo):
    return [
        codec.encode(small_photo[:64, :96], quality=2),
        codec.encode(small_photo[:40, :40, 0], quality=7.5),  # grayscale
    ]


def test_every_mutation_kind_changes_the_file(seeds):
    import numpy as np

    rng = np.random.default_rng(0)
    for kind in KINDS:
        for _ in range(20):
            got_kind, data = mutate(seeds[0], rng, kind)
            assert got_kind == kind
            if data != seeds[0]:
                break
        else:
            pytest.fail(f"mutation {kind} never changed the file")


def test_mutants_decode_or_raise_bitstream_errors(seeds):
    budget = 4 * 64 * 96

    def decode(data):
        return nc.decode(data, max_pixels=budget)

    tally = run_fuzz(seeds, COUNT, decode, seed=1, timeout_s=60)
    report = tally.as_dict()
    assert report["untyped_failures"] == 0, report["failure_examples"]
    assert report["hangs"] == 0
    assert report["mutants"] == COUNT == report["decoded"] + report["rejected"]
    # a mutant whose CRCs were not recomputed never decodes to other pixels
    assert report["silent_corruptions"] == 0, report["decoded_different_by_kind"]
    # the run reached the deep checks, not only the CRC
    assert {"CrcMismatchError", "TruncatedError", "CorruptPayloadError"} <= set(report["rejected_by_class"])
    assert report["peak_rss_growth_mb"] < MEMORY_BOUND_MB
