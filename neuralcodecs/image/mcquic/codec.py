"""The ``mcquic`` codec: weights file <-> :class:`McQuicModel` <-> ``.ncb`` files.

One section per cascade level ``l`` (stride ``16 * 2**l``): the codes of groups ``0..m-1`` in
that order, each group's ``h_l x w_l`` codes in row-major order under its static prior (no
context: every symbol's table is known before decoding, so the decoder is a table lookup per
symbol).  Header config: ``quality`` (the ladder index, 1-based).  The image is edge-padded on
the right and bottom to multiples of ``8 * 2**L``.

Encoder effort (``--effort``): ``fast`` codes the nearest codewords; ``medium`` and ``best``
choose each code for its distance plus its bits, at the rate weight of the image's lowest
rate-distortion cost (:mod:`.search`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...bitstream import Header
from ...codec import Latents, QualitySpec
from ...entropy.coders import CategoricalCoder
from ...errors import SectionLayoutError
from ..base import ImageCodec, ladder_index, per_pixel_estimate, pixels_to_tensor, tensor_to_pixels
from .options import EFFORT_OPTION, EFFORT_STEPS
from .weights import CODEC_NAME, load_model

DECODE_FIXED_BYTES = 256 * 2**20  # benchmarks/decoder_memory.py --codec mcquic measures the real peak
DECODE_BYTES_PER_PIXEL = 1200  # upper estimate: C channels at H/2 through residual blocks, float32
DECODE_MACS_PER_PIXEL = 72_116  # the shipped model; tests/test_decode_estimates.py counts it


class McQuicCodec(ImageCodec):
    """McQuic with a ladder of codebook sets; quality 1..Q (integers)."""

    name = CODEC_NAME
    options = (EFFORT_OPTION,)

    def __init__(self, model, priors: list[list[torch.Tensor]], weights_fingerprint: bytes, model_args: dict, device="cpu"):
        super().__init__(weights_fingerprint, device)
        self.model = model.to(self.device).eval()
        self.priors = [[p.numpy() for p in row] for row in priors]
        self.model_args = model_args
        qualities = range(1, model.num_levels + 1)
        self.quality = QualitySpec.from_ladder(qualities, default=min(3, model.num_levels), unit="codebook set")

    @classmethod
    def from_weights(cls, path: str | Path, device="cpu") -> "McQuicCodec":
        model, priors, fp, model_args = load_model(path)
        return cls(model, priors, fp, model_args, device)

    @property
    def pad_multiple(self) -> int:
        return self.model.pad_multiple

    def decode_estimate(self, header: Header, sections=None, frames=None):
        return per_pixel_estimate(self.padded_pixels(header), DECODE_FIXED_BYTES, DECODE_BYTES_PER_PIXEL,
                                  DECODE_MACS_PER_PIXEL)

    def grid(self, height: int, width: int, level: int) -> tuple[int, int]:
        """Code grid ``(h_l, w_l)`` of level ``level`` for a picture of ``height x width``."""
        stride = 16 * 2**level
        pad = self.pad_multiple
        return (-(-height // pad) * pad // stride, -(-width // pad) * pad // stride)

    # ------------------------------------------------------------------ encoding
    @torch.no_grad()
    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False, effort: str = "fast"):
        q = int(quality) - 1
        x = pixels_to_tensor(pixels, self.pad_multiple, self.device)
        if EFFORT_STEPS[effort]:  # medium/best: an entropy-constrained code search (the decoder does not change)
            from .search import search_codes

            codes = search_codes(self.model, x, q, self.priors, EFFORT_STEPS[effort], pixels.shape[:2])
        else:
            codes = self.model.encode_codes(x, q)
        sections = []
        for level, c in enumerate(codes):
            c = c[0].cpu().numpy()
            sections.append(CategoricalCoder.encode_groups([(c[g], self.priors[q][level][g]) for g in range(c.shape[0])]))
        return {"quality": q + 1}, sections

    # ------------------------------------------------------------------ decoding
    def _quality(self, header: Header) -> int:
        return ladder_index(header, self.model.num_levels)

    def _check_layout(self, header: Header, sections: list[bytes]) -> None:
        q = self._quality(header)
        if len(sections) != self.model.depth:
            raise SectionLayoutError(f"mcquic streams have {self.model.depth} sections (one per level), got {len(sections)}")
        groups = self.model.ladder[q][0]
        for level, section in enumerate(sections):
            h, w = self.grid(header.height, header.width, level)
            # every symbol costs at most 24 bits; the stream adds at most its final state and the sentinel
            limit = 3 * groups * h * w + 16
            if not 4 <= len(section) <= limit:
                raise SectionLayoutError(f"section {level} has {len(section)} bytes; a level of {groups}x{h}x{w} codes takes 4..{limit}")

    def _codes(self, header: Header, sections: list[bytes]) -> tuple[int, list[np.ndarray]]:
        q = self._quality(header)
        groups = self.model.ladder[q][0]
        codes = []
        for level, section in enumerate(sections):
            h, w = self.grid(header.height, header.width, level)
            parts = CategoricalCoder.decode_groups(section, [(h * w, self.priors[q][level][g]) for g in range(groups)])
            codes.append(np.stack(parts).reshape(groups, h, w))
        return q, codes

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        return self._codes(header, sections)[1]

    @torch.no_grad()
    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        q, codes = self._codes(header, sections)
        tensors = [torch.from_numpy(c)[None].to(self.device) for c in codes]
        x_hat = self.model.decode_codes(tensors, q)
        return tensor_to_pixels(x_hat, header.height, header.width)

    @torch.no_grad()
    def _latents_sections(self, header: Header, sections: list[bytes]) -> Latents:
        """``y_hat`` ``[C, H/8, W/8]`` (the synthesis input; the cascade's heads run, ``g_s`` does not)
        and bits per position: each level's code bits spread evenly over the positions it covers."""
        q, codes = self._codes(header, sections)
        tensors = [torch.from_numpy(c)[None].to(self.device) for c in codes]
        y_hat = self.model.dequantize(self.model.codewords(tensors, q))[0].float().cpu()
        bits = np.zeros(tuple(y_hat.shape[-2:]), dtype=np.float64)
        for level, c in enumerate(codes):
            per_position = sum(CategoricalCoder.symbol_bits(c[g], self.priors[q][level][g]) for g in range(c.shape[0]))
            factor = 2 ** (level + 1)
            bits += np.kron(per_position, np.ones((factor, factor))) / factor**2
        return Latents(
            tensor=y_hat, stride=(8, 8), height=header.height, width=header.width,
            bits=torch.from_numpy(bits.astype(np.float32)), codec=self.name, quality=float(q + 1),
            side={f"codes.{level}": torch.from_numpy(c) for level, c in enumerate(codes)},
        )
