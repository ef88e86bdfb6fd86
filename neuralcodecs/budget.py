"""The decoder's resource budget: what a file may ask of the machine that decodes it.

A ``.ncb`` header announces the picture size before any work, so a decoder can refuse a
file whose decoding would exceed a budget instead of running out of memory part-way:

* ``max_pixels`` (default 40 MP): width x height x frames;
* ``max_memory`` (default 4 GiB): the codec's estimate of its peak decoding memory for the
  header's geometry (``Codec.decode_memory``); each codec documents its estimate and
  ``benchmarks/decoder_memory.py`` measures it.

Both are checked before any section is entropy-decoded and before any network runs.
"""

from __future__ import annotations

import re

from .errors import CodecArgumentError, DecodeBudgetError

DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_MEMORY = 4 * 2**30

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str | int) -> int:
    """``"512M"``, ``"4G"``, ``"1.5GiB"`` or a byte count -> bytes (binary units)."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE_RE.match(str(text))
        if not match:
            raise CodecArgumentError(f"bad memory size {text!r}; use bytes or a number with K, M, G or T (e.g. 4G)")
        value = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if value <= 0:
        raise CodecArgumentError(f"memory size must be positive, got {text!r}")
    return value


def check_budget(header, memory_estimate: int, max_pixels: int | None = None, max_memory: int | None = None) -> None:
    """Raise :class:`DecodeBudgetError` if decoding ``header`` would exceed the budget."""
    max_pixels = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    max_memory = DEFAULT_MAX_MEMORY if max_memory is None else parse_size(max_memory)
    samples = header.width * header.height * header.frames
    if samples > max_pixels:
        raise DecodeBudgetError(
            f"stream of {header.frames} x {header.width}x{header.height} pixels exceeds the decoder's budget of "
            f"{max_pixels} pixels; pass max_pixels=... (CLI: --max-pixels) if this machine has the memory"
        )
    if memory_estimate > max_memory:
        raise DecodeBudgetError(
            f"decoding this {header.width}x{header.height} stream needs about {memory_estimate / 2**20:.0f} MiB, above "
            f"the budget of {max_memory / 2**20:.0f} MiB; pass max_memory=... (CLI: --max-memory) to allow more"
        )
