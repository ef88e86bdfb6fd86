"""The ``vqgan`` codec: weights file <-> :class:`VQGANModel` <-> ``.ncb`` files.

One section: the ``h x w`` indices (stride ``f``) in row-major order under the static prior of
codebook ``K``.  Header config: ``codebook`` (``K``, the quality).  The image is edge-padded on
the right and bottom to multiples of ``f``.  ``decode_indices`` / ``indices`` expose the index
map for lost-index restoration.

Encoder effort (``--effort``): ``fast`` codes the nearest codewords; ``medium`` and ``best``
search the indices for the image's rate-distortion cost (:mod:`.search`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...bitstream import Header
from ...codec import Latents, QualitySpec
from ...entropy.coders import CategoricalCoder
from ...errors import CodecArgumentError, HeaderFieldError, SectionLayoutError
from ..base import ImageCodec, per_pixel_estimate, pixels_to_tensor, tensor_to_pixels
from .autoencoder import AttnBlock
from .options import EFFORT_OPTION, EFFORT_STEPS
from .weights import CODEC_NAME, load_model

DECODE_FIXED_BYTES = 256 * 2**20  # benchmarks/decoder_memory.py --codec vqgan measures the real peak
DECODE_BYTES_PER_PIXEL = 1500  # upper estimate: ch channels at full resolution, float32, and attention at H/f
DECODE_MACS_PER_PIXEL = 170_128  # the shipped model without its attention; tests/test_decode_estimates.py counts it


class VQGANCodec(ImageCodec):
    """VQ autoencoder with a k-means codebook ladder; quality = codebook size ``K``."""

    name = CODEC_NAME
    options = (EFFORT_OPTION,)

    def __init__(self, model, priors: dict[int, torch.Tensor], weights_fingerprint: bytes, metadata: dict, device="cpu"):
        super().__init__(weights_fingerprint, device)
        self.model = model.to(self.device).eval()
        self.priors = {K: p.numpy() for K, p in priors.items()}
        self.metadata = metadata
        ladder = model.ladder
        self.quality = QualitySpec.from_ladder(ladder, default=ladder[len(ladder) // 2], unit="codebook size")

    @classmethod
    def from_weights(cls, path: str | Path, device="cpu") -> "VQGANCodec":
        model, priors, fp, meta = load_model(path)
        return cls(model, priors, fp, meta, device)

    def decode_estimate(self, header: Header, sections=None, frames=None):
        """Peak bytes and work: convolutions per pixel, plus the decoder's self-attention over all
        code positions ``N`` (``2 N**2 C`` multiply-accumulates per attention block of width ``C``)."""
        h, w = self.grid(header.height, header.width)
        attention = sum(2 * (h * w) ** 2 * m.proj.in_channels for m in self.model.decoder.modules() if isinstance(m, AttnBlock))
        f = self.model.stride
        return per_pixel_estimate(h * f * w * f, DECODE_FIXED_BYTES, DECODE_BYTES_PER_PIXEL,
                                  DECODE_MACS_PER_PIXEL, attention)

    def grid(self, height: int, width: int) -> tuple[int, int]:
        f = self.model.stride
        return (-(-height // f), -(-width // f))

    def index_grid(self, header: Header) -> tuple[int, int]:
        return self.grid(header.height, header.width)

    # ------------------------------------------------------------------ encoding
    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False, effort: str = "fast"):
        K = int(quality)
        x = pixels_to_tensor(pixels, self.model.stride, self.device)
        if EFFORT_STEPS[effort]:  # medium/best: a rate-distortion search over the indices (the decoder does not change)
            from .search import search_indices

            indices = search_indices(self.model, x, K, self.priors, EFFORT_STEPS[effort], pixels.shape[:2])
        else:
            indices = self.model.encode_indices(x, K)
        indices = indices[0].cpu().numpy()
        return {"codebook": K}, [CategoricalCoder.encode_groups([(indices, self.priors[K])])]

    # ------------------------------------------------------------------ decoding
    def _codebook(self, header: Header) -> int:
        if set(header.config) != {"codebook"}:
            raise HeaderFieldError(f"vqgan config must hold only codebook, got {sorted(header.config)}")
        K = header.config["codebook"]
        if K not in self.model.ladder:
            raise HeaderFieldError(f"codebook size {K} is not in the loaded ladder {self.model.ladder}")
        return K

    def _check_layout(self, header: Header, sections: list[bytes]) -> None:
        self._codebook(header)
        if len(sections) != 1:
            raise SectionLayoutError(f"vqgan streams have one section, got {len(sections)}")
        h, w = self.grid(header.height, header.width)
        limit = 3 * h * w + 16  # at most 24 bits per index, plus the final state and the sentinel
        if not 4 <= len(sections[0]) <= limit:
            raise SectionLayoutError(f"section 0 has {len(sections[0])} bytes; {h}x{w} indices take 4..{limit}")

    def indices(self, header: Header, sections: list[bytes]) -> tuple[int, np.ndarray]:
        """``(K, indices (h, w) int64)`` of a checked stream."""
        K = self._codebook(header)
        h, w = self.grid(header.height, header.width)
        return K, CategoricalCoder.decode_groups(sections[0], [(h * w, self.priors[K])])[0].reshape(h, w)

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        return [self.indices(header, sections)[1]]

    @torch.no_grad()
    def decode_index_map(self, indices: np.ndarray, K: int, height: int, width: int) -> np.ndarray:
        """Pixels uint8 ``(height, width, 3)`` of an index map ``(h, w)`` (e.g. after restoration)."""
        x_hat = self.model.decode_indices(torch.from_numpy(np.asarray(indices, dtype=np.int64))[None].to(self.device), K)
        return tensor_to_pixels(x_hat, height, width)

    def decode_restored(self, header: Header, sections: list[bytes], lost, method: str = "transformer",
                        budget=None) -> np.ndarray:
        """Treat the indices marked in ``lost`` (bool ``(h, w)``, the index grid) as lost in transmission,
        restore them (``"transformer"``: the restorer of the file's ``K``; ``"nearest"``: the nearest
        received index) and decode; uint8 ``(H, W, 3)``."""
        from .restore import nearest_fill, restore_lost

        self._check_stream(header, sections, None, budget)
        K, indices = self.indices(header, sections)
        lost = np.asarray(lost)
        if lost.shape != indices.shape:
            raise CodecArgumentError(f"loss mask is {lost.shape}, the file's index grid is {indices.shape}")
        if method == "transformer":
            restored = restore_lost(self.model.restorers[str(K)], indices, lost.astype(bool))
        elif method == "nearest":
            restored = nearest_fill(indices, lost.astype(bool), K)
        else:
            raise CodecArgumentError(f"restore method must be 'transformer' or 'nearest', not {method!r}")
        return self.decode_index_map(restored, K, header.height, header.width)

    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        K, indices = self.indices(header, sections)
        return self.decode_index_map(indices, K, header.height, header.width)

    @torch.no_grad()
    def _latents_sections(self, header: Header, sections: list[bytes]) -> Latents:
        """Codewords ``[code_dim, h, w]`` of the indices (what the decoder's 1x1 conv takes) and bits per index."""
        K, indices = self.indices(header, sections)
        codewords = self.model.quantizers[str(K)].lookup(torch.from_numpy(indices)[None].to(self.device))[0].float().cpu()
        bits = CategoricalCoder.symbol_bits(indices, self.priors[K])
        f = self.model.stride
        return Latents(tensor=codewords, stride=(f, f), height=header.height, width=header.width,
                       bits=torch.from_numpy(bits.astype(np.float32)), codec=self.name, quality=float(K),
                       side={"indices": torch.from_numpy(indices)})
