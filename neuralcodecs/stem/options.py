"""The encode options of ``stem`` (no torch here: the registry and the CLI read them)."""

from __future__ import annotations

from ..codec import CodecOption

INTRA_PERIOD_OPTION = CodecOption(
    "intra_period", int, 32, "frames per intra (I) frame; 0 = only the first frame", minimum=0, maximum=65535,
)
