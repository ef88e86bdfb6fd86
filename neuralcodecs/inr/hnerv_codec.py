"""The ``hnerv`` codec: a clip is an HNeRV decoder (:mod:`neuralcodecs.inr.hnerv`) and one small
embedding per frame.

Encoding fits encoder and decoder together on the clip (HNeRV's recipe: Adam, lr 1e-3, batch 2,
warm-up and cosine), then stores the decoder at 8 bits per output channel and the embeddings the
encoder gives at 6 bits (one step per frame); the encoder is discarded.  Sections after the
architecture (``bitstreams/FORMAT.md``, "hnerv"): the decoder's parameters in ascending order of
their names, then every frame's embedding as one tensor ``embeddings`` ``(T, C, h0, w0)``; both
whole-stream.  Frame ``t`` decodes alone: ``decoder(embeddings[t])``.  The embeddings are the
clip's latents (``neuralcodecs.latents``).
"""

from __future__ import annotations

import math

import torch

from ..bitstream import WHOLE_STREAM
from ..codec import Latents
from ..errors import HeaderFieldError
from .fitting import FitConfig, fit, psnr_of
from .hnerv import Hnerv, HnervConfig, HnervDecoder, decoder_macs, decoder_parameters, for_size, pad_frames, stored_values
from .video_codec import (FittedClip, OverfittedVideoCodec, check_keys, checked_int, checked_ints, clip_identity,
                          decode_parameters, decode_quantized, epochs_of, state_path)
from .weight_coding import dequantize, encode, quantize

PARAMETER_BITS = 8
EMBEDDING_BITS = 6
FIT_BATCH = 2
FIT_LR = 1e-3
FIT_WARMUP = 0.1
ARCH_KEYS = {"base", "strides", "widths", "embed_channels"}


def architecture_of(cfg: HnervConfig) -> dict:
    return {"base": list(cfg.base), "strides": list(cfg.strides), "widths": list(cfg.widths),
            "embed_channels": cfg.embed_channels}


def config_of(arch: dict) -> HnervConfig:
    """Validated :class:`HnervConfig` of an architecture section (:class:`HeaderFieldError`)."""
    check_keys(arch, ARCH_KEYS, "hnerv")
    strides = checked_ints(arch, "strides", (1, 8), 1, 8)
    return HnervConfig(base=checked_ints(arch, "base", (2, 2), 1, 64), strides=strides,
                       widths=checked_ints(arch, "widths", (len(strides) + 1, len(strides) + 1), 1, 4096),
                       embed_channels=checked_int(arch, "embed_channels", 1, 256))


def decoder_layout(cfg, decoder=HnervDecoder) -> list[tuple[str, tuple[int, ...], int]]:
    with torch.device("meta"):
        network = decoder(cfg)
    return [(name, tuple(t.shape), PARAMETER_BITS) for name, t in sorted(network.state_dict().items())]


def embedding_layout(cfg, frames: int) -> list[tuple[str, tuple[int, ...], int]]:
    return [("embeddings", (frames, cfg.embed_channels, *cfg.base), EMBEDDING_BITS)]


class HnervCodec(OverfittedVideoCodec):
    """HNeRV (Chen et al., CVPR 2023) with entropy-coded 8-bit decoder and 6-bit embeddings.

    The family's network and training enter through the hooks ``config_for``, ``fit_settings``,
    ``network``, ``decoder``, ``architecture``, ``config_of``, ``decoder_count``, ``stored``,
    ``macs`` and ``decoder_inputs`` (HNeRV-Boost overrides them)."""

    name = "hnerv"
    activation_buffers = 3

    # ------------------------------------------------------------------ the family's network
    config_for = staticmethod(for_size)  # (height, width, frames, parameters) -> configuration
    network = staticmethod(Hnerv)  # configuration -> encoder and decoder
    decoder = staticmethod(HnervDecoder)  # configuration -> the stored decoder
    architecture = staticmethod(architecture_of)  # configuration -> architecture section
    config_of = staticmethod(config_of)  # architecture section -> checked configuration
    decoder_count = staticmethod(decoder_parameters)  # configuration -> the decoder's values
    stored = staticmethod(stored_values)  # (configuration, frames) -> stored values
    macs = staticmethod(decoder_macs)  # configuration -> multiply-accumulates per frame

    def fit_settings(self) -> tuple[str, float, float]:
        """``(loss, learning rate, warm-up fraction)`` of the fit (HNeRV's: L2, 1e-3, 0.1)."""
        return "l2", FIT_LR, FIT_WARMUP

    def decoder_inputs(self, embeddings: torch.Tensor):
        """What the decoder takes for frame ``t``: ``inputs[t]`` (HNeRV: the embedding itself)."""
        return embeddings

    # ------------------------------------------------------------------ codec hooks
    def planned_values(self, frames, height, width, parameters, options):
        return self.stored(self.config_for(height, width, frames, parameters), frames)

    def fit_clip(self, frames, parameters, options, progress):
        T, _, H, W = frames.shape
        cfg = self.config_for(H, W, T, parameters)
        torch.manual_seed(0)
        model = self.network(cfg).to(frames.device)
        inputs = pad_frames(frames, cfg.frame_size)
        steps = max(1, math.ceil(epochs_of(options) * T / FIT_BATCH))
        loss, lr, warmup = self.fit_settings()
        fit_cfg = FitConfig(steps=steps, batch=FIT_BATCH, lr=lr, warmup=warmup, loss=loss,
                            bf16=frames.device.type == "cpu", save_every=250)
        report = fit(model, frames, fit_cfg, inputs=self.decoder_inputs(inputs), checkpoint=state_path(options),
                     progress=progress, identity=clip_identity(self.name, self.architecture(cfg), frames))
        model.eval()
        with torch.no_grad():
            embeddings = torch.cat([model.encode(inputs[i : i + 4]) for i in range(0, T, 4)])
        q_decoder = quantize(dict(sorted(model.decoder.state_dict().items())), PARAMETER_BITS)
        q_embed = quantize({"embeddings": embeddings}, EMBEDDING_BITS)
        model.decoder.load_state_dict(dequantize(q_decoder))
        e_hat = dequantize(q_embed)["embeddings"]
        quantized = psnr_of(model.decoder, frames, self.decoder_inputs(e_hat))
        return FittedClip(self.architecture(cfg), [encode(q_decoder), encode(q_embed)], [WHOLE_STREAM, WHOLE_STREAM], [],
                          self.stored(cfg, T),
                          {"fit_seconds": report["seconds"], "steps": steps, "psnr_fitted": report["psnr"],
                           "psnr_quantized": quantized})

    def check_architecture(self, arch, header) -> int:
        cfg = self.config_of(arch)
        fh, fw = cfg.frame_size
        if fh < header.height or fw < header.width or fh > 2 * header.height + 64 or fw > 2 * header.width + 64:
            raise HeaderFieldError(f"{self.name} frame size {fw}x{fh} does not fit the picture {header.width}x{header.height}")
        if self.decoder_count(cfg) > 64_000_000:
            raise HeaderFieldError(f"{self.name} decoder too large")
        return self.stored(cfg, header.frames)

    def payload_layout(self, arch, header):
        return [WHOLE_STREAM, WHOLE_STREAM], []

    def frame_work(self, arch, header) -> tuple[int, int]:
        cfg = self.config_of(arch)
        return self.macs(cfg), self.decoder_count(cfg)

    def activation_bytes(self, arch, header) -> int:
        cfg = self.config_of(arch)
        h, w = cfg.base
        peak = self.activation_buffers * 4 * cfg.widths[0] * h * w
        for c, s in zip(cfg.widths[1:], cfg.strides):
            h, w = h * s, w * s
            peak = max(peak, self.activation_buffers * 4 * c * h * w)
        return peak

    def _embeddings(self, cfg, header, sections) -> torch.Tensor:
        return decode_parameters(sections[1], embedding_layout(cfg, header.frames), f"{self.name} embeddings")["embeddings"]

    def integer_arrays(self, arch, header, sections):
        cfg = self.config_of(arch)
        return (decode_quantized(sections[0], decoder_layout(cfg, self.decoder), f"{self.name} decoder").values
                + decode_quantized(sections[1], embedding_layout(cfg, header.frames), f"{self.name} embeddings").values)

    def renderer(self, arch, header, sections):
        cfg = self.config_of(arch)
        decoder = self.decoder(cfg).to(self.device).eval()
        decoder.load_state_dict(decode_parameters(sections[0], decoder_layout(cfg, self.decoder), f"{self.name} decoder"))
        inputs = self.decoder_inputs(self._embeddings(cfg, header, sections)).to(self.device)
        return lambda t: decoder(inputs[t : t + 1])

    def latents_of(self, arch, header, sections) -> Latents:
        """The dequantized embeddings ``[T, C, h0, w0]``; one position covers ``prod(strides)`` pixels a side."""
        cfg = self.config_of(arch)
        scale = math.prod(cfg.strides)
        return Latents(tensor=self._embeddings(cfg, header, sections), stride=(scale, scale), height=header.height,
                       width=header.width, bits=None, codec=self.name, quality=header.config["parameters"] / 1e6)
