"""Input images: each documented rule, and clear refusals."""

import io

import numpy as np
import pytest
from PIL import Image

from neuralcodecs.bitstream import COLOR_GRAY, COLOR_RGB
from neuralcodecs.errors import UnsupportedImageError
from neuralcodecs.image.io import load_image


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_rgb_passes_unchanged(small_photo):
    pixels, color = load_image(small_photo)
    assert color == COLOR_RGB and np.array_equal(pixels, small_photo)


def test_gray_sources_become_three_equal_channels(small_photo):
    gray = small_photo[..., 0]
    for source in (gray, gray[..., None], Image.fromarray(gray), Image.fromarray(gray > 128)):
        pixels, color = load_image(source)
        assert color == COLOR_GRAY and pixels.shape == (*gray.shape, 3)
        assert np.array_equal(pixels[..., 0], pixels[..., 2])


def test_sixteen_bit_samples_are_rounded_to_eight_bits(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    pixels, color = load_image(values)
    assert color == COLOR_GRAY and pixels[0, :, 0].tolist() == [0, 1, 128, 255]
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)  # a real 16-bit grayscale PNG
    from_file, _ = load_image(path)
    assert from_file[0, :, 0].tolist() == [0, 1, 128, 255]


def test_sixteen_bit_rgb_png_keeps_the_high_byte(tmp_path):
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    values = (np.arange(4 * 4 * 3).reshape(4, 4, 3) * 1000 + 7).astype(">u2")
    raw = b"".join(b"\x00" + values[r].tobytes() for r in range(4))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 16, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path = tmp_path / "rgb16.png"
    path.write_bytes(png)
    pixels, color = load_image(path)
    assert color == COLOR_RGB and np.array_equal(pixels, (values >> 8).astype(np.uint8))


def test_palette_and_cmyk_convert_to_rgb(small_photo):
    pal = Image.fromarray(small_photo).convert("P")
    pixels, color = load_image(pal)
    assert color == COLOR_RGB and np.array_equal(pixels, np.asarray(pal.convert("RGB")))
    cmyk = Image.fromarray(small_photo).convert("CMYK")
    pixels, _ = load_image(cmyk)
    assert np.array_equal(pixels, np.asarray(cmyk.convert("RGB")))


def test_alpha_is_dropped_when_opaque_refused_when_not_or_composited(small_photo):
    alpha = np.full(small_photo.shape[:2] + (1,), 255, np.uint8)
    rgba = np.concatenate([small_photo, alpha], axis=2)
    assert np.array_equal(load_image(rgba)[0], small_photo)
    rgba[0, 0, 3] = 0
    with pytest.raises(UnsupportedImageError, match="composite"):
        load_image(rgba)
    pixels, _ = load_image(rgba, alpha="composite")
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert np.array_equal(pixels[1:], small_photo[1:])


def test_exif_orientation_is_applied(tmp_path, small_photo):
    img = Image.fromarray(small_photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    path = tmp_path / "rotated.jpg"
    img.save(path, quality=95, exif=exif.tobytes())
    pixels, _ = load_image(path)
    assert pixels.shape == (small_photo.shape[1], small_photo.shape[0], 3)


def test_refusals_have_typed_errors(tmp_path, small_photo):
    png = _png_bytes(Image.fromarray(small_photo))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png[: len(png) // 2])
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    cases = [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((4, 4, 2), np.uint8),
        Image.new("F", (4, 4)),
        truncated,
        not_image,
        tmp_path / "missing.png",
        object(),
    ]
    for case in cases:
        with pytest.raises(UnsupportedImageError):
            load_image(case)
    with pytest.raises(UnsupportedImageError, match="memory budget"):
        load_image(small_photo, max_pixels=1000)
