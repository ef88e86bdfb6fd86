"""Which frames of a video stream a decode returns: parsed and checked without being expanded.

``ncodec decode clip.ncb --frames 0-29999999`` once built a list of thirty million numbers
before anything looked at the stream, and a range beyond the stream printed every number in
its error.  A :class:`FrameSelection` is a tuple of ``range`` objects: parsing costs nothing
per frame, :func:`wanted_frames` checks it against the header's frame count (at most
100,000) before it is expanded, and errors describe it in a few characters.

No torch, no numpy: the command line reads it before loading any codec.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CodecArgumentError


@dataclass(frozen=True)
class FrameSelection:
    """Frame numbers as inclusive spans ``(first, last)``, in the order given."""

    spans: tuple[tuple[int, int], ...]

    def describe(self, limit: int = 6) -> str:
        """``"0-99999, 5"``: at most ``limit`` spans, then how many more."""
        parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in self.spans[:limit]]
        if len(self.spans) > limit:
            parts.append(f"... ({len(self.spans) - limit} more)")
        return ", ".join(parts)

    @property
    def first(self) -> int:
        return min(a for a, _ in self.spans)

    @property
    def last(self) -> int:
        return max(b for _, b in self.spans)


def parse_frames(text: str) -> FrameSelection:
    """``"57"``, ``"0,5,9"`` or ``"10-19"`` (inclusive) -> :class:`FrameSelection`;
    :class:`CodecArgumentError` otherwise.  Nothing is expanded."""
    spans = []
    bad = CodecArgumentError(f"--frames takes numbers and ranges such as 57 or 0,5,10-19, got {text[:80]!r}")
    parts = str(text).split(",")
    if len(parts) > 10_000:
        raise CodecArgumentError(f"--frames lists {len(parts)} items; give ranges such as 0-99 instead")
    for part in parts:
        part = part.strip()
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                first, last = int(a), int(b)
            else:
                first = last = int(part)
        except ValueError:
            raise bad from None
        if first < 0 or last < first:
            raise bad
        spans.append((first, last))
    if not spans:
        raise bad
    return FrameSelection(tuple(spans))


def wanted_frames(frames, count: int) -> list[int]:
    """``frames`` as sorted unique frame numbers in ``0..count-1``; :class:`CodecArgumentError` otherwise.

    ``frames``: ``None`` (every frame), a :class:`FrameSelection`, a ``range`` or an iterable of
    frame numbers.  Selections and ranges are checked against ``count`` before they are expanded.
    """
    if frames is None:
        return list(range(count))
    if isinstance(frames, range):
        if len(frames) == 0:
            raise CodecArgumentError("no frames selected (an empty range)")
        if min(frames[0], frames[-1]) < 0 or max(frames[0], frames[-1]) >= count:
            _out_of_range(f"range({frames.start}, {frames.stop}, {frames.step})", count)
        return sorted(frames)
    if isinstance(frames, FrameSelection):
        if frames.first < 0 or frames.last >= count:
            _out_of_range(frames.describe(), count)
        return sorted({f for a, b in frames.spans for f in range(a, b + 1)})
    try:
        wanted = sorted({_frame_number(f) for f in frames})
    except TypeError:
        raise CodecArgumentError(f"frames must be frame numbers, got {type(frames).__name__}") from None
    if not wanted:
        raise CodecArgumentError("no frames selected")
    if wanted[0] < 0 or wanted[-1] >= count:
        _out_of_range(FrameSelection(tuple((f, f) for f in (wanted[0], wanted[-1]))).describe(), count)
    return wanted


def _frame_number(f) -> int:
    if isinstance(f, bool) or not hasattr(f, "__index__"):
        raise CodecArgumentError(f"frames must be frame numbers, got {str(f)[:40]!r}")
    return f.__index__()


def _out_of_range(description: str, count: int):
    raise CodecArgumentError(f"frames must lie in 0..{count - 1} (the stream has {count} frames), got {description}")
