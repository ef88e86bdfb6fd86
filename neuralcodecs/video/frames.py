"""What every video codec's ``encode`` and ``decode`` accept: the clip and the frames asked for.

* :func:`load_frames` -- uint8 ``(T, H, W, 3)`` frames and their rate from a path (any reader of
  :mod:`neuralcodecs.video.io`), a :class:`~neuralcodecs.video.clip.Video` or an array;
* :func:`wanted_frames` -- the ``frames=`` argument of a decode as sorted, checked frame numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CodecArgumentError, UnsupportedVideoError


def load_frames(media, fps, size, max_frames: int):
    """``(uint8 (T, H, W, 3), Fraction fps)`` from a path, a Video or an array; typed errors."""
    from .clip import Video
    from .io import parse_fps, read_video

    if isinstance(media, (str, Path)):
        video = read_video(media, size=size, fps=fps, max_frames=max_frames)
        return video.frames, video.fps
    if isinstance(media, Video):
        return media.frames, media.fps
    if isinstance(media, torch.Tensor):
        media = media.cpu().numpy()
    if not isinstance(media, np.ndarray):
        raise CodecArgumentError(f"expected a video path, a Video or a (T, H, W, 3) uint8 array, got {type(media).__name__}")
    if media.dtype != np.uint8 or media.ndim != 4 or media.shape[-1] != 3 or min(media.shape[:3]) < 1:
        raise UnsupportedVideoError(f"a video array must be uint8 (T, H, W, 3), got {media.dtype} {tuple(media.shape)}")
    if media.shape[0] > max_frames:
        raise UnsupportedVideoError(f"{media.shape[0]} frames exceed max_frames={max_frames}")
    return np.ascontiguousarray(media), parse_fps(25 if fps is None else fps)


def wanted_frames(frames, count: int) -> list[int]:
    """``frames`` (None: all, or an iterable of frame numbers) as sorted unique numbers in ``0..count-1``;
    :class:`CodecArgumentError` otherwise."""
    if frames is None:
        return list(range(count))
    try:
        wanted = sorted({int(f) for f in frames})
    except (TypeError, ValueError):
        raise CodecArgumentError(f"frames must be frame numbers, got {frames!r}") from None
    if not wanted or wanted[0] < 0 or wanted[-1] >= count:
        raise CodecArgumentError(f"frames must lie in 0..{count - 1}, got {list(frames)}")
    return wanted
