"""The ``s2lic`` codec: weights file <-> :class:`FrozenLadder` <-> ``.ncb`` files.

Two sections: ``z`` (factorized) and ``y`` (every coding pass of the sliced checkerboard
model, in pass order, one stream).  Header config: ``quality_x256`` and ``latent_channels``.
Encoder effort (``--effort``): ``fast`` codes the analysis transform's latents; ``medium``
and ``best`` first refine them for the image at hand (:mod:`neuralcodecs.image.s2lic.refine`);
the decoder and the format do not change.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ...bitstream import Header
from ...codec import Latents, QualitySpec
from ..base import GainUnitImageCodec, per_pixel_estimate, pixels_to_tensor, tensor_to_pixels
from .options import EFFORT_OPTION, EFFORT_STEPS
from .weights import CODEC_NAME, load_frozen

# benchmarks/decoder_memory.py --codec s2lic (shipped cpu weights): extra peak 1406 and 1524 bytes per
# pixel on two Kodak pictures, 1343 on a 1024x1024 one (whole-picture SwinV2 synthesis, no tiling)
DECODE_FIXED_BYTES = 64 * 2**20
DECODE_BYTES_PER_PIXEL = 1600
#: work of the shipped ``cpu`` configuration (tests/test_decode_estimates.py counts it): transforms and
#: context networks per padded pixel, plus the global inter-slice attention, whose every latent
#: attends to every reference point (a quarter of the latents): per pixel squared
DECODE_MACS_PER_PIXEL = 61_770
DECODE_MACS_PER_PIXEL_SQUARED = 0.00228
#: the attention's logits and weights: 3 float32 maps of latents x reference points per slice pass
DECODE_BYTES_PER_PIXEL_SQUARED = 3 * 4 / 4 / 256**2


class S2licCodec(GainUnitImageCodec):
    """S2LIC with exact entropy parameters; quality 1..L (fractional ok)."""

    name = CODEC_NAME
    options = (EFFORT_OPTION,)

    def __init__(self, frozen, weights_fingerprint: bytes, model_args: dict, device="cpu"):
        super().__init__(weights_fingerprint, device)
        self.frozen = frozen
        self.model_args = model_args
        frozen.model.to(self.device)
        levels = float(frozen.ladder.levels)
        self.quality = QualitySpec(1.0, levels, min(4.0, levels), 1 / 256, tuple(float(q) for q in range(1, frozen.ladder.levels + 1)))

    @classmethod
    def from_weights(cls, path: str | Path, device="cpu") -> "S2licCodec":
        frozen, fp, model_args = load_frozen(path)
        return cls(frozen, fp, model_args, device)

    def decode_estimate(self, header: Header, sections=None, frames=None):
        """Peak bytes and work: linear in the padded pixels, plus the global attention's square."""
        pixels = self.padded_pixels(header)
        estimate = per_pixel_estimate(pixels, DECODE_FIXED_BYTES, DECODE_BYTES_PER_PIXEL, DECODE_MACS_PER_PIXEL,
                                      DECODE_MACS_PER_PIXEL_SQUARED * pixels**2)
        return replace(estimate, memory=estimate.memory + int(DECODE_BYTES_PER_PIXEL_SQUARED * pixels**2))

    # ------------------------------------------------------------------ encoding
    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False, effort: str = "fast"):
        q256 = int(round(quality * 256))
        x = pixels_to_tensor(pixels, self.pad_multiple, self.device)
        if EFFORT_STEPS[effort]:
            from .refine import refine_latents

            y, z_int = refine_latents(self.frozen, x, q256, EFFORT_STEPS[effort], pixels.shape[:2], progress)
        else:
            y, z_int = self.frozen.analyze(x, q256)
        out = self.frozen.encode_latents(y, z_int, q256)
        return self._config(q256), out["strings"]

    # ------------------------------------------------------------------ decoding
    def _decoded(self, header: Header, sections: list[bytes]) -> tuple[int, dict]:
        q256 = self._quality_x256(header)
        return q256, self.frozen.decode_symbols(sections, self.z_shape(header), q256, self.device)

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        _, decoded = self._decoded(header, sections)
        return [decoded["z_symbols"], decoded["walk"]["symbols"].cpu().numpy()]

    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        q256, decoded = self._decoded(header, sections)
        x_hat = self.frozen.synthesize(self.frozen.synthesis_input(decoded, q256))
        return tensor_to_pixels(x_hat, header.height, header.width)

    def _latents_sections(self, header: Header, sections: list[bytes]) -> Latents:
        """``y_hat`` as the synthesis takes it ``[M, h, w]`` and bits per position (y, plus z spread over 4x4)."""
        q256, decoded = self._decoded(header, sections)
        walk = decoded["walk"]
        y_bits = self.frozen.y_coder.symbol_bits(walk["symbols"].cpu().numpy(), walk["indexes"].cpu().numpy())
        z = decoded["z_symbols"]
        z_bits = self.frozen.z_coder.symbol_bits(z, self.frozen.z_indexes(z.shape))
        spread = np.repeat(np.repeat(z_bits[0].sum(0), 4, axis=0), 4, axis=1) / 16.0
        return Latents(
            tensor=self.frozen.synthesis_input(decoded, q256)[0].cpu(),
            stride=(16, 16),
            height=header.height,
            width=header.width,
            bits=torch.from_numpy((y_bits[0].sum(0) + spread).astype(np.float32)),
            codec=self.name,
            quality=q256 / 256,
            side={"z_symbols": torch.from_numpy(np.ascontiguousarray(z[0]))},
        )
