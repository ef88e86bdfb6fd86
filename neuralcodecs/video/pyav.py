"""Everything PyAV: reading video containers, converting their frames, and encoding with
x264, x265 and SVT-AV1 (for :mod:`.io` and :mod:`.anchors`).

Reading
=======
Any source that is not y4m, raw .yuv or a folder goes to PyAV (``.mp4``, ``.mkv``, ``.mov``,
``.webm``, ``.avi``, ...): the first video stream, every frame from the first.  Budgets are
checked from the container's frame count before the frame array is allocated; when a
container declares no frame count, ``duration * rate`` is used when known, and the decoder
stops as soon as the budget is passed.

Every planar YUV frame a decoder returns (4:2:0, 4:2:2, 4:4:4, gray, 8 to 16 bits) is
converted to RGB by :mod:`.colour`, with the matrix and range the stream is tagged with (else
the colour rule).  Other pixel formats are first repacked by libswscale to their planar
equivalent when one exists (NV12, P010, YUYV, ... : a copy, no arithmetic) and then converted
the same way; the rest (RGB, palettes, 4:1:1, ...) go through libswscale,
``reformat(format="rgb24")`` with the source matrix and range given explicitly.

Encoding
========
:data:`ENCODERS` maps the accepted names to ``libx264``, ``libx265`` and ``libsvtav1``;
:data:`CRF_RANGE`, :data:`DEFAULT_CRF` (18, 18, 30) and :data:`DEFAULT_PRESET` (medium,
medium, 8) give their settings.  ``_encode_planes`` encodes 8-bit planar frames into complete
container bytes, tagged with the colour rule (ITU-T H.273 codes, limited range).  For mp4/mkv
outputs of :func:`~neuralcodecs.video.io.write_video` the frames are yuv420p 8-bit; at odd
sizes, which H.264 and HEVC cannot code in 4:2:0, x264/x265 encode **yuv444p** (High 4:4:4 /
Main 4:4:4) at the true size instead: no padding, no cropping, the size is kept; SVT-AV1 codes
odd 4:2:0 sizes natively.  ``crf=0`` with x264 is lossless on the YUV planes.
"""

from __future__ import annotations

import io
import os
import re
import time
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import CodecArgumentError, UnsupportedVideoError
from .clip import Video, _Request
from .colour import _gray_frame_to_rgb, _matrix_name, _rgb_frame_to_ycc, _ycc_frame_to_rgb

CONTAINER_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi")

# --------------------------------------------------------------------------- reading and frame conversion

_AV_MATRIX = {1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020"}
_AV_RANGE_JPEG = 2
_PLANAR_YUV = re.compile(r"(yuv|yuvj|gray)(420|422|444)?p?(\d+)?(le|be)?")


def _import_av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a declared dependency of the video extra
        raise UnsupportedVideoError("reading or writing mp4/mkv needs PyAV: pip install 'neuralcodecs[video]'") from None
    return av


def _plane_array(plane, dtype) -> np.ndarray:
    item = np.dtype(dtype).itemsize
    arr = np.frombuffer(plane, dtype=dtype)
    return arr.reshape(plane.height, plane.line_size // item)[:, : plane.width]


def _frame_layout(frame):
    """``(kind, sub, bit_depth, dtype)`` of a PyAV frame: kind ``"yuv"``/``"gray"`` when the
    conversion is done here, ``"other"`` for libswscale."""
    name = frame.format.name
    m = _PLANAR_YUV.fullmatch(name)
    depth = max(c.bits for c in frame.format.components)
    if not m or depth > 16 or (m.group(1) != "gray" and m.group(2) is None) or (m.group(1) == "gray" and m.group(2)):
        return "other", None, depth, None
    if m.group(3) is not None and m.group(4) is None:
        return "other", None, depth, None
    dtype = np.uint8 if depth <= 8 else (">u2" if m.group(4) == "be" else "<u2")
    return ("gray" if m.group(1) == "gray" else "yuv"), m.group(2), depth, dtype


def _frame_colour(frame) -> tuple[str, bool]:
    matrix = _AV_MATRIX.get(int(frame.colorspace), _matrix_name(None, frame.width, frame.height))
    full = frame.format.name.startswith("yuvj") or int(frame.color_range) == _AV_RANGE_JPEG
    return matrix, full


def _planar_equivalent(fmt) -> str | None:
    """The planar yuv format a packed or semi-planar YUV format (nv12, yuyv422, p010le,
    yuva420p, ...) repacks to without arithmetic, or None."""
    if fmt.is_rgb or fmt.has_palette or len(fmt.components) < 3:
        return None
    ratio = (fmt.chroma_width(16), fmt.chroma_height(16))
    sub = {(8, 8): "420", (8, 16): "422", (16, 16): "444"}.get(ratio)
    depth = max(c.bits for c in fmt.components)
    if sub is None or depth > 16:
        return None
    return f"yuv{sub}p" + ("" if depth == 8 else f"{depth if depth in (9, 10, 12, 14) else 16}le")


def _frame_planes(frame):
    """Copies of the sample planes of a planar YUV/gray frame, or the RGB array of any other."""
    kind, sub, depth, dtype = _frame_layout(frame)
    if kind == "other" and _planar_equivalent(frame.format) is not None:
        # a pure repack by libswscale (no matrix, no scaling), then the conversion done here;
        # the caller reads the colour tags from the original frame.  One thread: sliced
        # (threaded) libswscale has been seen to mangle chroma rows in semi-planar repacks.
        frame = frame.reformat(format=_planar_equivalent(frame.format), threads=1)
        kind, sub, depth, dtype = _frame_layout(frame)
    if kind == "other":
        matrix, full = _frame_colour(frame)
        src = {"bt709": "itu709", "bt601": "itu601", "smpte240m": "smpte240m", "fcc": "fcc",
               "bt2020": "bt2020"}[matrix]
        rgb = frame.reformat(format="rgb24", src_colorspace=src,
                             src_color_range="JPEG" if full else "MPEG", threads=1).to_ndarray()
        return kind, [np.ascontiguousarray(rgb)], depth
    n = 1 if kind == "gray" else 3
    return kind, [np.array(_plane_array(frame.planes[i], dtype)) for i in range(n)], depth


def _planes_from_frame_to_rgb(kind, planes, depth, matrix, full) -> np.ndarray:
    if kind == "other":
        return planes[0]
    if kind == "gray":
        return _gray_frame_to_rgb(planes[0], depth, full)
    return _ycc_frame_to_rgb(*planes, matrix, depth, full)


def _frame_to_rgb(frame) -> tuple[np.ndarray, int]:
    kind, planes, depth = _frame_planes(frame)
    matrix, full = _frame_colour(frame)
    return _planes_from_frame_to_rgb(kind, planes, depth, matrix, full), depth


def _open_container(source, av):
    try:
        return av.open(source if isinstance(source, io.IOBase) else str(source), mode="r")
    except (OSError, av.FFmpegError, ValueError) as exc:
        raise UnsupportedVideoError(f"{source}: not a readable video container ({exc})") from None


def _stream_rate(stream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate.numerator, rate.denominator)
    return None


def _estimate_frames(container, stream, fps: Fraction) -> float | None:
    """``duration * rate`` when the container knows its duration (mkv, webm), else None."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base * fps)
    if container.duration:
        return container.duration / 1_000_000 * float(fps)
    return None


def _read_container(source, req: _Request, threads: int | None = None, name: str | None = None) -> Video:
    av = _import_av()
    label = name or str(source)
    container = _open_container(source, av)
    with container:
        if not container.streams.video:
            raise UnsupportedVideoError(f"{label}: the container has no video stream")
        stream = container.streams.video[0]
        if threads is not None:
            stream.codec_context.thread_count = threads
        width, height = stream.codec_context.width, stream.codec_context.height
        if width and height:
            req.check_size(width, height)
        fps = req.rate(_stream_rate(stream))
        known = int(stream.frames or 0)
        estimate = None if known else _estimate_frames(container, stream, fps)
        out = None
        if known and width and height:
            n = req.select(known)
            req.check_budget(width, height, n)
            out = np.empty((n, height, width, 3), np.uint8)
        elif estimate is not None and width and height and round(estimate) > req.start:
            req.check_budget(width, height, req.select(max(1, round(estimate))), estimated=True)
        limit = out.shape[0] if out is not None else req.count
        frames: list[np.ndarray] = []
        depth = 8
        got = index = 0
        pix_fmt = None
        try:
            for frame in container.decode(stream):
                if index < req.start:
                    index += 1
                    continue
                if pix_fmt is None:
                    pix_fmt = frame.format.name
                    if not (width and height):
                        width, height = frame.width, frame.height
                        req.check_size(width, height)
                if (frame.width, frame.height) != (width, height):
                    raise UnsupportedVideoError(f"{label}: frame {index} is {frame.width}x{frame.height}, the stream "
                                                f"is {width}x{height}; size changes inside a stream are not supported")
                if out is None:
                    req.check_budget(width, height, got + 1)
                rgb, depth = _frame_to_rgb(frame)
                if out is not None:
                    out[got] = rgb
                else:
                    frames.append(rgb)
                got += 1
                index += 1
                if limit is not None and got >= limit:
                    break
        except av.FFmpegError as exc:
            raise UnsupportedVideoError(f"{label}: the stream is damaged near frame {index} ({exc})") from None
        if got == 0:
            if index and index <= req.start:
                raise CodecArgumentError(f"start={req.start}, but the video has only {index} frames")
            raise UnsupportedVideoError(f"{label}: no frame could be decoded (empty or damaged stream)")
        if out is not None and got < out.shape[0]:
            raise UnsupportedVideoError(f"{label}: truncated or damaged: the container declares {known} frames, "
                                        f"only {req.start + got} could be decoded")
        if out is None:
            out = np.stack(frames)
        suffix = Path(label).suffix.lstrip(".").lower() or container.format.name.split(",")[0]
        fmt = f"{suffix}:{stream.codec_context.name}:{pix_fmt}"
    return Video(out, fps, depth, fmt)


# --------------------------------------------------------------------------- encoding (PyAV)

ENCODERS = {
    "x264": "libx264", "libx264": "libx264", "h264": "libx264",
    "x265": "libx265", "libx265": "libx265", "hevc": "libx265",
    "svtav1": "libsvtav1", "libsvtav1": "libsvtav1", "av1": "libsvtav1",
}
CRF_RANGE = {"libx264": (0.0, 51.0), "libx265": (0.0, 51.0), "libsvtav1": (1.0, 63.0)}
DEFAULT_CRF = {"libx264": 18.0, "libx265": 18.0, "libsvtav1": 30.0}
DEFAULT_PRESET = {"libx264": "medium", "libx265": "medium", "libsvtav1": "8"}
_COLOUR_TAGS = {"bt709": (1, 1, 1), "bt601": (6, 6, 6)}  # (matrix, primaries, transfer): ITU-T H.273


def _encoder_name(codec) -> str:
    key = "libx264" if codec is None else str(codec).lower()
    if key not in ENCODERS:
        raise CodecArgumentError(f"unknown video encoder {codec!r}; choose one of x264, x265, svtav1")
    return ENCODERS[key]


def _check_crf(encoder: str, crf) -> float:
    if crf is None:
        return DEFAULT_CRF[encoder]
    low, high = CRF_RANGE[encoder]
    if isinstance(crf, bool) or not isinstance(crf, (int, float, np.integer, np.floating)) or not low <= crf <= high:
        raise CodecArgumentError(f"{encoder} crf must lie in [{low:g}, {high:g}], got {crf!r}")
    if encoder == "libsvtav1" and crf != int(crf):
        raise CodecArgumentError(f"libsvtav1 crf must be an integer, got {crf!r}")
    return float(crf)


def _encoder_options(encoder: str, crf: float, preset: str | None, threads: int | None,
                     strip_info: bool = False) -> dict[str, str]:
    opts = {"crf": f"{crf:g}" if encoder != "libsvtav1" else str(int(crf)),
            "preset": str(preset if preset is not None else DEFAULT_PRESET[encoder])}
    if encoder == "libx265":
        params = ["log-level=error"] + (["info=0"] if strip_info else [])
        if threads == 1:
            params += ["pools=none", "frame-threads=1"]
        elif threads:
            params += [f"pools={threads}"]
        opts["x265-params"] = ":".join(params)
    elif encoder == "libsvtav1" and threads:
        opts["svtav1-params"] = f"lp={threads}"
    return opts


def _quiet_svt() -> None:
    """SVT-AV1 prints its banner to stderr unless SVT_LOG asks for errors only; the caller's
    own setting wins."""
    os.environ.setdefault("SVT_LOG", "1")


def _encode_planes(
    planes: Sequence[Sequence[np.ndarray]], width: int, height: int, pix_fmt: str, fps: Fraction,
    encoder: str, crf: float, *, matrix: str, container_format: str = "mp4", preset: str | None = None,
    threads: int | None = None, keyint: int | None = None, strip_info: bool = False,
) -> tuple[bytes, float]:
    """Encode 8-bit planar frames (Y, U, V per frame) into complete container bytes.

    ``strip_info`` drops the encoders' informational SEI (x264's version-and-settings
    user-data SEI, removed from the packets by the ``filter_units=remove_types=6`` bitstream
    filter, which x264's default settings make safe as they emit no other SEI; x265's
    ``info=0``): it carries no picture data.

    Returns ``(bytes, seconds)``: seconds from the first frame handed to the encoder to the
    closed container (colour conversion, done by the caller, excluded)."""
    av = _import_av()
    if encoder == "libsvtav1":
        _quiet_svt()
    buf = io.BytesIO()
    try:
        t0 = time.perf_counter()
        with av.open(buf, mode="w", format=container_format) as out:
            stream = out.add_stream(encoder, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
            cc = stream.codec_context
            cc.colorspace, cc.color_primaries, cc.color_trc = _COLOUR_TAGS[matrix]
            cc.color_range = 1  # MPEG (limited)
            if threads is not None:
                cc.thread_count = threads
            if keyint is not None:
                cc.gop_size = keyint
            stream.options = _encoder_options(encoder, crf, preset, threads, strip_info)
            bsf = None
            if strip_info and encoder == "libx264":
                from av.bitstream import BitStreamFilterContext

                bsf = BitStreamFilterContext("filter_units=remove_types=6", stream)

            def mux(packets) -> None:
                for packet in packets:
                    if bsf is None:
                        out.mux(packet)
                        continue
                    for filtered in bsf.filter(packet):
                        filtered.stream = stream
                        out.mux(filtered)

            time_base = Fraction(1) / fps
            for i, frame_planes in enumerate(planes):
                frame = av.VideoFrame(width, height, pix_fmt)
                for plane, arr in zip(frame.planes, frame_planes):
                    _plane_array(plane, np.uint8)[...] = arr
                frame.pts = i
                frame.time_base = time_base
                mux(stream.encode(frame))
            mux(stream.encode())
            if bsf is not None:
                for filtered in bsf.filter(None):
                    filtered.stream = stream
                    out.mux(filtered)
        seconds = time.perf_counter() - t0
    except av.FFmpegError as exc:
        raise CodecArgumentError(f"{encoder} could not encode {width}x{height} {pix_fmt} at {fps} fps "
                                 f"with crf {crf:g}: {exc}") from None
    return buf.getvalue(), seconds


def _container_bytes(frames: np.ndarray, fps: Fraction, kind: str, codec, crf) -> bytes:
    encoder = _encoder_name(codec)
    crf = _check_crf(encoder, crf)
    t, h, w, _ = frames.shape
    matrix = _matrix_name(None, w, h)
    odd = w % 2 or h % 2
    sub = "444" if odd and encoder != "libsvtav1" else "420"
    planes = (_rgb_frame_to_ycc(frames[i], matrix, 8, False, sub) for i in range(t))
    data, _ = _encode_planes(planes, w, h, f"yuv{sub}p", fps, encoder, crf, matrix=matrix,
                             container_format="mp4" if kind == "mp4" else "matroska")
    return data
