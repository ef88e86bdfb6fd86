"""The ``walloc`` codec: weights file <-> :class:`WaLLoCModel` <-> ``.ncb`` files.

One section: the ``C`` latent channels in order, each channel's ``h x w`` integers (``H / 8``,
``W / 8`` for J = 3; symbol = latent + 127 in 0..254) in row-major order under that channel's
static prior.  With header config ``prediction = 1`` (written whenever the weights carry
residual priors) the coded values are the residuals of the MED spatial prediction
(:mod:`.prediction`) under the residual priors; without it, the symbols themselves under the
symbol priors (the first walloc streams).  Header config: ``quality`` (the ladder index,
1-based) and ``prediction``.  The image is edge-padded on the right and bottom to multiples of
``2**J``.

Encoder effort (``--effort``): ``fast`` codes the linear encoder's output; ``medium`` and
``best`` refine the latents for the image (:mod:`.refine`); the decoder does not change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...bitstream import Header
from ...codec import Latents, QualitySpec
from ...entropy.coders import CategoricalCoder
from ...errors import HeaderFieldError, SectionLayoutError
from ..base import ImageCodec, ladder_index, per_pixel_estimate, pixels_to_tensor, tensor_to_pixels
from .model import LATENT_MAX
from .options import EFFORT_OPTION, EFFORT_STEPS
from .prediction import from_residuals, to_residuals
from .weights import CODEC_NAME, load_model

DECODE_FIXED_BYTES = 256 * 2**20  # networks, one attention window's scores
# twice the measured peak (benchmarks/decoder_memory.py --codec walloc: 75 bytes per pixel at 2048x2048,
# 13-27 on Kodak); the decoder works at H/8, so its width costs 4 * width / 64 bytes per pixel
DECODE_BYTES_PER_PIXEL = 150
DECODE_MACS_PER_PIXEL = 17_190  # the shipped model; tests/test_decode_estimates.py counts it


class WaLLoCCodec(ImageCodec):
    """WaLLoC with a ladder of latent channel counts; quality 1..Q (integers)."""

    name = CODEC_NAME
    options = (EFFORT_OPTION,)

    def __init__(self, model, priors: list[torch.Tensor], weights_fingerprint: bytes, model_args: dict, device="cpu",
                 residual_priors: list[torch.Tensor] | None = None):
        super().__init__(weights_fingerprint, device)
        self.model = model.to(self.device).eval()
        self.priors = [p.numpy() for p in priors]
        self.residual_priors = None if residual_priors is None else [p.numpy() for p in residual_priors]
        self.model_args = model_args
        qualities = range(1, model.num_levels + 1)
        self.quality = QualitySpec.from_ladder(qualities, default=min(3, model.num_levels), unit="latent channel set")

    @classmethod
    def from_weights(cls, path: str | Path, device="cpu") -> "WaLLoCCodec":
        model, priors, residual_priors, fp, model_args = load_model(path)
        return cls(model, priors, fp, model_args, device, residual_priors)

    @property
    def pad_multiple(self) -> int:
        return self.model.pad_multiple

    def decode_estimate(self, header: Header, sections=None, frames=None):
        per_pixel = DECODE_BYTES_PER_PIXEL + 4 * self.model.width // 64
        return per_pixel_estimate(self.padded_pixels(header), DECODE_FIXED_BYTES, per_pixel, DECODE_MACS_PER_PIXEL)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        """Latent grid ``(h, w)`` of a picture of ``height x width``."""
        pad = self.pad_multiple
        return -(-height // pad), -(-width // pad)

    # ------------------------------------------------------------------ encoding
    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False, effort: str = "fast"):
        q = int(quality) - 1
        x = pixels_to_tensor(pixels, self.pad_multiple, self.device)
        if EFFORT_STEPS[effort]:  # medium/best: the image's own latents (the decoder does not change)
            from .refine import refine_latents

            predicted = self.residual_priors is not None
            tables = self.residual_priors if predicted else self.priors
            latents = refine_latents(self.model, x, q, EFFORT_STEPS[effort], tables, predicted, pixels.shape[:2], progress)
        else:
            with torch.no_grad():
                latents = self.model.encode_latents(x, q)
        symbols = (latents[0] + LATENT_MAX).cpu().numpy()
        if self.residual_priors is None:
            section = CategoricalCoder.encode_groups([(symbols[c], self.priors[q][c]) for c in range(symbols.shape[0])])
            return {"quality": q + 1}, [section]
        residuals = to_residuals(symbols)
        section = CategoricalCoder.encode_groups([(residuals[c], self.residual_priors[q][c]) for c in range(symbols.shape[0])])
        return {"quality": q + 1, "prediction": 1}, [section]

    # ------------------------------------------------------------------ decoding
    def _quality(self, header: Header) -> int:
        """0-based quality of a stream whose config is checked (``quality``, ``prediction``)."""
        q = ladder_index(header, self.model.num_levels, optional=("prediction",))
        self._prediction(header)
        return q

    def _prediction(self, header: Header) -> int:
        prediction = header.config.get("prediction", 0)
        if prediction not in (0, 1):
            raise HeaderFieldError(f"walloc prediction mode {prediction} is not known to this decoder")
        if prediction and self.residual_priors is None:
            raise HeaderFieldError("this walloc stream codes prediction residuals; these weights have no residual priors")
        return prediction

    def _check_layout(self, header: Header, sections: list[bytes]) -> None:
        q = self._quality(header)
        if len(sections) != 1:
            raise SectionLayoutError(f"walloc streams have one section, got {len(sections)}")
        h, w = self.grid(header.height, header.width)
        # every symbol costs at most 24 bits; the stream adds at most its final state and the sentinel
        limit = 3 * self.model.latent_channels[q] * h * w + 16
        if not 4 <= len(sections[0]) <= limit:
            raise SectionLayoutError(f"the section has {len(sections[0])} bytes; {self.model.latent_channels[q]}x{h}x{w} latents take 4..{limit}")

    def _decoded(self, header: Header, sections: list[bytes]) -> tuple[int, np.ndarray, np.ndarray, list[np.ndarray]]:
        """``(quality index, symbols (C, h, w) int64 in 0..254, coded values, their priors per channel)``:
        the coded values are the prediction residuals or the symbols themselves, as the header says."""
        q = self._quality(header)
        prediction = self._prediction(header)
        priors = self.residual_priors[q] if prediction else self.priors[q]
        h, w = self.grid(header.height, header.width)
        parts = CategoricalCoder.decode_groups(sections[0], [(h * w, prior) for prior in priors])
        values = np.stack(parts).reshape(-1, h, w).astype(np.int64)
        return q, from_residuals(values) if prediction else values, values, priors

    def _latent_symbols(self, header: Header, sections: list[bytes]) -> tuple[int, np.ndarray]:
        """``(quality index, symbols (C, h, w) int64 in 0..254)``."""
        q, symbols, _, _ = self._decoded(header, sections)
        return q, symbols

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        return [self._latent_symbols(header, sections)[1]]

    @torch.no_grad()
    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        q, symbols = self._latent_symbols(header, sections)
        y = torch.from_numpy(symbols - LATENT_MAX)[None].to(self.device)
        return tensor_to_pixels(self.model.decode_latents(y, q), header.height, header.width)

    def _latents_sections(self, header: Header, sections: list[bytes]) -> Latents:
        """The integer latents ``[C, H/2**J, W/2**J]`` (float32, in -127..127; no decoder runs) and
        the bits each position's ``C`` symbols cost."""
        q, symbols, values, priors = self._decoded(header, sections)
        bits = sum(CategoricalCoder.symbol_bits(values[c], priors[c]) for c in range(values.shape[0]))
        return Latents(
            tensor=torch.from_numpy(symbols - LATENT_MAX).float(), stride=(self.pad_multiple,) * 2, height=header.height, width=header.width,
            bits=torch.from_numpy(np.asarray(bits, dtype=np.float32)), codec=self.name, quality=float(q + 1),
        )
