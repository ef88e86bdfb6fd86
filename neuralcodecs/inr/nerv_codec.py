"""The ``nerv`` codec: a clip is a NeRV network (:mod:`neuralcodecs.inr.nerv`) of the frame time.

Encoding fits the network (about ``quality`` million parameters, ``effort`` epochs), optionally
prunes a fraction of its weights by magnitude and fine-tunes the rest (NeRV's pruning), then
quantizes every tensor to 8 bits per output channel and entropy-codes them.  Sections after the
architecture: one, whole stream: the parameters in ascending order of their names
(``bitstreams/FORMAT.md``, "nerv").  Any frame decodes alone: ``x_t = network(t / (T - 1))``.
"""

from __future__ import annotations

import math

import torch

from ..bitstream import WHOLE_STREAM
from ..errors import HeaderFieldError
from .fitting import FitConfig, fit, frame_times, psnr_of
from .nerv import Nerv, NervConfig, count_parameters, for_size, macs_per_frame
from .options import EFFORT_OPTION, FIT_STATE_OPTION, PRUNE_OPTION, RECIPE_OPTION
from .video_codec import (FittedClip, OverfittedVideoCodec, check_keys, checked_int, checked_ints, clip_identity,
                          decode_parameters, decode_quantized, epochs_of, state_path)
from .weight_coding import dequantize, encode, prune, quantize

PARAMETER_BITS = 8
FIT_BATCH = 1  # frames per step (NeRV: 1)
FIT_LR = 1e-3
FIT_WARMUP = 0.2  # fraction of the steps
PAPER_LR = 5e-4  # NeRV's published training: lr 5e-4, 20% warm-up, cosine, 0.7 L1 + 0.3 (1 - SSIM)
PAPER_WARMUP = 0.2
SAVE_EVERY = 500  # fitting steps between checkpoints of a resumable encode
PRUNE_FINETUNE = 0.25  # fine-tuning after pruning, as a fraction of the fitting steps
ARCH_KEYS = {"base", "strides", "channels", "mlp_hidden", "encoding_levels", "encoding_base_x1000"}


def time_network_fields(cfg) -> dict:
    """The architecture fields every network of the frame time shares (``nerv``, ``nerv-boost``,
    ``nervpp``): base grid, strides, widths, positional encoding (its base in thousandths)."""
    return {"base": list(cfg.base), "strides": list(cfg.strides), "channels": list(cfg.channels),
            "encoding_levels": cfg.encoding_levels, "encoding_base_x1000": int(round(cfg.encoding_base * 1000))}


def checked_time_network_fields(arch: dict) -> dict:
    """The configuration arguments of :func:`time_network_fields`' fields, checked (:class:`HeaderFieldError`)."""
    strides = checked_ints(arch, "strides", (1, 8), 1, 8)
    return {"base": checked_ints(arch, "base", (2, 2), 1, 64), "strides": strides,
            "channels": checked_ints(arch, "channels", (len(strides) + 1, len(strides) + 1), 1, 4096),
            "encoding_levels": checked_int(arch, "encoding_levels", 1, 256),
            "encoding_base": checked_int(arch, "encoding_base_x1000", 1001, 4000) / 1000}


def architecture_of(cfg: NervConfig) -> dict:
    """The stream's architecture section of a configuration."""
    return {**time_network_fields(cfg), "mlp_hidden": cfg.mlp_hidden}


def config_of(arch: dict) -> NervConfig:
    """Validated :class:`NervConfig` of an architecture section (:class:`HeaderFieldError`)."""
    check_keys(arch, ARCH_KEYS, "nerv")
    return NervConfig(**checked_time_network_fields(arch), mlp_hidden=checked_int(arch, "mlp_hidden", 1, 8192))


def parameter_layout(cfg, network=Nerv) -> list[tuple[str, tuple[int, ...], int]]:
    """``(name, shape, bits)`` of every tensor of ``network(cfg)`` in ascending name order, without
    building the network."""
    with torch.device("meta"):
        model = network(cfg)
    return [(name, tuple(t.shape), PARAMETER_BITS) for name, t in sorted(model.state_dict().items())]


def quantized_state(model: torch.nn.Module, fraction: float = 0.0):
    """The model's tensors in ascending name order, pruned by ``fraction`` and quantized."""
    tensors = dict(sorted(model.state_dict().items()))
    return quantize(prune(tensors, fraction) if fraction else tensors, PARAMETER_BITS)


def finetune_pruned(model: torch.nn.Module, frames: torch.Tensor, fraction: float, cfg: FitConfig, state, progress: bool, identity) -> dict:
    """Prune ``fraction`` of the weights and fine-tune the rest with the zeros held (NeRV's recipe)."""
    pruned = prune(dict(model.state_dict()), fraction)
    model.load_state_dict(pruned)
    masks = {name: (t != 0) for name, t in pruned.items() if t.dim() >= 2}
    hooks = [p.register_hook(lambda g, m=masks[name]: g * m) for name, p in model.named_parameters() if name in masks]
    try:
        report = fit(model, frames, cfg, checkpoint=state, progress=progress, identity=identity)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():  # Adam's momentum may move a masked weight by a hair; zero them exactly
        for name, p in model.named_parameters():
            if name in masks:
                p.mul_(masks[name])
    return report


class NervCodec(OverfittedVideoCodec):
    """NeRV (Chen et al., NeurIPS 2021) with entropy-coded 8-bit weights.

    The family's network and training enter through the hooks ``config_for``, ``fit_settings``,
    ``network``, ``architecture``, ``config_of``, ``count`` and ``macs`` (NeRV-Boost and NeRV++
    override them)."""

    name = "nerv"
    options = (EFFORT_OPTION, FIT_STATE_OPTION, PRUNE_OPTION, RECIPE_OPTION)
    activation_buffers = 3  # feature maps of one stage's width alive at once (the peak of a frame's render)

    # ------------------------------------------------------------------ the family's network
    def config_for(self, height: int, width: int, parameters: int, options: dict):
        """The network for a clip of ``height x width`` and about ``parameters`` values under the
        checked encode ``options`` (``recipe``)."""
        return for_size(height, width, parameters, recipe=options.get("recipe", "cpu"))

    def fit_settings(self, options: dict) -> tuple[str, float, float]:
        """``(loss, learning rate, warm-up fraction)`` of the fit: the paper's (0.7 L1 + 0.3 (1 - SSIM),
        5e-4, 0.2) under ``recipe=paper``, else L2, ``FIT_LR`` and ``FIT_WARMUP``."""
        if options.get("recipe") == "paper":
            return "l1_ssim", PAPER_LR, PAPER_WARMUP
        return "l2", FIT_LR, FIT_WARMUP

    network = staticmethod(Nerv)  # configuration -> module
    architecture = staticmethod(architecture_of)  # configuration -> architecture section
    config_of = staticmethod(config_of)  # architecture section -> checked configuration
    count = staticmethod(count_parameters)  # configuration -> stored values
    macs = staticmethod(macs_per_frame)  # configuration -> multiply-accumulates per frame

    def layout(self, cfg) -> list[tuple[str, tuple[int, ...], int]]:
        return parameter_layout(cfg, self.network)

    # ------------------------------------------------------------------ codec hooks
    def planned_values(self, frames, height, width, parameters, options):
        return self.count(self.config_for(height, width, parameters, options))

    def fit_clip(self, frames, parameters, options, progress):
        T, _, H, W = frames.shape
        cfg = self.config_for(H, W, parameters, options)
        torch.manual_seed(0)
        model = self.network(cfg).to(frames.device)
        steps = max(1, math.ceil(epochs_of(options) * T / FIT_BATCH))
        loss, lr, warmup = self.fit_settings(options)
        fit_cfg = FitConfig(steps=steps, batch=FIT_BATCH, lr=lr, warmup=warmup, loss=loss, bf16=frames.device.type == "cpu",
                            save_every=SAVE_EVERY)
        identity = clip_identity(self.name, self.architecture(cfg), frames)
        report = fit(model, frames, fit_cfg, checkpoint=state_path(options), progress=progress, identity=identity)
        fit_seconds = report["seconds"]
        fraction = options["prune"]
        if fraction:
            tune = FitConfig(steps=max(1, int(PRUNE_FINETUNE * steps)), batch=FIT_BATCH, lr=lr / 5, loss=loss,
                             bf16=fit_cfg.bf16, save_every=SAVE_EVERY)
            fit_seconds += finetune_pruned(model, frames, fraction, tune, state_path(options, "pruned"), progress,
                                           identity)["seconds"]
        q = quantized_state(model, fraction)
        model.load_state_dict(dequantize(q))
        return FittedClip(self.architecture(cfg), [encode(q)], [WHOLE_STREAM], [], self.count(cfg),
                          {"fit_seconds": fit_seconds, "steps": steps, "psnr_fitted": report["psnr"],
                           "psnr_quantized": psnr_of(model, frames, frame_times(T))})

    def check_architecture(self, arch, header) -> int:
        cfg = self.config_of(arch)
        fh, fw = cfg.frame_size
        if fh < header.height or fw < header.width or fh > 2 * header.height + 64 or fw > 2 * header.width + 64:
            raise HeaderFieldError(f"{self.name} frame size {fw}x{fh} does not fit the picture {header.width}x{header.height}")
        return self.count(cfg)

    def payload_layout(self, arch, header):
        return [WHOLE_STREAM], []

    def frame_work(self, arch, header) -> tuple[int, int]:
        cfg = self.config_of(arch)
        return self.macs(cfg), self.count(cfg)

    def activation_bytes(self, arch, header) -> int:
        cfg = self.config_of(arch)
        h, w = cfg.base
        peak = 0
        for c, s in zip(cfg.channels[1:], cfg.strides):
            h, w = h * s, w * s
            peak = max(peak, self.activation_buffers * 4 * c * h * w)
        return peak

    def integer_arrays(self, arch, header, sections):
        return decode_quantized(sections[0], self.layout(self.config_of(arch)), f"{self.name} parameters").values

    def renderer(self, arch, header, sections):
        cfg = self.config_of(arch)
        tensors = decode_parameters(sections[0], self.layout(cfg), f"{self.name} parameters")
        model = self.network(cfg).to(self.device).eval()
        model.load_state_dict(tensors)
        times = frame_times(header.frames).to(self.device)
        return lambda t: model(times[t : t + 1])
