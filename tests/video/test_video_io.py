"""Video I/O: every documented rule, exact round trips, budgets and clear refusals."""

import io
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import neuralcodecs.video.pyav as vpyav
from neuralcodecs.errors import CodecArgumentError, UnsupportedVideoError
from neuralcodecs.video.clip import Video
from neuralcodecs.video.colour import psnr_rgb, psnr_yuv, rgb_to_yuv420, uses_bt709, yuv420_to_rgb
from neuralcodecs.video.io import parse_fps, read_video, write_video

FOREMAN = Path("/work/shared/data/video/foreman/foreman_qcif_176x144_10f_yuv420p.yuv")
NTSC = Fraction(30000, 1001)


def smooth_clip(t: int, h: int, w: int) -> np.ndarray:
    """A moving clip: textured luma, slowly varying colour (so 4:2:0 loses little of it)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    frames = []
    for k in range(t):
        luma = 128 + 70 * np.sin((xx + 2 * k) / 5.0) * np.cos(yy / 6.0)
        r = luma + 25 * np.sin((xx + k) / 30.0)
        b = luma - 20 * np.cos((yy - k) / 25.0)
        frames.append(np.stack([r, luma, b], -1))
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def clip():
    return smooth_clip(6, 48, 64)


@pytest.fixture(scope="module")
def odd_clip():
    return smooth_clip(4, 17, 33)


def parse_y4m(data: bytes):
    """Independent y4m parser for the checks: header tokens and 8-bit 4:2:0 planes."""
    header, rest = data.split(b"\n", 1)
    tags = {tok[:1].decode(): tok[1:].decode() for tok in header.split(b" ")[1:]}
    w, h = int(tags["W"]), int(tags["H"])
    cw, ch = (w + 1) // 2, (h + 1) // 2
    size = w * h + 2 * cw * ch
    ys, us, vs = [], [], []
    while rest:
        assert rest.startswith(b"FRAME\n")
        body, rest = rest[6 : 6 + size], rest[6 + size :]
        a = np.frombuffer(body, np.uint8)
        ys.append(a[: w * h].reshape(h, w))
        us.append(a[w * h : w * h + cw * ch].reshape(ch, cw))
        vs.append(a[w * h + cw * ch :].reshape(ch, cw))
    return tags, np.stack(ys), np.stack(us), np.stack(vs)


def y4m_bytes(planes, w, h, colour="420jpeg", fps="25:1", dtype=np.uint8) -> bytes:
    parts = [f"YUV4MPEG2 W{w} H{h} F{fps} Ip A1:1 C{colour}\n".encode()]
    for y, u, v in zip(*planes):
        parts += [b"FRAME\n", y.astype(dtype).tobytes(), u.astype(dtype).tobytes(), v.astype(dtype).tobytes()]
    return b"".join(parts)


def foreman_planes(frames: int = 2):
    """The first frames of foreman (176x144 yuv420p), or a synthetic stand-in."""
    w, h = 176, 144
    n = w * h * 3 // 2
    if FOREMAN.is_file():
        raw = np.fromfile(FOREMAN, np.uint8, count=frames * n)
    else:  # pragma: no cover - shared data missing
        raw = np.random.default_rng(0).integers(16, 236, frames * n).astype(np.uint8)
    raw = raw.reshape(frames, n)
    y = raw[:, : w * h].reshape(frames, h, w)
    u = raw[:, w * h : w * h * 5 // 4].reshape(frames, h // 2, w // 2)
    v = raw[:, w * h * 5 // 4 :].reshape(frames, h // 2, w // 2)
    return raw, (y, u, v)


# --------------------------------------------------------------------------- colour


def test_known_colours_bt601_and_bt709():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    for bt709, expected in ((False, (81, 90, 240)), (True, (63, 102, 240))):
        y, u, v = rgb_to_yuv420(red, bt709)
        assert (int(y[0, 0]), int(u[0, 0]), int(v[0, 0])) == expected
    black = yuv420_to_rgb(np.full((2, 2), 16), np.full((1, 1), 128), np.full((1, 1), 128), False)
    white = yuv420_to_rgb(np.full((2, 2), 235), np.full((1, 1), 128), np.full((1, 1), 128), True)
    assert black.max() == 0 and white.min() == 255


def test_size_rule():
    assert not uses_bt709(176, 144) and not uses_bt709(720, 576) and not uses_bt709(1279, 719)
    assert uses_bt709(1280, 720) and uses_bt709(1920, 1080) and uses_bt709(1280, 536)
    rgb = smooth_clip(1, 8, 8)[0]
    assert not np.array_equal(rgb_to_yuv420(rgb, True)[0], rgb_to_yuv420(rgb, False)[0])
    assert np.array_equal(rgb_to_yuv420(rgb)[0], rgb_to_yuv420(rgb, False)[0])


def textbook_bt601(y, u, v, r, c, scale=1.0):
    """BT.601 limited range YCbCr -> RGB of one 4:2:0 pixel, straight from the equations
    (``scale`` 4 for 10-bit samples: no rounding before the end)."""
    Y = float(y[r, c]) / scale - 16
    Cb = float(u[r // 2, c // 2]) / scale - 128
    Cr = float(v[r // 2, c // 2]) / scale - 128
    R = 255 / 219 * Y + 255 / 224 * 1.402 * Cr
    G = 255 / 219 * Y - 255 / 224 * (1.772 * 0.114 / 0.587 * Cb + 1.402 * 0.299 / 0.587 * Cr)
    B = 255 / 219 * Y + 255 / 224 * 1.772 * Cb
    return [min(255, max(0, int(np.floor(x + 0.5)))) for x in (R, G, B)]


PIXELS = [(10, 20), (77, 131), (143, 175), (50, 51), (99, 3)]


def test_yuv420_to_rgb_matches_the_textbook_formula():
    _, (y, u, v) = foreman_planes(1)
    rgb = yuv420_to_rgb(y[0], u[0], v[0])  # 176x144: BT.601
    for r, c in PIXELS:
        assert rgb[r, c].tolist() == textbook_bt601(y[0], u[0], v[0], r, c)


def test_odd_sizes_have_ceil_chroma_and_invert_in_gamut():
    rgb = smooth_clip(2, 17, 33)
    y, u, v = rgb_to_yuv420(rgb)
    assert y.shape == (2, 17, 33) and u.shape == v.shape == (2, 9, 17)
    # the last chroma sample of an odd row/column is the mean of the pixels that exist
    alone = rgb_to_yuv420(rgb[:, 16:, 32:])  # the single corner pixel
    assert u[0, 8, 16] == alone[1][0, 0, 0] and v[1, 8, 16] == alone[2][1, 0, 0]
    # and inside the picture, the mean of the 2x2 block (rounded once)
    block = np.zeros((2, 2, 3), np.uint8)
    block[0, 0] = (255, 0, 0)  # one red pixel (Cb 90, Cr 240 alone) and three black (128, 128)
    _, bu, bv = rgb_to_yuv420(block, False)
    assert (int(bu[0, 0]), int(bv[0, 0])) == (119, 156)  # floor((90 + 3*128)/4 + .5), (240 + 384)/4
    back = yuv420_to_rgb(y, u, v)
    assert back.shape == rgb.shape and psnr_rgb(rgb, back) > 35
    with pytest.raises(CodecArgumentError):
        yuv420_to_rgb(y, u[:, :8], v[:, :8])


def test_psnr_definitions(clip):
    noisy = clip.copy()
    noisy[0, 0, 0, 0] ^= 1
    mse = 1 / clip.size
    assert psnr_rgb(clip, noisy) == pytest.approx(10 * np.log10(255**2 / mse))
    assert psnr_rgb(clip, clip) == float("inf")
    p = psnr_yuv(clip, np.clip(clip.astype(int) + 3, 0, 255).astype(np.uint8))
    assert p.yuv == pytest.approx((6 * p.y + p.u + p.v) / 8) and 30 < p.y < 45
    with pytest.raises(CodecArgumentError):
        psnr_rgb(clip, clip[:, :8])


# --------------------------------------------------------------------------- y4m


@pytest.mark.parametrize("shape", [(6, 48, 64), (4, 17, 33)])
def test_y4m_stores_the_planes_and_reads_back_their_rgb(tmp_path, shape):
    frames = smooth_clip(*shape)
    path = write_video(tmp_path / "a.y4m", frames, NTSC)
    tags, y, u, v = parse_y4m(path.read_bytes())
    assert tags["C"] == "420jpeg" and tags["F"] == "30000:1001" and (tags["W"], tags["H"]) == (str(shape[2]), str(shape[1]))
    ry, ru, rv = rgb_to_yuv420(frames)
    assert np.array_equal(y, ry) and np.array_equal(u, ru) and np.array_equal(v, rv)
    video = read_video(path)
    assert video.fps == NTSC and video.frames.shape == frames.shape and video.source_bit_depth == 8
    assert np.array_equal(video.frames, yuv420_to_rgb(y, u, v))
    # planes that came from YUV come back exactly: write the decoded RGB again
    again = parse_y4m(write_video(tmp_path / "b.y4m", video).read_bytes())
    assert all(np.array_equal(a, b) for a, b in zip(again[1:], (y, u, v)))


def test_y4m_known_planes_read_exactly(tmp_path):
    _, planes = foreman_planes(2)
    path = tmp_path / "f.y4m"
    path.write_bytes(y4m_bytes(planes, 176, 144, colour="420mpeg2", fps="30000:1001"))
    video = read_video(path)
    assert np.array_equal(video.frames, yuv420_to_rgb(*planes, False)) and video.fps == NTSC
    assert video.source_format == "y4m:420mpeg2"
    one = read_video(path, start=1, count=5)
    assert one.frames.shape[0] == 1 and np.array_equal(one.frames[0], video.frames[1])


def test_y4m_10bit_reads_like_8bit(tmp_path):
    _, planes = foreman_planes(2)
    p8, p10 = tmp_path / "a.y4m", tmp_path / "b.y4m"
    p8.write_bytes(y4m_bytes(planes, 176, 144))
    p10.write_bytes(y4m_bytes([p.astype(np.uint16) * 4 for p in planes], 176, 144, colour="420p10", dtype="<u2"))
    v8, v10 = read_video(p8), read_video(p10)
    assert v10.source_bit_depth == 10 and v8.source_bit_depth == 8
    assert np.array_equal(v8.frames, v10.frames)  # same values, full precision: identical
    # extra low bits move the RGB by at most the rounding of a quarter step per component
    rng = np.random.default_rng(0)
    noisy = [p.astype(np.uint16) * 4 + rng.integers(0, 4, p.shape).astype(np.uint16) for p in planes]
    p10.write_bytes(y4m_bytes(noisy, 176, 144, colour="420p10", dtype="<u2"))
    noisy_rgb = read_video(p10).frames
    diff = np.abs(noisy_rgb.astype(int) - v8.frames.astype(int))
    assert 0 < diff.max() <= 3 and diff.mean() < 1.5
    for r, c in PIXELS:  # converted at full precision, rounded once at the end
        assert noisy_rgb[1, r, c].tolist() == textbook_bt601(noisy[0][1], noisy[1][1], noisy[2][1], r, c, scale=4)
    p10.write_bytes(y4m_bytes([p.astype(np.uint16) + 1000 for p in planes], 176, 144, colour="420p10", dtype="<u2"))
    with pytest.raises(UnsupportedVideoError, match="above 1023"):
        read_video(p10)


def test_y4m_frame_parameters_and_full_range(tmp_path):
    _, planes = foreman_planes(1)
    data = y4m_bytes(planes, 176, 144).replace(b"FRAME\n", b"FRAME Ixyz\n")
    path = tmp_path / "p.y4m"
    path.write_bytes(data)
    assert read_video(path).frames.shape == (1, 144, 176, 3)
    path.write_bytes(data.replace(b"C420jpeg", b"C420jpeg XCOLORRANGE=FULL", 1))
    full = read_video(path).frames
    assert np.array_equal(full, yuv420_to_rgb(*[p for p in planes], False, full_range=True))


@pytest.mark.parametrize(
    "header, match",
    [
        (b"YUV4MPEG2 H16 F25:1\n", "W and H"),
        (b"YUV4MPEG2 W16 H16 F25:1 C411\n", "C411"),
        (b"YUV4MPEG2 Wabc H16\n", "W must"),
        (b"YUV4MPEG1 W16 H16\n", "not a YUV4MPEG2"),
        (b"YUV4MPEG2 W16 H16 F25", "no end"),
    ],
)
def test_bad_y4m_headers(tmp_path, header, match):
    path = tmp_path / "bad.y4m"
    path.write_bytes(header + (b"FRAME\n" if header.endswith(b"\n") else b"") + bytes(384))
    with pytest.raises(UnsupportedVideoError, match=match):
        read_video(path)


def test_truncated_and_damaged_y4m(tmp_path, clip):
    data = write_video(tmp_path / "a.y4m", clip, 25).read_bytes()
    path = tmp_path / "t.y4m"
    path.write_bytes(data[:-100])
    with pytest.raises(UnsupportedVideoError, match="truncated"):
        read_video(path)
    path.write_bytes(data[:-1] + b"\n" + data[-50:])  # stray bytes after the last frame
    with pytest.raises(UnsupportedVideoError, match="FRAME"):
        read_video(path)
    path.write_bytes(data.split(b"\n", 1)[0] + b"\n")
    with pytest.raises(UnsupportedVideoError, match="no frames"):
        read_video(path)


# --------------------------------------------------------------------------- raw yuv


def test_raw_yuv(tmp_path):
    raw, planes = foreman_planes(2)
    path = tmp_path / "f.yuv"
    path.write_bytes(raw.tobytes())
    video = read_video(path, size=(176, 144), fps=25)
    assert video.frames.shape == (2, 144, 176, 3) and video.fps == 25 and video.source_format == "yuv:yuv420p"
    assert np.array_equal(video.frames, yuv420_to_rgb(*planes, False))
    assert np.array_equal(read_video(path, size="176x144", fps="25", start=1).frames, video.frames[1:])
    # 10-bit words holding the same values: the same picture
    p10 = tmp_path / "f10.yuv"
    p10.write_bytes((raw.astype("<u2") * 4).tobytes())
    v10 = read_video(p10, size=(176, 144), fps=25, bit_depth=10)
    assert v10.source_bit_depth == 10 and np.array_equal(v10.frames, video.frames)
    path.write_bytes(raw.tobytes()[:-1])
    with pytest.raises(UnsupportedVideoError, match="not a whole number"):
        read_video(path, size=(176, 144), fps=25)
    with pytest.raises(CodecArgumentError, match="size"):
        read_video(path, fps=25)
    with pytest.raises(CodecArgumentError, match="fps"):
        read_video(path, size=(176, 144))
    with pytest.raises(CodecArgumentError):
        read_video(path, size=(0, 144), fps=25)
    with pytest.raises(CodecArgumentError):
        read_video(path, size=(176, 144), fps=25, bit_depth=12)


# --------------------------------------------------------------------------- frame folders


def test_png_folder_round_trip_and_natural_order(tmp_path, clip):
    out = write_video(tmp_path / "frames", clip, 30)
    names = sorted(os.listdir(out))
    assert names[0] == "frame_00000.png" and len(names) == len(clip)
    video = read_video(out)
    assert np.array_equal(video.frames, clip) and video.fps == 25 and video.source_format == "frames:png"
    assert read_video(out, fps=NTSC).fps == NTSC
    from PIL import Image

    order = tmp_path / "order"
    order.mkdir()
    for i, name in enumerate(["f10.png", "f2.png", "f1.png", "F3.jpg", ".hidden.png", "notes.txt"]):
        if name.endswith((".png", ".jpg")):
            Image.fromarray(np.full((4, 6, 3), 10 * i, np.uint8)).save(order / name)
        else:
            (order / name).write_text("x")
    got = read_video(order).frames[:, 0, 0, 0].tolist()
    assert got[:2] == [20, 10] and got[2] in range(25, 36) and got[3:] == [0]  # f1, f2, F3.jpg, f10
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(order / "f4.png")
    with pytest.raises(UnsupportedVideoError, match="one size"):
        read_video(order)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UnsupportedVideoError, match="no .png"):
        read_video(empty)


# --------------------------------------------------------------------------- mp4 / mkv


def test_mp4_lossless_matches_y4m_and_keeps_rate(tmp_path, clip):
    y4m = read_video(write_video(tmp_path / "a.y4m", clip, NTSC))
    mp4 = read_video(write_video(tmp_path / "a.mp4", clip, NTSC, crf=0))
    assert mp4.fps == NTSC and mp4.frames.shape == clip.shape and mp4.source_format == "mp4:h264:yuv420p"
    assert np.array_equal(mp4.frames, y4m.frames)  # x264 crf 0 is lossless on the planes
    assert psnr_rgb(clip, mp4.frames) > 45
    mkv = read_video(write_video(tmp_path / "a.mkv", clip, NTSC, crf=0))  # no frame count: duration
    assert mkv.fps == NTSC and np.array_equal(mkv.frames, y4m.frames)
    lossy = read_video(write_video(tmp_path / "b.mp4", clip, 24, codec="x265", crf=18))
    assert lossy.fps == 24 and psnr_yuv(clip, lossy.frames).yuv > 40
    part = read_video(tmp_path / "a.mp4", start=2, count=3)
    assert np.array_equal(part.frames, y4m.frames[2:5])


def test_odd_sizes_through_every_writer(tmp_path, odd_clip):
    y4m = read_video(write_video(tmp_path / "o.y4m", odd_clip, NTSC))
    assert y4m.frames.shape == odd_clip.shape and psnr_rgb(odd_clip, y4m.frames) > 35
    mp4 = read_video(write_video(tmp_path / "o.mp4", odd_clip, NTSC, crf=0))
    assert mp4.frames.shape == odd_clip.shape and mp4.source_format.endswith("yuv444p")
    assert psnr_rgb(odd_clip, mp4.frames) > 45  # 4:4:4 lossless: only the colour rounding is left
    av1 = read_video(write_video(tmp_path / "o.mkv", odd_clip, NTSC, codec="svtav1", crf=20))
    assert av1.frames.shape == odd_clip.shape and av1.source_format.endswith("yuv420p")
    assert psnr_rgb(y4m.frames, av1.frames) > 30


def test_unreadable_containers(tmp_path, clip):
    with pytest.raises(UnsupportedVideoError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "g.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(UnsupportedVideoError, match="not a readable"):
        read_video(garbage)
    data = write_video(tmp_path / "a.mp4", clip, 25).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UnsupportedVideoError):
        read_video(cut)
    import av

    # moov first (faststart), the last frame's bytes cut off: the container declares more
    faststart = tmp_path / "fs.mp4"
    with av.open(str(faststart), "w", options={"movflags": "faststart"}) as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i, rgb in enumerate(clip):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    assert read_video(faststart).num_frames == len(clip)
    with av.open(str(faststart)) as c:
        last = max(p.pos for p in c.demux(video=0) if p.size)
    faststart.write_bytes(faststart.read_bytes()[:last])
    with pytest.raises(UnsupportedVideoError, match=f"declares {len(clip)} frames"):
        read_video(faststart)

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("aac", rate=8000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for p in list(s.encode(frame)) + list(s.encode()):
            out.mux(p)
    audio = tmp_path / "audio.mp4"
    audio.write_bytes(buf.getvalue())
    with pytest.raises(UnsupportedVideoError, match="no video stream"):
        read_video(audio)


# --------------------------------------------------------------------------- budgets and arguments


def test_budgets_refuse_before_allocation(tmp_path, clip, monkeypatch):
    y4m = write_video(tmp_path / "a.y4m", clip, 25)
    mp4 = write_video(tmp_path / "a.mp4", clip, 25)
    mkv = write_video(tmp_path / "a.mkv", clip, 25)
    huge = tmp_path / "huge.y4m"
    huge.write_bytes(b"YUV4MPEG2 W60000 H60000 F25:1 C420jpeg\nFRAME\n" + bytes(1000))
    raw = tmp_path / "a.yuv"
    raw.write_bytes(bytes(64 * 48 * 3 // 2 * 6))
    monkeypatch.setattr(np, "empty", lambda *a, **k: (_ for _ in ()).throw(AssertionError("allocated")))
    monkeypatch.setattr(vpyav, "_frame_to_rgb", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded")))
    for path in (y4m, mp4, mkv, tmp_path / "a.yuv"):
        kw = {"size": (64, 48), "fps": 25} if path.suffix == ".yuv" else {}
        with pytest.raises(UnsupportedVideoError, match="max_frames"):
            read_video(path, max_frames=5, **kw)
        with pytest.raises(UnsupportedVideoError, match="max_pixels"):
            read_video(path, max_pixels=64 * 48 * 6 - 1, **kw)
    with pytest.raises(UnsupportedVideoError, match="max_pixels"):
        read_video(huge, max_pixels=10**8)
    monkeypatch.undo()
    assert read_video(y4m, max_frames=6, max_pixels=64 * 48 * 6).frames.shape[0] == 6
    assert read_video(mp4, max_frames=4, count=4).frames.shape[0] == 4
    assert read_video(mkv, max_frames=3, start=3).frames.shape[0] == 3


def test_lazy_decoding_stops_at_the_budget(tmp_path, clip, monkeypatch):
    mkv = write_video(tmp_path / "a.mkv", clip, 25)
    monkeypatch.setattr(vpyav, "_estimate_frames", lambda *a: None)  # a container without duration
    calls = []
    real = vpyav._frame_to_rgb
    monkeypatch.setattr(vpyav, "_frame_to_rgb", lambda f: calls.append(1) or real(f))
    with pytest.raises(UnsupportedVideoError, match="max_frames"):
        read_video(mkv, max_frames=2)
    assert len(calls) == 2  # the third frame was decoded, then refused before conversion


def test_arguments(tmp_path, clip):
    assert parse_fps(29.97) == NTSC and parse_fps("24000/1001") == Fraction(24000, 1001)
    assert parse_fps(25.0) == 25 and parse_fps("12.5") == Fraction(25, 2) and parse_fps(Fraction(50)) == 50
    for bad in (0, -1, "abc", float("nan"), True, None, "1/0"):
        with pytest.raises(CodecArgumentError):
            parse_fps(bad)
    path = write_video(tmp_path / "a.y4m", clip, 25)
    with pytest.raises(CodecArgumentError, match="nothing is resized"):
        read_video(path, size=(32, 48))
    with pytest.raises(CodecArgumentError, match="nothing is resampled"):
        read_video(path, fps=30)
    assert read_video(path, size=(64, 48), fps=25).frames.shape == clip.shape
    with pytest.raises(CodecArgumentError, match="start"):
        read_video(path, start=6)
    with pytest.raises(CodecArgumentError):
        read_video(path, count=0)
    with pytest.raises(CodecArgumentError):
        read_video(path, bit_depth=10)
    with pytest.raises(CodecArgumentError):
        write_video(tmp_path / "x.avi", clip, 25)
    with pytest.raises(CodecArgumentError):
        write_video(tmp_path / "x.y4m", clip, 25, crf=3)
    with pytest.raises(CodecArgumentError):
        write_video(tmp_path / "x.mp4", clip, 25, codec="svtav1", crf=64)
    with pytest.raises(CodecArgumentError):
        write_video(tmp_path / "x.mp4", clip.astype(np.float32), 25)
    assert sorted(os.listdir(tmp_path)) == ["a.y4m"]


# --------------------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("name", ["a.y4m", "a.mp4", "frames"])
def test_no_overwrite_without_permission(tmp_path, clip, name):
    target = write_video(tmp_path / name, clip, 25)
    snapshot = sorted(p.read_bytes() for p in ([target] if target.is_file() else target.iterdir()))
    other = clip[::-1].copy()
    with pytest.raises(CodecArgumentError, match="overwrite"):
        write_video(target, other, 25)
    now = sorted(p.read_bytes() for p in ([target] if target.is_file() else target.iterdir()))
    assert now == snapshot
    write_video(target, other, 25, overwrite=True)
    back = read_video(target).frames
    assert psnr_rgb(other, back) > psnr_rgb(clip, back)
    assert sorted(os.listdir(tmp_path)) == [name]


def test_failed_writes_leave_nothing(tmp_path, clip, monkeypatch):
    from PIL import Image

    saved = []
    real_save = Image.Image.save

    def flaky(self, fp, *a, **k):
        if saved:
            raise OSError("disk full")
        saved.append(fp)
        return real_save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", flaky)
    with pytest.raises(OSError, match="disk full"):
        write_video(tmp_path / "frames", clip, 25)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()

    import neuralcodecs.atomic

    def broken(*a, **k):
        raise OSError("disk died")

    monkeypatch.setattr(neuralcodecs.atomic.os, "fsync", broken)  # fails inside the atomic write
    for name in ("a.y4m", "a.mp4"):
        with pytest.raises(OSError, match="disk died"):
            write_video(tmp_path / name, clip, 25)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    # a folder holding anything else is never replaced
    other = tmp_path / "mine"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    with pytest.raises(CodecArgumentError, match="other than"):
        write_video(other, clip, 25, overwrite=True)
    assert (other / "thesis.tex").read_text() == "keep me"


def test_video_object_passes_through(tmp_path, clip):
    video = Video(clip, NTSC)
    back = read_video(write_video(tmp_path / "frames", video), fps=NTSC)
    assert np.array_equal(back.frames, clip) and back.num_frames == 6 and (back.width, back.height) == (64, 48)


def test_semi_planar_frames_convert_like_planar_ones():
    import av

    _, (y, u, v) = foreman_planes(1)
    frame = av.VideoFrame(176, 144, "yuv420p")
    for plane, arr in zip(frame.planes, (y[0], u[0], v[0])):
        np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width] = arr
    want = yuv420_to_rgb(y[0], u[0], v[0])
    for fmt in ("yuv420p", "nv12", "p010le"):
        # one thread: threaded libswscale writes wrong chroma rows into p010le (ffmpeg 8.1)
        rgb, depth = vpyav._frame_to_rgb(frame.reformat(format=fmt, threads=1))
        assert np.array_equal(rgb, want) and depth == (10 if fmt == "p010le" else 8)
