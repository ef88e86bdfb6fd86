"""The decoder's resource budget: what a file may ask of the machine that decodes it.

A ``.ncb`` header (with, for overfitted codecs, the architecture it carries) says how much work
its decoding is before any of it is done, so a decoder refuses a file that would exceed its
budget instead of running out of memory, or computing for hours, part-way:

* ``max_pixels`` (default 40 MP): width x height x frames;
* ``max_memory`` (default 4 GiB): the codec's estimate of its peak decoding memory;
* ``max_compute`` (default 15 minutes): the codec's estimate of its decoding time on the
  reference machine (below).

Each codec states its estimate as a :class:`DecodeEstimate` (``Codec.decode_estimate``):
peak bytes, and the work as three counts a decoder's time follows -- multiply-accumulates of
its networks, parameter values read per network call (a big network run on tiny frames is
bound by reading its weights, not by arithmetic: a 55M-parameter NeRV on 20x20 frames rendered
5 frames a second, 0.3 G weights/s against 40 G MAC/s for convolutions on large frames), and network calls
(each costs a fixed overhead: frames rendered, wavefronts of an auto-regressive model).  The
estimate in seconds is ``macs / MACS_PER_SECOND + weight_reads / WEIGHTS_PER_SECOND + calls *
SECONDS_PER_CALL``, with rates measured on the reference machine (a 2-core x86 CPU with
AVX-512, one decode at a time) by ``benchmarks/decode_compute.py``, which also compares the
estimate with measured decoding times of every codec.  A faster machine gets through the same
budget sooner; ``max_compute`` is a bound on work stated in a unit people can judge, not a
timer.

All three are checked before any section is entropy-decoded and before any network is built.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import CodecArgumentError, DecodeBudgetError

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_MEMORY = 4 * 2**30
DEFAULT_MAX_COMPUTE = 15 * 60.0  # seconds of the reference machine

#: the reference machine's rates, fitted by ``benchmarks/decode_compute.py`` on 13 streams of all
#: 10 codecs (44 G MAC/s, 0.66 G weight reads/s, 189 us per call; rounded, and the weight rate
#: lowered to what a 55M-parameter network that does not fit in the caches reached: 0.27 G/s)
MACS_PER_SECOND = 40e9
WEIGHTS_PER_SECOND = 0.5e9
SECONDS_PER_CALL = 2e-4

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)
_SECONDS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}


def parse_size(text: str | int) -> int:
    """``"512M"``, ``"4G"``, ``"1.5GiB"`` or a byte count -> bytes (binary units)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE_RE.match(str(text))
        if not match:
            raise CodecArgumentError(f"bad memory size {str(text)[:40]!r}; use bytes or a number with K, M, G or T (e.g. 4G)")
        value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise CodecArgumentError(f"memory size must be positive, got {text!r}")
    return value


def parse_duration(text: str | int | float) -> float:
    """``"90s"``, ``"15m"``, ``"2h"`` or a number of seconds -> seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _DURATION_RE.match(str(text))
        if not match:
            raise CodecArgumentError(f"bad compute budget {str(text)[:40]!r}; use seconds or a number with s, m or h (e.g. 15m)")
        value = float(match.group(1)) * _SECONDS[(match.group(2) or "").lower()]
    if not value > 0 or value == float("inf"):
        raise CodecArgumentError(f"compute budget must be a positive duration, got {text!r}")
    return value


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


@dataclass(frozen=True)
class Budget:
    """What a decoder accepts (defaults: :data:`DEFAULT_MAX_PIXELS`, :data:`DEFAULT_MAX_MEMORY`,
    :data:`DEFAULT_MAX_COMPUTE`)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_memory: int = DEFAULT_MAX_MEMORY
    max_compute: float = DEFAULT_MAX_COMPUTE  # seconds of the reference machine

    @classmethod
    def of(cls, max_pixels=None, max_memory=None, max_compute=None) -> "Budget":
        """A budget from user values (``None``: the default; sizes like ``"512M"``, durations like ``"15m"``)."""
        if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0):
            raise CodecArgumentError(f"max_pixels must be a positive integer, got {max_pixels!r}")
        return cls(
            DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels,
            DEFAULT_MAX_MEMORY if max_memory is None else parse_size(max_memory),
            DEFAULT_MAX_COMPUTE if max_compute is None else parse_duration(max_compute),
        )


@dataclass(frozen=True)
class DecodeEstimate:
    """A codec's estimate of decoding one stream (or the requested frames of it).

    Attributes:
        memory: peak bytes.
        macs: multiply-accumulates of every network the decode runs.
        weight_reads: parameter values read from memory, summed over network calls.
        calls: network calls whose fixed overhead counts (frames rendered, wavefronts decoded).
    """

    memory: int
    macs: float = 0.0
    weight_reads: float = 0.0
    calls: float = 0.0

    @property
    def seconds(self) -> float:
        """Estimated decoding time on the reference machine."""
        return self.macs / MACS_PER_SECOND + self.weight_reads / WEIGHTS_PER_SECOND + self.calls * SECONDS_PER_CALL

    def describe(self) -> str:
        parts = [f"{self.macs / 1e9:.3g} G multiply-accumulates"]
        if self.weight_reads:
            parts.append(f"{self.weight_reads / 1e9:.3g} G weight reads")
        if self.calls:
            parts.append(f"{self.calls:.3g} network calls")
        return ", ".join(parts)


def check_budget(header, estimate: DecodeEstimate, budget: Budget | None = None) -> None:
    """Raise :class:`DecodeBudgetError` if decoding ``header`` would exceed ``budget``
    (default: :class:`Budget` ())."""
    budget = budget or Budget()
    samples = header.width * header.height * header.frames
    if samples > budget.max_pixels:
        raise DecodeBudgetError(
            f"stream of {header.frames} x {header.width}x{header.height} pixels exceeds the decoder's budget of "
            f"{budget.max_pixels} pixels; pass max_pixels=... (CLI: --max-pixels) if this machine has the memory"
        )
    if estimate.memory > budget.max_memory:
        raise DecodeBudgetError(
            f"decoding this {header.width}x{header.height} stream needs about {estimate.memory / 2**20:.0f} MiB, above "
            f"the budget of {budget.max_memory / 2**20:.0f} MiB; pass max_memory=... (CLI: --max-memory) to allow more"
        )
    if estimate.seconds > budget.max_compute:
        raise DecodeBudgetError(
            f"decoding this stream ({header.frames} x {header.width}x{header.height}) is about {estimate.describe()}: "
            f"about {format_duration(estimate.seconds)} on the reference 2-core CPU, above the compute budget of "
            f"{format_duration(budget.max_compute)}; pass max_compute=... (CLI: --max-compute, e.g. "
            f"{_suggest(estimate.seconds)}) to allow it"
        )


def _suggest(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60) + 1}m"
    return f"{int(seconds // 3600) + 1}h"
