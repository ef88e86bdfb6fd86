"""What every image codec offers: pixels in, a complete ``.ncb`` file out, and back.

Subclasses implement :meth:`ImageCodec._encode_pixels`, :meth:`ImageCodec._check_layout`
and :meth:`ImageCodec._decode_sections`; this class does input normalization, the
container, the weights check and the grayscale rule.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import bitstream
from ..bitstream import COLOR_GRAY, Header
from ..errors import CodecArgumentError, HeaderFieldError, UnknownCodecError, WeightsMismatchError
from .io import DEFAULT_MAX_PIXELS, ImageInput, load_image, to_gray


class ImageCodec:
    """Base class of the image codecs the registry hands out.

    Attributes:
        name: registry name, written into every file.
        fingerprint: 16-byte digest of the loaded weights.
        quality_range: ``(lowest, highest)`` accepted quality (higher = more bits).
        default_quality: quality used when none is given.
        device: torch device the networks run on.
    """

    name: str = ""
    quality_range: tuple[float, float] = (1.0, 1.0)
    default_quality: float = 1.0

    def __init__(self, fingerprint: bytes, device: str | torch.device = "cpu"):
        self.fingerprint = fingerprint
        self.device = torch.device(device)

    # ------------------------------------------------------------------ public
    def encode(
        self,
        image: ImageInput,
        quality: float | None = None,
        alpha: str = "refuse",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> bytes:
        """Encode an image into a complete ``.ncb`` file.

        Args:
            image: path, PIL image or uint8/uint16 array (see :mod:`neuralcodecs.image.io`).
            quality: in ``quality_range``; fractional values interpolate when supported.
            alpha: ``"refuse"`` or ``"composite"`` (over white) for transparent images.
            max_pixels: memory budget for the input.
        """
        quality = self.default_quality if quality is None else quality
        self.check_quality(quality)
        pixels, color = load_image(image, alpha=alpha, max_pixels=max_pixels)
        config, sections = self._encode_pixels(pixels, float(quality))
        header = Header(
            codec=self.name,
            fingerprint=self.fingerprint,
            width=pixels.shape[1],
            height=pixels.shape[0],
            color=color,
            config=config,
        )
        return bitstream.pack(header, sections)

    def decode(self, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Decode a ``.ncb`` file made by this codec; uint8 ``(H, W, 3)``.

        ``max_pixels`` is the decoder's memory budget: a header announcing a larger picture
        is refused before anything is allocated.
        """
        header, sections = bitstream.unpack(data)
        return self.decode_parsed(header, sections, max_pixels)

    def decode_parsed(self, header: Header, sections: list[bytes], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Decode an already unpacked file (see :func:`neuralcodecs.bitstream.unpack`)."""
        if header.width * header.height > max_pixels:
            raise HeaderFieldError(
                f"picture of {header.width}x{header.height} exceeds the decoder's memory budget of "
                f"{max_pixels} pixels; pass max_pixels=... if this machine has the memory"
            )
        if header.codec != self.name:
            raise UnknownCodecError(f"file was made by codec {header.codec!r}, not {self.name!r}")
        if header.fingerprint != self.fingerprint:
            raise WeightsMismatchError(
                f"file was made with {self.name} weights {header.fingerprint.hex()}, but the loaded weights "
                f"are {self.fingerprint.hex()}; decode with the weights that made it (weights=PATH)"
            )
        self._check_layout(header, sections)
        pixels = self._decode_sections(header, sections)
        if header.color == COLOR_GRAY:
            pixels = to_gray(pixels)
        return pixels

    def check_quality(self, quality: float) -> None:
        """Raise :class:`CodecArgumentError` unless ``quality`` is accepted."""
        low, high = self.quality_range
        if isinstance(quality, bool) or not isinstance(quality, (int, float)) or not math.isfinite(quality):
            raise CodecArgumentError(f"quality must be a number in [{low:g}, {high:g}], got {quality!r}")
        if not low <= quality <= high:
            raise CodecArgumentError(f"{self.name} quality must lie in [{low:g}, {high:g}], got {quality:g}")

    def qualities(self) -> list[float]:
        """The trained rate points (what a rate-distortion sweep uses)."""
        low, high = self.quality_range
        return [float(q) for q in range(int(math.ceil(low)), int(high) + 1)]

    # ------------------------------------------------------------------ subclass hooks
    def _encode_pixels(self, pixels: np.ndarray, quality: float) -> tuple[dict[str, int], list[bytes]]:
        """Return the header config entries and the payload sections."""
        raise NotImplementedError

    def _check_layout(self, header: Header, sections: list[bytes]) -> None:
        """Raise ``HeaderFieldError`` / ``SectionLayoutError`` before any decoding work."""
        raise NotImplementedError

    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        """Return uint8 ``(H, W, 3)``."""
        raise NotImplementedError


def pixels_to_tensor(pixels: np.ndarray, multiple: int, device: torch.device) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> float ``(1, 3, H', W')`` in [0, 1], edge-padded to multiples."""
    h, w = pixels.shape[:2]
    x = torch.from_numpy(np.array(pixels, dtype=np.uint8, copy=True)).to(device).permute(2, 0, 1)[None].float().div_(255.0)
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h or pad_w:
        x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x


def tensor_to_pixels(x: torch.Tensor, height: int, width: int) -> np.ndarray:
    """float ``(1, 3, H', W')`` in [0, 1] -> uint8 ``(height, width, 3)`` (cropped)."""
    x = x[0, :, :height, :width].clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()
