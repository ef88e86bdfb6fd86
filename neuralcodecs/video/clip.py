"""The clip type and the read request shared by every reader of :mod:`neuralcodecs.video.io`.

:class:`Video` is what :func:`~neuralcodecs.video.io.read_video` returns and
:func:`~neuralcodecs.video.io.write_video` accepts: uint8 RGB frames ``(T, H, W, 3)``, the frame
rate as an exact :class:`fractions.Fraction`, the bit depth and a short description of the
source.  ``_Request`` carries the validated arguments of one read to the reader that serves it
(:mod:`.yuvfiles`, :mod:`.pyav`, frame folders in :mod:`.io`): the ``size`` and ``fps`` checks,
the ``start``/``count`` selection and the ``max_frames``/``max_pixels`` budgets, checked before
any frame array is allocated.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import CodecArgumentError, UnsupportedVideoError

DEFAULT_FPS = Fraction(25)
MAX_SIDE = 65536


@dataclass
class Video:
    """A decoded clip.

    Attributes:
        frames: uint8 RGB ``(T, H, W, 3)``.
        fps: frames per second, exact.
        source_bit_depth: bit depth of the source samples (8 or 10; 16 for 16-bit PNG frames).
        source_format: short human description of the source (``"y4m:420jpeg"``,
            ``"yuv:yuv420p10le"``, ``"mp4:h264:yuv420p"``, ``"frames:png"``); not for parsing.
    """

    frames: np.ndarray
    fps: Fraction
    source_bit_depth: int = 8
    source_format: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


# --------------------------------------------------------------------------- the read request


@dataclass
class _Request:
    """The validated arguments of one read: checks, frame selection and budgets."""

    size: tuple[int, int] | None
    fps: Fraction | None
    max_frames: int | None
    max_pixels: int | None
    start: int
    count: int | None

    def select(self, total: int) -> int:
        """How many frames are returned from a source of ``total`` frames."""
        if total < 1:
            raise UnsupportedVideoError("the video contains no frames")
        if self.start >= total:
            raise CodecArgumentError(f"start={self.start}, but the video has only {total} frames")
        left = total - self.start
        return left if self.count is None else min(self.count, left)

    def check_size(self, width: int, height: int) -> None:
        if self.size is not None and self.size != (width, height):
            raise CodecArgumentError(f"size={self.size[0]}x{self.size[1]} was given, but the video is "
                                     f"{width}x{height} (nothing is resized; omit size)")
        if self.max_pixels is not None and width * height > self.max_pixels:
            raise UnsupportedVideoError(f"one {width}x{height} frame already exceeds max_pixels={self.max_pixels}")

    def rate(self, declared: Fraction | None) -> Fraction:
        if declared is None:
            return self.fps if self.fps is not None else DEFAULT_FPS
        if self.fps is not None and self.fps != declared:
            raise CodecArgumentError(f"fps={self.fps} was given, but the video declares {declared} "
                                     "(nothing is resampled; omit fps)")
        return declared

    def check_budget(self, width: int, height: int, frames: int, estimated: bool = False) -> None:
        how = "about " if estimated else ""
        if self.max_frames is not None and frames > self.max_frames:
            raise UnsupportedVideoError(f"the selection holds {how}{frames} frames, above max_frames={self.max_frames}; "
                                        "pass count=... to read part of it or a larger max_frames")
        if self.max_pixels is not None and frames * width * height > self.max_pixels:
            raise UnsupportedVideoError(
                f"the selection holds {how}{frames} frames of {width}x{height} = {frames * width * height} pixels, "
                f"above max_pixels={self.max_pixels}; pass count=... or a larger max_pixels"
            )
