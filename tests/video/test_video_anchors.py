"""Classical video anchors: real mp4 files, rate from their size, decoded at the true size."""

import io
from fractions import Fraction

import numpy as np
import pytest

from neuralcodecs.errors import CodecArgumentError
from neuralcodecs.video.anchors import ANCHOR_CODECS, ANCHOR_SWEEPS, AnchorResult, encode_anchor
from neuralcodecs.video.colour import psnr_rgb, psnr_yuv
from neuralcodecs.video.io import read_video

NTSC = Fraction(30000, 1001)


def moving_clip(t: int, h: int, w: int) -> np.ndarray:
    """Textured, moving content with gentle colour: inter prediction has work to do, quality
    shows in bytes, and 4:2:0 itself costs little (about 50 dB)."""
    rng = np.random.default_rng(7)
    blocks = np.kron(rng.integers(0, 256, (h // 4 + 8, w // 4 + 8, 1)).astype(np.float64), np.ones((4, 4, 1)))
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for k in range(t):
        colour = np.stack([25 * np.sin((xx + k) / 20.0), 0 * xx, -20 * np.cos((yy - k) / 15.0)], -1)
        wave = 20 * np.sin((xx + 3 * k) / 6.0)[..., None]
        frames.append(0.6 * blocks[k : k + h, 2 * k : 2 * k + w] + 50 + colour + wave)
    return np.clip(np.round(np.stack(frames)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def clip():
    return moving_clip(8, 48, 64)


@pytest.mark.parametrize("codec", list(ANCHOR_CODECS))
def test_quality_orders_rate_and_distortion(clip, codec, tmp_path):
    low_q, high_q = ANCHOR_SWEEPS[codec][0], ANCHOR_SWEEPS[codec][-1]
    low = encode_anchor(clip, NTSC, codec, low_q)
    high = encode_anchor(clip, NTSC, codec, high_q)
    for r in (low, high):
        assert isinstance(r, AnchorResult) and r.decoded.shape == clip.shape and r.decoded.dtype == np.uint8
        assert r.bpp == 8 * len(r.bytes) / (8 * 48 * 64) and r.payload_bytes < len(r.bytes)
        assert r.encode_seconds > 0 and r.decode_seconds > 0 and r.coded_size == (64, 48)
    assert len(high.bytes) > len(low.bytes)
    assert psnr_rgb(clip, high.decoded) > psnr_rgb(clip, low.decoded) + 3
    assert psnr_yuv(clip, high.decoded).yuv > psnr_yuv(clip, low.decoded).yuv + 3
    assert psnr_rgb(clip, high.decoded) > 30
    # the bytes are a complete mp4 file that decodes again, to the same pixels and rate
    path = tmp_path / "anchor.mp4"
    path.write_bytes(high.bytes)
    again = read_video(path)
    assert again.fps == NTSC and np.array_equal(again.frames, high.decoded)


@pytest.mark.parametrize("codec", list(ANCHOR_CODECS))
def test_odd_size_keeps_the_true_size(codec):
    clip = moving_clip(4, 49, 65)
    r = encode_anchor(clip, 25, codec, ANCHOR_SWEEPS[codec][-2])
    assert r.decoded.shape == clip.shape
    assert r.coded_size == ((65, 49) if codec == "svtav1" else (66, 50))  # AV1 codes odd sizes
    assert r.bpp == 8 * len(r.bytes) / (4 * 49 * 65)
    assert psnr_rgb(clip, r.decoded) > 33
    # the last column and row are coded like the rest, not lost to cropping
    assert psnr_rgb(clip[:, :, -1:], r.decoded[:, :, -1:]) > 30
    assert psnr_rgb(clip[:, -1:], r.decoded[:, -1:]) > 30


def test_reproducible_and_without_encoder_info(clip):
    for codec in ANCHOR_CODECS:
        a = encode_anchor(clip, 25, codec, ANCHOR_SWEEPS[codec][2])
        b = encode_anchor(clip, 25, codec, ANCHOR_SWEEPS[codec][2])
        assert a.bytes == b.bytes, codec
    x264 = encode_anchor(clip, 25, "x264", 23).bytes
    x265 = encode_anchor(clip, 25, "x265", 23).bytes
    assert b"x264 - core" not in x264 and b"x265 (build" not in x265
    import av

    for data in (x264, x265):
        with av.open(io.BytesIO(data)) as c:
            frames = list(c.decode(video=0))
        assert len(frames) == len(clip)
        # tagged with the colour rule: 64x48 is BT.601 (SMPTE 170M), limited (MPEG) range
        assert (int(frames[0].colorspace), int(frames[0].color_range)) == (6, 1)


def test_keyint_option(clip):
    import av

    r = encode_anchor(clip, 25, "x264", 28, keyint=2)
    with av.open(io.BytesIO(r.bytes)) as c:
        keys = sum(f.key_frame for f in c.decode(video=0))
    assert keys >= 4


def test_sweeps_and_refusals(clip):
    assert set(ANCHOR_SWEEPS) == {"x264", "x265", "svtav1"}
    for codec, sweep in ANCHOR_SWEEPS.items():
        assert 4 <= len(sweep) <= 6 and list(sweep) == sorted(sweep, reverse=True)  # lowest rate first
    with pytest.raises(CodecArgumentError, match="unknown"):
        encode_anchor(clip, 25, "vp9", 30)
    for codec, bad in (("x264", 52), ("x265", -1), ("svtav1", 0), ("svtav1", 23.5)):
        with pytest.raises(CodecArgumentError, match="crf"):
            encode_anchor(clip, 25, codec, bad)
    with pytest.raises(CodecArgumentError):
        encode_anchor(clip[0], 25, "x264", 23)
    with pytest.raises(CodecArgumentError):
        encode_anchor(clip.astype(np.int16), 25, "x264", 23)
    with pytest.raises(CodecArgumentError):
        encode_anchor(clip, 0, "x264", 23)
