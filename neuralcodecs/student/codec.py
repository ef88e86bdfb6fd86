"""The ``student`` codec: an image in, a ``.ncb`` file of bottleneck symbols, class probabilities out.

A codec of kind ``features`` (:data:`neuralcodecs.codec.FEATURES`): it encodes images like an
image codec (any size; the picture is edge-padded to multiples of 4), but :meth:`decode` returns
the task's output -- float32 ``(1000,)`` probabilities over the teacher's ImageNet-1k classes --
and :meth:`features` the activations behind it.  No pixels are ever reconstructed.

Stream: header config ``quality`` (the rate level, 1-based) and ``latent_channels`` (``N``); one
section, the symbols ``round(y * g_l) - median_l`` of the ``N x H/4 x W/4`` latents under the
level's factorized tables (row ``l * N + c`` for channel ``c``), channel-major, exactly as
:class:`~neuralcodecs.entropy.coders.TableCoder` lays out symbols of indexed tables.  Everything
that feeds the arithmetic decoder is integer; the decoder and the classifier are float networks.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from compressai.layers import GDN

from ..bitstream import Header
from ..codec import FEATURES, Latents, QualitySpec
from ..entropy.coders import TableCoder
from ..errors import HeaderFieldError, SectionLayoutError
from ..image.base import ImageCodec, check_table_section, ladder_index, per_pixel_estimate, pixels_to_tensor
from ..perception import imagenet_normalize
from .export import CODEC_NAME, load_student
from .model import STRIDE

DECODE_FIXED_BYTES = 128 * 2**20  # the networks and the interpreter's working set
# the largest activations run at stride 4: the tail's first expanded block (144 channels) and the
# decoder (width channels), float32, a few alive at once; benchmarks/decoder_memory.py measures it
DECODE_BYTES_PER_PIXEL = 200


class StudentCodec(ImageCodec):
    """Entropic Student over MobileNetV2; quality = rate level 1..L."""

    name = CODEC_NAME
    kind = FEATURES
    pad_multiple = STRIDE

    def __init__(self, model, medians: torch.Tensor, table, weights_fingerprint: bytes, device="cpu"):
        super().__init__(weights_fingerprint, device)
        self.model = model.to(self.device).eval()
        self.medians = medians.to(torch.int64)  # (L, N)
        self.coder = TableCoder(table)
        levels = model.num_levels
        self.quality = QualitySpec.from_ladder(range(1, levels + 1), default=min(3, levels), unit="rate level")
        self.macs_per_pixel, self.macs_per_picture = _decode_macs(self.model)

    @classmethod
    def from_weights(cls, path: str | Path, device="cpu") -> "StudentCodec":
        model, medians, table, fp = load_student(path)
        return cls(model, medians, table, fp, device)

    # ------------------------------------------------------------------ geometry and checks
    def grid(self, header: Header) -> tuple[int, int]:
        """``(h, w)``: latent positions of a stream's padded picture."""
        return -(-header.height // STRIDE), -(-header.width // STRIDE)

    def _level(self, header: Header) -> int:
        level = ladder_index(header, self.model.num_levels, optional=("latent_channels",))
        if header.config.get("latent_channels") != self.model.N:
            raise HeaderFieldError(f"latent_channels {header.config.get('latent_channels')} != {self.model.N}")
        return level

    def _check_layout(self, header: Header, sections: list[bytes]) -> None:
        self._level(header)
        if len(sections) != 1:
            raise SectionLayoutError(f"{self.name} streams have 1 section (the latents), this one has {len(sections)}")
        h, w = self.grid(header)
        check_table_section("y", sections[0], self.model.N * h * w, self.coder)

    def decode_estimate(self, header: Header, sections=None, frames=None):
        """Memory and work grow with the padded pixel count: the decoder and the classifier's tail
        at stride 4 and below (:data:`DECODE_BYTES_PER_PIXEL`; :attr:`macs_per_pixel` counted from
        the loaded networks), plus the classifier's fixed work."""
        # the tail halves the grid five times, rounding up: count the picture padded to multiples of 32
        pixels = (-(-header.height // 32) * 32) * (-(-header.width // 32) * 32)
        return per_pixel_estimate(pixels, DECODE_FIXED_BYTES, DECODE_BYTES_PER_PIXEL, self.macs_per_pixel, self.macs_per_picture)

    def _indexes(self, level: int, shape: tuple[int, ...]) -> np.ndarray:
        """Table row of every symbol of a ``(1, N, h, w)`` latent array at ``level``."""
        rows = level * self.model.N + np.arange(self.model.N)
        return np.broadcast_to(rows.reshape(1, -1, 1, 1), shape)

    # ------------------------------------------------------------------ coding
    @torch.no_grad()
    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False):
        level = int(quality) - 1
        x = imagenet_normalize(pixels_to_tensor(pixels, STRIDE, self.device))
        gain, _ = self.model.gains(level)
        y = torch.round(self.model.encoder(x).float() * gain)
        symbols = (y.to(torch.int64) - self.medians[level].to(y.device).reshape(1, -1, 1, 1)).cpu().numpy()
        data = self.coder.encode(symbols, self._indexes(level, symbols.shape))
        return {"quality": level + 1, "latent_channels": self.model.N}, [data]

    def _symbols(self, header: Header, sections: list[bytes]) -> tuple[int, np.ndarray]:
        level = self._level(header)
        h, w = self.grid(header)
        return level, self.coder.decode(sections[0], self._indexes(level, (1, self.model.N, h, w)))

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        self._check_stream(header, sections, None, None)
        return [self._symbols(header, sections)[1]]

    def _latent_tensor(self, level: int, symbols: np.ndarray) -> torch.Tensor:
        """Dequantized latents ``(1, N, h, w)`` float32, gain undone (the decoder's input)."""
        y = torch.from_numpy(symbols) + self.medians[level].reshape(1, -1, 1, 1)
        _, inv_gain = self.model.gains(level)
        return (y.float() * inv_gain.detach().cpu()).to(self.device)

    @torch.no_grad()
    def _run(self, header: Header, sections: list[bytes]) -> dict[str, torch.Tensor]:
        """The decoder's outputs as tensors on the codec's device (see :meth:`features_parsed`)."""
        level, symbols = self._symbols(header, sections)
        cut = self.model.head(self._latent_tensor(level, symbols))
        pooled = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.model.tail(cut), 1), 1)
        logits = self.model.classifier(pooled).float()
        return {"probabilities": torch.softmax(logits, 1)[0], "embedding": pooled[0], "cut": cut[0]}

    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        return self._run(header, sections)["probabilities"].cpu().numpy()

    def decode_parsed(self, header: Header, sections: list[bytes], frames=None, budget=None, progress: bool = False) -> np.ndarray:
        """float32 ``(1000,)``: probabilities over the teacher's ImageNet-1k classes."""
        self._check_stream(header, sections, frames, budget)
        return self._decode_sections(header, sections)

    def features_parsed(self, header: Header, sections: list[bytes], budget=None) -> dict[str, np.ndarray]:
        """``probabilities`` ``(1000,)``, ``embedding`` ``(1280,)`` (the pooled features the
        classifier reads) and ``cut`` ``(24, h, w)`` (the decoder's activations at the teacher's
        cut, stride 4), float32."""
        self._check_stream(header, sections, None, budget)
        return {name: value.cpu().numpy() for name, value in self._run(header, sections).items()}

    def _latents_sections(self, header: Header, sections: list[bytes]) -> Latents:
        """The dequantized bottleneck ``(N, h, w)`` (gain undone) and the bits of each position."""
        level, symbols = self._symbols(header, sections)
        bits = self.coder.symbol_bits(symbols, self._indexes(level, symbols.shape))[0].sum(0)
        return Latents(tensor=self._latent_tensor(level, symbols)[0].cpu(), stride=(STRIDE, STRIDE), height=header.height,
                       width=header.width, bits=torch.from_numpy(bits.astype(np.float32)), codec=self.name,
                       quality=float(level + 1), side={"symbols": torch.from_numpy(symbols[0])})

    # ------------------------------------------------------------------ output
    def output_labels(self) -> list[str]:
        return class_names()


@functools.lru_cache(maxsize=1)
def class_names() -> list[str]:
    """The ImageNet-1k class names in the teacher's order (torchvision's table, no download)."""
    import torchvision

    return list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


@torch.no_grad()
def _decode_macs(model) -> tuple[float, float]:
    """``(multiply-accumulates per input pixel, per picture)`` of decoder, tail and classifier: the
    convolutions' work grows with the picture (counted on a 128x128 picture's latents), the
    classifier's does not."""
    per_picture = model.classifier[-1].in_features * model.classifier[-1].out_features
    total = [0]

    def count(module, inputs, output):
        if isinstance(module, GDN):  # a 1x1 convolution of the squared activations
            total[0] += output.numel() * output.shape[1]
        else:
            total[0] += output.numel() * module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups

    hooks = [m.register_forward_hook(count) for m in (*model.decoder, *model.tail.modules()) if isinstance(m, (torch.nn.Conv2d, GDN))]
    try:
        model.tail(model.head(torch.zeros(1, model.N, 32, 32, device=next(model.parameters()).device)))
    finally:
        for hook in hooks:
            hook.remove()
    return total[0] / (128 * 128), float(per_picture)
