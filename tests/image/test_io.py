"""Input images: each documented rule, and clear refusals."""

import io
import struct
import zlib

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


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: list[bytes], *extra: bytes) -> bytes:
    """A PNG file written byte by byte (filter 0 on every row), with ``extra`` chunks before IDAT."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
    data = _chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + row for row in rows)))
    return b"\x89PNG\r\n\x1a\n" + header + b"".join(extra) + data + _chunk(b"IEND", b"")


# an asymmetric 2 x 3 picture: every pixel differs, so any rotation or mirror is visible
ASYMMETRIC = (np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 12 + 5)


def test_rgb_passes_unchanged(small_photo):
    pixels, color = load_image(small_photo)
    assert color == COLOR_RGB and np.array_equal(pixels, small_photo)


def test_gray_sources_become_three_equal_channels(small_photo, tmp_path):
    gray = small_photo[..., 0]
    expected = np.repeat(gray[..., None], 3, axis=2)
    for source in (gray, gray[..., None], Image.fromarray(gray)):
        pixels, color = load_image(source)
        assert color == COLOR_GRAY and np.array_equal(pixels, expected)
    # an 8-bit grayscale PNG and a 1-bit one, written byte by byte: known sample values
    path = tmp_path / "gray8.png"
    path.write_bytes(_png(4, 2, 8, 0, [bytes([0, 17, 128, 255]), bytes([254, 1, 99, 200])]))
    pixels, color = load_image(path)
    assert color == COLOR_GRAY and pixels.shape == (2, 4, 3)
    assert pixels[..., 0].tolist() == pixels[..., 2].tolist() == [[0, 17, 128, 255], [254, 1, 99, 200]]
    path = tmp_path / "gray1.png"
    path.write_bytes(_png(8, 1, 1, 0, [bytes([0b10110001])]))  # bits, most significant first
    pixels, color = load_image(path)
    assert color == COLOR_GRAY and pixels[0, :, 1].tolist() == [255, 0, 255, 255, 0, 0, 0, 255]
    bits = np.array([[True, False], [False, True]])
    assert load_image(bits)[0][..., 2].tolist() == [[255, 0], [0, 255]]
    pixels, color = load_image(Image.fromarray(gray > 128))  # a mode "1" image
    assert color == COLOR_GRAY and np.array_equal(pixels, np.where(expected > 128, 255, 0))


def test_sixteen_bit_samples_are_rounded_to_eight_bits(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    pixels, color = load_image(values)
    assert color == COLOR_GRAY and pixels[0, :, 0].tolist() == [0, 1, 128, 255]
    path = tmp_path / "g16.png"
    Image.fromarray(values).save(path)  # a real 16-bit grayscale PNG
    from_file, _ = load_image(path)
    assert from_file[0, :, 0].tolist() == [0, 1, 128, 255]


def test_sixteen_bit_rgb_png_keeps_the_high_byte(tmp_path):
    values = (np.arange(4 * 4 * 3).reshape(4, 4, 3) * 1000 + 7).astype(">u2")
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png(4, 4, 16, 2, [values[r].tobytes() for r in range(4)]))
    pixels, color = load_image(path)
    assert color == COLOR_RGB and np.array_equal(pixels, (values >> 8).astype(np.uint8))


def test_palette_images_expand_to_their_palette_colours(tmp_path):
    palette = [(255, 0, 0), (0, 128, 255), (10, 20, 30), (250, 250, 3)]
    plte = _chunk(b"PLTE", bytes(c for rgb in palette for c in rgb))
    index_rows = [[0, 1, 2, 3], [3, 3, 1, 0], [2, 0, 0, 1]]
    path = tmp_path / "palette.png"
    path.write_bytes(_png(4, 3, 8, 3, [bytes(r) for r in index_rows], plte))
    pixels, color = load_image(path)
    assert color == COLOR_RGB and pixels.tolist() == [[list(palette[i]) for i in row] for row in index_rows]
    # a palette with a transparent entry becomes RGBA: refused, or composited over white
    trns = _chunk(b"tRNS", bytes([255, 255, 0, 255]))  # entry 2 fully transparent
    path.write_bytes(_png(4, 3, 8, 3, [bytes(r) for r in index_rows], plte, trns))
    with pytest.raises(UnsupportedImageError, match="composite"):
        load_image(path)
    pixels, _ = load_image(path, alpha="composite")
    assert pixels[0, 2].tolist() == pixels[2, 0].tolist() == [255, 255, 255] and pixels[0, 1].tolist() == [0, 128, 255]


# CMYK samples and their RGB: white, the three primaries' complements, black, half-strength black
CMYK_TO_RGB = [((0, 0, 0, 0), (255, 255, 255)), ((255, 0, 0, 0), (0, 255, 255)), ((0, 255, 0, 0), (255, 0, 255)),
               ((0, 0, 255, 0), (255, 255, 0)), ((0, 255, 255, 0), (255, 0, 0)), ((0, 0, 0, 255), (0, 0, 0)),
               ((0, 0, 0, 128), (127, 127, 127))]


def test_cmyk_converts_to_rgb(tmp_path):
    cmyk = np.array([[c for c, _ in CMYK_TO_RGB]], dtype=np.uint8)
    expected = [[list(rgb) for _, rgb in CMYK_TO_RGB]]
    img = Image.frombytes("CMYK", (len(CMYK_TO_RGB), 1), cmyk.tobytes())
    path = tmp_path / "cmyk.tif"
    img.save(path)
    for source in (img, path):
        pixels, color = load_image(source)
        assert color == COLOR_RGB and pixels.tolist() == expected, source


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


# EXIF orientation -> what the stored pixels must become to be displayed upright
ORIENTATIONS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180 degrees
    6: lambda a: np.rot90(a, -1),  # rotate 90 degrees clockwise to display
    8: lambda a: np.rot90(a, 1),  # rotate 90 degrees counter-clockwise to display
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "oriented.png"  # lossless, so every pixel is known
    Image.fromarray(ASYMMETRIC).save(path, exif=exif.tobytes())
    pixels, _ = load_image(path)
    assert np.array_equal(pixels, ORIENTATIONS[orientation](ASYMMETRIC))


def test_exif_orientation_of_a_jpeg_moves_its_quadrants(tmp_path):
    colours = {"top-left": (250, 0, 0), "top-right": (0, 250, 0), "bottom-left": (0, 0, 250), "bottom-right": (250, 250, 250)}
    img = np.zeros((32, 48, 3), np.uint8)
    img[:16, :24], img[:16, 24:] = colours["top-left"], colours["top-right"]
    img[16:, :24], img[16:, 24:] = colours["bottom-left"], colours["bottom-right"]
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: the stored left column becomes the top row
    path = tmp_path / "rotated.jpg"
    Image.fromarray(img).save(path, quality=95, exif=exif.tobytes())
    pixels, _ = load_image(path)
    assert pixels.shape == (48, 32, 3)
    centres = {"top-left": (12, 8), "top-right": (12, 24), "bottom-left": (36, 8), "bottom-right": (36, 24)}
    displayed = {"top-left": "bottom-left", "top-right": "top-left", "bottom-right": "top-right", "bottom-left": "bottom-right"}
    for where, stored in displayed.items():
        y, x = centres[where]
        assert np.abs(pixels[y, x].astype(int) - colours[stored]).max() <= 8, (where, pixels[y, x])


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
