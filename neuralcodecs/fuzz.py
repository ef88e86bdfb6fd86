"""Mutation fuzzing of ``.ncb`` decoding.

:func:`mutate` damages a valid file in one of several ways; :func:`run_fuzz` decodes many
mutants and tallies the outcomes.  The contract under test: every outcome is a decoded
image or a :class:`~neuralcodecs.errors.BitstreamError`; never another exception, a hang
(each decode runs under an alarm) or memory growth beyond a bound (peak RSS is tracked).

Mutation kinds (``KINDS``):

* ``bitflip``: 1-8 random bits anywhere (the CRC catches these);
* ``truncate``: the file cut at a random length;
* ``insert``: 1-16 random bytes inserted anywhere;
* ``header_field``: one header byte set to a random value, CRC recomputed, so that field
  validation and the codec's layout checks are reached;
* ``section_length``: a section length field changed, CRC recomputed;
* ``payload``: 1-8 bits of a section flipped, CRC recomputed, so that the entropy decoder
  itself sees damaged data;
* ``random_bytes``: random bytes behind a valid preamble, CRC recomputed.
"""

from __future__ import annotations

import resource
import signal
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .bitstream import FORMAT_VERSION, MAGIC, reseal, section_spans
from .errors import BitstreamError

KINDS = ("bitflip", "truncate", "insert", "header_field", "section_length", "payload", "random_bytes")


#: mutations whose CRCs are recomputed: a mutant of these may decode to other pixels (the
#: damage is invisible to the container); any other mutant that decodes must decode exactly
#: to the original's pixels, or the container let damage through silently.
RESEALED = ("header_field", "section_length", "payload", "random_bytes")


def mutate(data: bytes, rng: np.random.Generator, kind: str | None = None) -> tuple[str, bytes]:
    """One mutant of a valid file: ``(kind, bytes)``."""
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    buf = bytearray(data)
    body = bytearray(data)
    if kind == "bitflip":
        for _ in range(int(rng.integers(1, 9))):
            bit = int(rng.integers(len(buf) * 8))
            buf[bit // 8] ^= 1 << (bit % 8)
        return kind, bytes(buf)
    if kind == "truncate":
        return kind, bytes(buf[: int(rng.integers(0, len(buf)))])
    if kind == "insert":
        pos = int(rng.integers(0, len(buf) + 1))
        junk = rng.integers(0, 256, size=int(rng.integers(1, 17)), dtype=np.uint8).tobytes()
        return kind, bytes(buf[:pos]) + junk + bytes(buf[pos:])
    if kind == "header_field":
        header_size = struct.unpack_from("<H", data, 6)[0]
        pos = int(rng.integers(8, 8 + header_size))
        body[pos] = int(rng.integers(0, 256))
        return kind, reseal(bytes(body))
    if kind == "section_length":
        spans = section_spans(data)
        if spans:
            start, _, _ = spans[int(rng.integers(len(spans)))]
            old = struct.unpack_from("<I", body, start)[0]
            new = int(rng.choice([0, 1, 3, old - 4, old + 4, old * 2, 2**32 - 1, int(rng.integers(0, 2**32))]))
            struct.pack_into("<I", body, start, max(0, min(new, 2**32 - 1)))
        return kind, reseal(bytes(body))
    if kind == "payload":
        spans = [(a, b) for _, a, b in section_spans(data) if b > a]
        if spans:
            a, b = spans[int(rng.integers(len(spans)))]
            for _ in range(int(rng.integers(1, 9))):
                bit = int(rng.integers((b - a) * 8))
                body[a + bit // 8] ^= 1 << (bit % 8)
        return kind, reseal(bytes(body))
    if kind == "random_bytes":
        junk = rng.integers(0, 256, size=int(rng.integers(0, 2 * len(data))), dtype=np.uint8).tobytes()
        return kind, reseal(MAGIC + bytes([FORMAT_VERSION, 0]) + junk)
    raise ValueError(f"unknown mutation kind {kind!r}")


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


@dataclass
class FuzzTally:
    """Outcomes of a fuzz run."""

    mutants: int = 0
    decoded: int = 0
    decoded_identical: int = 0  # decoded to exactly the original's pixels
    decoded_different: Counter = field(default_factory=Counter)  # by kind: other pixels
    rejected: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    failures: list = field(default_factory=list)  # (kind, exception type, message)
    hangs: int = 0
    slowest_s: float = 0.0
    peak_rss_growth_mb: float = 0.0

    def as_dict(self) -> dict:
        return {
            "mutants": self.mutants,
            "decoded": self.decoded,
            "decoded_identical": self.decoded_identical,
            "decoded_different_by_kind": dict(sorted(self.decoded_different.items())),
            "silent_corruptions": sum(v for k, v in self.decoded_different.items() if k not in RESEALED),
            "rejected": sum(self.rejected.values()),
            "rejected_by_class": dict(sorted(self.rejected.items())),
            "mutants_by_kind": dict(sorted(self.by_kind.items())),
            "untyped_failures": len(self.failures),
            "failure_examples": self.failures[:20],
            "hangs": self.hangs,
            "slowest_decode_s": round(self.slowest_s, 3),
            "peak_rss_growth_mb": round(self.peak_rss_growth_mb, 1),
        }


def valid_output(out) -> bool:
    """What a decode may return: uint8 pixels ``(H, W, 3)`` / ``(T, H, W, 3)``, or a ``features``
    codec's finite float32 vector (class probabilities)."""
    if not isinstance(out, np.ndarray):
        return False
    if out.dtype == np.uint8:
        return out.ndim in (3, 4) and out.shape[-1] == 3
    return out.dtype == np.float32 and out.ndim == 1 and bool(np.isfinite(out).all())


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_fuzz(
    seeds: list[bytes],
    count: int,
    decode: Callable[[bytes], np.ndarray],
    seed: int = 0,
    timeout_s: int = 60,
    progress: bool = False,
) -> FuzzTally:
    """Decode ``count`` mutants of the ``seeds`` files and tally what happened."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    tally = FuzzTally()
    originals = [decode(s) for s in seeds]
    base_rss = _rss_mb()
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for _ in tqdm(range(count), disable=not progress, desc="fuzz", dynamic_ncols=True):
            which = int(rng.integers(len(seeds)))
            kind, data = mutate(seeds[which], rng)
            tally.mutants += 1
            tally.by_kind[kind] += 1
            start = time.perf_counter()
            signal.alarm(timeout_s)
            try:
                out = decode(data)
                if not valid_output(out):
                    tally.failures.append((kind, "BadOutput", repr(type(out))))
                else:
                    tally.decoded += 1
                    if out.shape == originals[which].shape and np.array_equal(out, originals[which]):
                        tally.decoded_identical += 1
                    else:
                        tally.decoded_different[kind] += 1
            except BitstreamError as exc:
                tally.rejected[type(exc).__name__] += 1
            except _Hang:
                tally.hangs += 1
                tally.failures.append((kind, "Hang", f"no result within {timeout_s} s"))
            except Exception as exc:  # noqa: BLE001 - the point is to catch anything untyped
                tally.failures.append((kind, type(exc).__name__, str(exc)[:200]))
            finally:
                signal.alarm(0)
            tally.slowest_s = max(tally.slowest_s, time.perf_counter() - start)
    finally:
        signal.signal(signal.SIGALRM, previous)
    tally.peak_rss_growth_mb = _rss_mb() - base_rss
    return tally
