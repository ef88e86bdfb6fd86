"""What every image codec offers on top of the contract: input rules, the container, checks.

Subclasses implement :meth:`ImageCodec._encode_pixels`, :meth:`ImageCodec._check_layout`,
:meth:`ImageCodec._decode_sections`, :meth:`ImageCodec._latents_sections` and
:meth:`ImageCodec.decode_estimate`; this class does input normalization, the container, the
weights check, the decoder's budget and the grayscale rule.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import bitstream
from ..bitstream import COLOR_GRAY, COLOR_RGB, Header
from ..budget import Budget, DecodeEstimate, check_budget
from ..codec import IMAGE, Codec, Latents
from ..errors import HeaderFieldError, SectionLayoutError
from ..frame_selection import wanted_frames
from .io import DEFAULT_MAX_PIXELS, ImageInput, load_image, to_gray


class ImageCodec(Codec):
    """Base class of the image codecs the registry hands out.

    Attributes:
        name: registry name, written into every file.
        fingerprint: 16-byte digest of the loaded weights.
        quality: the accepted qualities (:class:`~neuralcodecs.codec.QualitySpec`).
        device: torch device the networks run on.
    """

    kind = IMAGE
    colors = (COLOR_RGB, COLOR_GRAY)  # the colour formats the codec's sections define

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
        progress: bool = False,
        **options,
    ) -> bytes:
        """Encode an image into a complete ``.ncb`` file.

        Args:
            image: path, PIL image or uint8/uint16 array (see :mod:`neuralcodecs.image.io`).
            quality: accepted by ``self.quality``; default ``self.quality.default``.
            alpha: ``"refuse"`` or ``"composite"`` (over white) for transparent images.
            max_pixels: memory budget for the input.
            progress: show a progress bar for encodes that take long (fitting, latent refinement).
            options: the codec's declared options (``self.options``).
        """
        quality = self.quality.check(self.quality.default if quality is None else quality)
        options = self.check_options(options)
        pixels, color = load_image(image, alpha=alpha, max_pixels=max_pixels)
        config, sections = self._encode_pixels(pixels, quality, progress=progress, **options)
        header = Header(
            codec=self.name,
            fingerprint=self.fingerprint,
            width=pixels.shape[1],
            height=pixels.shape[0],
            color=color,
            config=config,
        )
        return bitstream.pack(header, sections)

    def decode_parsed(self, header: Header, sections: list[bytes], frames=None, budget: Budget | None = None,
                      progress: bool = False) -> np.ndarray:
        """Decode an already unpacked file (see :func:`neuralcodecs.bitstream.unpack`); uint8 ``(H, W, 3)``."""
        self._check_stream(header, sections, frames, budget)
        pixels = self._decode_sections(header, sections)
        if header.color == COLOR_GRAY:
            pixels = to_gray(pixels)
        return pixels

    def latents_parsed(self, header: Header, sections: list[bytes]) -> Latents:
        """Entropy-decoded latents of an already unpacked file, without synthesis."""
        self._check_stream(header, sections, None, None)
        return self._latents_sections(header, sections)

    #: the networks run on the picture padded to multiples of this
    pad_multiple: int = 1

    def padded_pixels(self, header: Header) -> int:
        """Pixels the networks run on: the picture padded to multiples of ``pad_multiple``."""
        m = self.pad_multiple
        return (-(-header.height // m) * m) * (-(-header.width // m) * m)

    # ------------------------------------------------------------------ checks
    def _check_stream(self, header: Header, sections, frames, budget: Budget | None) -> None:
        """The codec's checks of ``bitstreams/FORMAT.md`` ("Decoder checks, in order", 14-19), in that order."""
        self.check_identity(header, f"file was made with {self.name} weights {header.fingerprint.hex()}, but the "
                                    f"loaded weights are {self.fingerprint.hex()}; decode with the weights that made it "
                                    "(weights=PATH)")
        bitstream.check_color(header, self.colors)
        self._check_layout(header, sections)
        if frames is not None:
            wanted_frames(frames, 1)  # an image has one frame, 0
        check_budget(header, self.decode_estimate(header, sections, frames), budget)

    # ------------------------------------------------------------------ subclass hooks
    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False, **options) -> tuple[dict[str, int], list[bytes]]:
        """Return the header config entries and the payload sections."""
        raise NotImplementedError

    def _check_layout(self, header: Header, sections: list[bytes]) -> None:
        """Before any decoding work: the config (``HeaderFieldError``), then the number of sections,
        then their sizes (``SectionLayoutError``)."""
        raise NotImplementedError

    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        """Return uint8 ``(H, W, 3)``."""
        raise NotImplementedError

    def _latents_sections(self, header: Header, sections: list[bytes]) -> Latents:
        raise NotImplementedError


class GainUnitImageCodec(ImageCodec):
    """An image codec whose streams hold ``quality_x256`` and ``latent_channels`` and two
    sections, ``z`` (factorized) then ``y``, padded to multiples of ``pad_multiple`` with ``y``
    at stride 16 (``hyperprior``, ``s2lic``).

    Subclasses set ``frozen`` (with ``model.N``, ``model.M``, ``z_coder``, ``y_coder``).
    """

    pad_multiple = 64

    @property
    def latent_channels(self) -> int:
        return self.frozen.model.M

    def _quality_x256(self, header: Header) -> int:
        if set(header.config) != {"quality_x256", "latent_channels"}:
            raise HeaderFieldError(f"{self.name} config must hold quality_x256 and latent_channels, got {sorted(header.config)}")
        q256 = header.config["quality_x256"]
        low, high = self.quality.low, self.quality.high
        if not low * 256 <= q256 <= high * 256:
            raise HeaderFieldError(f"quality_x256 {q256} outside [{low * 256:g}, {high * 256:g}]")
        if header.config["latent_channels"] != self.latent_channels:
            raise HeaderFieldError(f"latent_channels {header.config['latent_channels']} != {self.latent_channels}")
        return q256

    def z_shape(self, header: Header) -> tuple[int, int]:
        return (-(-header.height // self.pad_multiple), -(-header.width // self.pad_multiple))

    def _check_layout(self, header: Header, sections: list[bytes]) -> None:
        self._quality_x256(header)
        if len(sections) != 2:
            raise SectionLayoutError(f"{self.name} streams have 2 sections (z, y), this one has {len(sections)}")
        h, w = self.z_shape(header)
        counts = (self.frozen.model.N * h * w, self.frozen.model.M * 16 * h * w)
        coders = (self.frozen.z_coder, self.frozen.y_coder)
        for name, section, count, coder in zip(("z", "y"), sections, counts, coders):
            check_table_section(name, section, count, coder)

    def _config(self, q256: int) -> dict[str, int]:
        return {"quality_x256": q256, "latent_channels": self.latent_channels}


def check_table_section(name: str, section: bytes, count: int, coder) -> None:
    """``bitstreams/FORMAT.md`` check 18 for a section of ``count`` symbols coded by a
    :class:`~neuralcodecs.entropy.coders.TableCoder`: a multiple of 4 bytes between the coder's
    lower bound and ``5 * count + 64``; :class:`SectionLayoutError` otherwise."""
    low = coder.min_section_bytes(count)
    if len(section) % 4 or not low <= len(section) <= 5 * count + 64:
        raise SectionLayoutError(f"section {name} has {len(section)} bytes; {count} symbols take a multiple of 4 "
                                 f"between {low} and {5 * count + 64}")


def per_pixel_estimate(pixels: int, fixed_bytes: float, bytes_per_pixel: float, macs_per_pixel: float,
                       quadratic_macs: float = 0.0) -> DecodeEstimate:
    """The estimate of a decoder whose memory and work grow with the (padded) pixel count, plus
    ``quadratic_macs``: work that does not grow linearly (attention over all positions, a
    classifier's fixed head)."""
    return DecodeEstimate(memory=int(fixed_bytes + bytes_per_pixel * pixels), macs=macs_per_pixel * pixels + quadratic_macs)


def ladder_index(header: Header, count: int, optional: tuple[str, ...] = ()) -> int:
    """0-based rate index of a file whose header config is ``quality`` (1-based, 1..``count``) and
    at most the ``optional`` keys; :class:`HeaderFieldError` otherwise.  For codecs whose
    qualities index a ladder of weights."""
    if "quality" not in header.config or not set(header.config) <= {"quality", *optional}:
        allowed = " and ".join(["quality", *optional])
        raise HeaderFieldError(f"{header.codec} config must hold quality (and at most {allowed}), got {sorted(header.config)}")
    q = header.config["quality"]
    if not 1 <= q <= count:
        raise HeaderFieldError(f"quality {q} outside 1..{count} of the loaded weights")
    return q - 1


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
