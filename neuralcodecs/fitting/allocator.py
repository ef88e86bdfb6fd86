"""Keep freed memory in the process while fitting (glibc ``mallopt``): a measured CPU speed-up.

A fitting step on a Kodak-size image allocates and frees tens of full-resolution activations of
16-63 MB each.  glibc serves blocks above its mmap threshold (at most 32 MB by default) with
``mmap`` and returns them with ``munmap``, and trims the heap's top beyond 128 kB, so every step
pays for fresh zeroed pages (page faults) on each of those tensors.  Raising the mmap and trim
thresholds keeps the pages mapped between steps: on this 2-core CPU the ReLU forward+backward of
a ``(524288, 16)`` float32 activation went from 44 to 11 ms, and the whole overfit step from about
455 to 360 ms on one thread (``benchmarks/fit_step.py`` measures it with and without).

The price: memory a fit freed stays with the process until it exits (its peak, which it reached
anyway).  Nothing happens off glibc (macOS, Windows, musl) or when ``NEURALCODECS_MALLOC=default``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_LIMIT = 2**31 - 1  # mallopt takes an int
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); ``True`` if they are set."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux") or os.environ.get("NEURALCODECS_MALLOC", "") == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, _LIMIT)) and bool(mallopt(M_TRIM_THRESHOLD, _LIMIT))
    return _applied
