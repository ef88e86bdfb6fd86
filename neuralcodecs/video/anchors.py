"""Classical video codecs through PyAV, as rate-distortion anchors for the video codecs.

:func:`encode_anchor` encodes uint8 RGB ``(T, H, W, 3)`` frames into the bytes of a complete
**mp4** file (the same container for all three, so container overhead is comparable; PyAV
muxes all three into mp4 reliably) and decodes those bytes again with PyAV:

=========  ===================  =================================================================
anchor     encoder              settings
=========  ===================  =================================================================
x264       libx264 (H.264)      ``preset=medium``, ``crf=quality`` (0..51, fractions allowed)
x265       libx265 (HEVC)       ``preset=medium``, ``crf=quality`` (0..51, fractions allowed)
svtav1     libsvtav1 (AV1)      ``preset=8`` (SVT-AV1's middle speed, its usual "medium"),
                                ``crf=quality`` (integer 1..63)
=========  ===================  =================================================================

All three code **yuv420p 8-bit, limited range**, converted from RGB by the colour rule of
:mod:`neuralcodecs.video.colour` (BT.601 below 1280x720, BT.709 from it up, chosen on the clip's
*true* size; the stream is tagged with it) and decoded back to RGB by the same rule.

GOP structure: each encoder's own default, nothing is forced (``keyint=`` sets the codec
context's ``gop_size``, which each wrapper maps to its maximum key-frame interval).  For the
clips of an evaluation that means one intra frame and then inter frames:

* x264: keyint 250, min-keyint 25, scene-cut 40, 3 B-frames (adaptive, pyramid), 3 references;
* x265: keyint 250, min-keyint 25, scene-cut 40, 4 B-frames (adaptive), 3 references;
* SVT-AV1 (v4.1): random access, hierarchical mini-GOP of up to 32 frames, key frame interval
  about 5 seconds (161 frames at 30000/1001 fps).

Odd sizes: H.264 and HEVC cannot represent an odd 4:2:0 picture, so for x264 and x265 the
frames are padded to even width/height by **edge replication** (the last column / row
repeated) before encoding, and the decoded frames are cropped back to the true size.  AV1
codes any size, so SVT-AV1 gets the true size.  The input is never cropped to an even size.

Rate: ``bpp = 8 * len(bytes) / (T * H * W)`` with the *true* size and the real file size,
container and parameter sets included (on tiny test clips the mp4 boxes, about 0.9 KB, dominate).
``payload_bytes`` (sum of the coded packets) is reported beside it for reference only.  The
encoders' informational SEI (version and full settings string: about 0.7 KB for x264, 2.3 KB
for x265) is not written: it carries no picture data and reference-software anchors (HM, VTM)
write none; x264's is removed by the ``filter_units=remove_types=6`` bitstream filter (x264's
default settings emit no other SEI), x265's by ``info=0``.

Threads: ``threads=1`` (the default) runs every encoder and decoder single-threaded (x265:
``pools=none:frame-threads=1``, SVT-AV1: ``lp=1``), which makes both the bytes and the timing
reproducible; ``threads=0`` lets each library choose.  ``encode_seconds`` runs from the first
frame handed to the encoder to the closed container; ``decode_seconds`` covers demuxing and
decoding every frame; the numpy colour conversions on either side are excluded from both.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np

from ..errors import CodecArgumentError, UnsupportedVideoError
from .colour import _check_rgb, _matrix_name, _rgb_frame_to_ycc
from .io import parse_fps
from .pyav import (
    _check_crf,
    _encode_planes,
    _frame_colour,
    _frame_planes,
    _import_av,
    _open_container,
    _planes_from_frame_to_rgb,
)

ANCHOR_CODECS = {"x264": "libx264", "x265": "libx265", "svtav1": "libsvtav1"}

ANCHOR_SWEEPS: dict[str, list[float]] = {
    # lowest rate (highest crf) first, as the image anchors' sweeps
    "x264": [38, 33, 28, 23, 18],
    "x265": [38, 33, 28, 23, 18],
    "svtav1": [55, 47, 39, 31, 23],
}

CONTAINER = "mp4"


@dataclass(frozen=True)
class AnchorResult:
    """One anchor encoding and its decoding.

    Attributes:
        bytes: the complete mp4 file.
        decoded: uint8 ``(T, H, W, 3)`` decoded from ``bytes`` (true size).
        encode_seconds, decode_seconds: wall-clock time of the encoder and of the decoder.
        codec: ``x264``, ``x265`` or ``svtav1``; quality: the crf used.
        coded_size: ``(width, height)`` handed to the encoder (even-padded for x264/x265).
        payload_bytes: the sum of the coded packets (no container), for reference.
    """

    bytes: bytes
    decoded: np.ndarray
    encode_seconds: float
    decode_seconds: float
    codec: str = ""
    quality: float = 0.0
    coded_size: tuple[int, int] = (0, 0)
    payload_bytes: int = 0

    @property
    def num_bytes(self) -> int:
        return len(self.bytes)

    @property
    def bpp(self) -> float:
        """Bits per pixel from the real file size: ``8 * len(bytes) / (T * H * W)``."""
        t, h, w = self.decoded.shape[:3]
        return 8.0 * len(self.bytes) / (t * h * w)


def _anchor_encoder(codec: str) -> str:
    if codec not in ANCHOR_CODECS:
        raise CodecArgumentError(f"unknown video anchor {codec!r}; choose one of {', '.join(ANCHOR_CODECS)}")
    return ANCHOR_CODECS[codec]


def encode_anchor(
    frames: np.ndarray,
    fps,
    codec: str,
    quality: float,
    *,
    threads: int = 1,
    preset: str | None = None,
    keyint: int | None = None,
) -> AnchorResult:
    """Encode ``frames`` with a classical codec into mp4 bytes and decode them again.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``.
        fps: frame rate (int, float, Fraction or ``"num/den"``), stored in the file.
        codec: ``"x264"``, ``"x265"`` or ``"svtav1"``.
        quality: the crf (x264/x265 0..51, SVT-AV1 integer 1..63); lower is better quality.
        threads: encoder and decoder threads; 1 (default) for reproducible bytes and timing,
            0 for the libraries' automatic choice.
        preset: override the preset (x264/x265 names, SVT-AV1 0..13).
        keyint: override the maximum key-frame interval (default: the encoder's own).
    Raises:
        CodecArgumentError: unknown codec, quality out of range, frames of the wrong type, or an
            encoder refusing the input.
    """
    encoder = _anchor_encoder(codec)
    frames = _check_rgb(frames)
    if frames.ndim != 4:
        raise CodecArgumentError(f"frames must have shape (T, H, W, 3), got {frames.shape}")
    crf = _check_crf(encoder, quality)
    fps = parse_fps(fps)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise CodecArgumentError(f"threads must be an integer >= 0, got {threads!r}")
    if keyint is not None and (isinstance(keyint, bool) or not isinstance(keyint, int) or keyint < 1):
        raise CodecArgumentError(f"keyint must be a positive integer, got {keyint!r}")
    t, h, w, _ = frames.shape
    matrix = _matrix_name(None, w, h)  # decided on the true size, whatever the padding
    pad_h, pad_w = (h % 2, w % 2) if encoder != "libsvtav1" else (0, 0)
    planes = []
    for i in range(t):
        frame = frames[i]
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        planes.append(_rgb_frame_to_ycc(frame, matrix, 8, False, "420"))
    cw, ch = w + pad_w, h + pad_h
    data, encode_seconds = _encode_planes(
        planes, cw, ch, "yuv420p", fps, encoder, crf, matrix=matrix, container_format=CONTAINER,
        preset=preset, threads=threads, keyint=keyint, strip_info=True,
    )
    decoded, decode_seconds, payload = _decode(data, t, cw, ch, threads)
    return AnchorResult(
        bytes=data,
        decoded=np.ascontiguousarray(decoded[:, :h, :w]),
        encode_seconds=encode_seconds,
        decode_seconds=decode_seconds,
        codec=codec,
        quality=crf,
        coded_size=(cw, ch),
        payload_bytes=payload,
    )


def _decode(data: bytes, expected: int, width: int, height: int, threads: int):
    """Decode every frame of ``data``: ``(frames, seconds, payload_bytes)``."""
    av = _import_av()
    raw = []
    payload = 0
    t0 = time.perf_counter()
    container = _open_container(io.BytesIO(data), av)
    try:
        with container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = threads
            for packet in container.demux(stream):
                payload += packet.size
                for frame in packet.decode():
                    raw.append((_frame_planes(frame), _frame_colour(frame), frame.width, frame.height))
    except av.FFmpegError as exc:
        raise UnsupportedVideoError(f"the anchor's own stream does not decode: {exc}") from None
    seconds = time.perf_counter() - t0
    if len(raw) != expected:
        raise UnsupportedVideoError(f"the anchor stream decodes to {len(raw)} frames, {expected} were encoded")
    out = np.empty((expected, height, width, 3), np.uint8)
    for i, ((kind, planes, depth), (matrix, full), fw, fh) in enumerate(raw):
        if (fw, fh) != (width, height):
            raise UnsupportedVideoError(f"decoded frame {i} is {fw}x{fh}, {width}x{height} was encoded")
        out[i] = _planes_from_frame_to_rgb(kind, planes, depth, matrix, full)
    return out, seconds, payload


def anchor_sweep(frames: np.ndarray, fps, codec: str, qualities=None, **options) -> list[AnchorResult]:
    """:func:`encode_anchor` at each quality of ``qualities`` (default ``ANCHOR_SWEEPS[codec]``)."""
    _anchor_encoder(codec)
    return [encode_anchor(frames, fps, codec, q, **options) for q in (qualities or ANCHOR_SWEEPS[codec])]


__all__ = ["ANCHOR_CODECS", "ANCHOR_SWEEPS", "AnchorResult", "anchor_sweep", "encode_anchor"]
