"""The ``hnerv-boost`` codec: HNeRV with Boosting-NeRV's conditional decoder (:mod:`neuralcodecs.inr.hnerv_boost`).

The same stream as ``hnerv`` (``bitstreams/FORMAT.md``, "hnerv-boost"): the architecture, the
decoder's tensors at 8 bits per output channel, then every frame's embedding at 6 bits; fitted
with Boosting-NeRV's loss (:func:`~neuralcodecs.inr.boost.boost_loss`) at the official learning
rate, 3e-3 (Adam in place of Adan).  Frame ``t`` decodes
alone: ``decoder(embeddings[t], t / (T - 1))``.
"""

from __future__ import annotations

from .boost import FramesAndTimes
from .fitting import frame_times
from .hnerv_boost import (HnervBoost, HnervBoostConfig, HnervBoostDecoder, decoder_macs, decoder_parameters, for_size,
                          stored_values)
from .hnerv_codec import FIT_WARMUP, HnervCodec
from .video_codec import check_keys, checked_int, checked_ints

#: the official code's learning rate; on DAVIS blackswan (24 frames, 320x180, 0.1M, 60 epochs) it gave
#: 23.34 dB against 21.98 at HNeRV's 1e-3 (HNeRV itself: 21.42)
BOOST_LR = 3e-3
ARCH_KEYS = {"base", "strides", "widths", "extra_blocks", "embed_channels", "condition_channels"}


def architecture_of(cfg: HnervBoostConfig) -> dict:
    return {"base": list(cfg.base), "strides": list(cfg.strides), "widths": list(cfg.widths),
            "extra_blocks": list(cfg.extra_blocks), "embed_channels": cfg.embed_channels,
            "condition_channels": cfg.condition_channels}


def config_of(arch: dict) -> HnervBoostConfig:
    """Validated :class:`HnervBoostConfig` of an architecture section (:class:`HeaderFieldError`)."""
    check_keys(arch, ARCH_KEYS, "hnerv-boost")
    strides = checked_ints(arch, "strides", (1, 8), 1, 8)
    n = len(strides)
    return HnervBoostConfig(base=checked_ints(arch, "base", (2, 2), 1, 64), strides=strides,
                            widths=checked_ints(arch, "widths", (n + 1, n + 1), 1, 4096),
                            extra_blocks=checked_ints(arch, "extra_blocks", (n, n), 0, 4),
                            embed_channels=checked_int(arch, "embed_channels", 1, 256),
                            condition_channels=checked_int(arch, "condition_channels", 1, 256))


class HnervBoostCodec(HnervCodec):
    """HNeRV-Boost (Zhang et al., CVPR 2024) with entropy-coded 8-bit decoder and 6-bit embeddings."""

    name = "hnerv-boost"
    activation_buffers = 5  # a TAT residual block's input, its two convolutions' outputs and the affine temporaries

    config_for = staticmethod(for_size)
    network = staticmethod(HnervBoost)
    decoder = staticmethod(HnervBoostDecoder)
    architecture = staticmethod(architecture_of)
    config_of = staticmethod(config_of)
    decoder_count = staticmethod(decoder_parameters)
    stored = staticmethod(stored_values)
    macs = staticmethod(decoder_macs)

    def fit_settings(self):
        return "boost", BOOST_LR, FIT_WARMUP

    def decoder_inputs(self, embeddings):
        """Frame ``t``'s embedding and its time ``t / (T - 1)``."""
        return FramesAndTimes(embeddings, frame_times(len(embeddings)).to(embeddings.device))
