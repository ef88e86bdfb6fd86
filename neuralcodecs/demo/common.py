"""What the tours share: the codecs' fastest options, thread control for fits, timing, a size search."""

from __future__ import annotations

import contextlib
import time
from typing import Callable

from .. import registry
from ..errors import CodecArgumentError

#: a row whose file is further than this (relative) from the target size is flagged as off target
OFF_TARGET = 0.10


def fastest_options(name: str) -> dict:
    """The encode options that make codec ``name`` fastest: the ``effort`` choice of least declared
    cost (:attr:`CodecOption.costs`; without costs ``fast``, else the first choice), nothing for a
    codec without an effort option."""
    for option in registry.spec(name).options:
        if option.name == "effort" and option.choices:
            if option.costs:
                return {"effort": min(option.costs, key=lambda cost: cost[1])[0]}
            return {"effort": "fast" if "fast" in option.choices else option.choices[0]}
    return {}


def is_fitted(name: str) -> bool:
    """Whether the codec fits a network per input at encode time (seconds to minutes per encode)."""
    return bool(registry.spec(name).capabilities.get("overfitted"))


def ready_codecs(kind: str, wanted: list[str] | None = None) -> list[str]:
    """The ready codecs of ``kind`` (all, or those of ``wanted`` in its order), checked before any work."""
    if not wanted:
        return [n for n in registry.names(kind) if registry.spec(n).ready]
    out = []
    for name in wanted:
        spec = registry.spec(name)  # UnknownCodecError for a name the registry lacks
        if spec.kind != kind:
            raise CodecArgumentError(f"this tour codes {kind}; {name!r} is a {spec.kind} codec")
        if not spec.ready:
            raise CodecArgumentError(f"codec {name!r} has no weights file in this installation")
        if name not in out:
            out.append(name)
    return out


@contextlib.contextmanager
def torch_threads(count: int):
    """Run the block with ``count`` torch threads (restored after).

    The fits of overfitted codecs use one: their small networks gain little from a second
    thread, and on a 2-core machine that is also busy with other work two threads waiting on
    each other made a 96x128 fit 14 times slower (277 s against 20 s, measured here).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Clock:
    """Seconds since the tour started, for progress lines."""

    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start

    def stamp(self) -> str:
        return f"[{self():5.1f} s]"


def nearest_size(encode: Callable[[float], bytes], grid: list[float], target_bytes: int) -> tuple[float, bytes, int]:
    """The encoding of ``grid`` (ascending qualities, size growing with quality) whose size is
    nearest ``target_bytes``: ``(quality, bytes, encodes tried)``."""
    from ..ratecontrol import search_quality

    return search_quality(encode, grid, score=lambda size: abs(size - target_bytes))


def off_target(size: int, target: int) -> float:
    """Relative distance of ``size`` from ``target`` (0.1 = 10 % larger or smaller)."""
    return abs(size - target) / target
