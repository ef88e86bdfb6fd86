"""What every video codec's ``encode`` and ``decode`` accept: the clip and the frames asked for.

* :func:`load_frames` -- uint8 ``(T, H, W, 3)`` frames and their rate from a path (any reader of
  :mod:`neuralcodecs.video.io`), a :class:`~neuralcodecs.video.clip.Video` or an array;
* the ``frames=`` argument of a decode: :mod:`neuralcodecs.frame_selection` (torch-free).
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
