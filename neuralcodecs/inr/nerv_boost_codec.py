"""The ``nerv-boost`` codec: NeRV with Boosting-NeRV's conditional decoder (:mod:`neuralcodecs.inr.nerv_boost`).

The same stream as ``nerv`` (``bitstreams/FORMAT.md``, "nerv-boost"): the architecture, then one
whole-stream section of every tensor at 8 bits per output channel in ascending name order;
fitted with Boosting-NeRV's loss (:func:`~neuralcodecs.inr.boost.boost_loss`) at the official
learning rate, 3e-3 (Adam in place of Adan).  Any frame
decodes alone: ``x_t = network(t / (T - 1))``.
"""

from __future__ import annotations

from .nerv_boost import NervBoost, NervBoostConfig, count_parameters, for_size, macs_per_frame
from .nerv_codec import FIT_WARMUP, NervCodec, checked_time_network_fields, time_network_fields
from .options import EFFORT_OPTION, FIT_STATE_OPTION, PRUNE_OPTION
from .video_codec import check_keys, checked_int, checked_ints

#: the official code's learning rate; on DAVIS blackswan (24 frames, 320x180, 0.1M, 60 epochs) it gave
#: 23.69 dB against 22.66 at NeRV's 1e-3 (NeRV itself: 20.57)
BOOST_LR = 3e-3
ARCH_KEYS = {"base", "strides", "channels", "extra_blocks", "mlp_hidden", "condition_channels", "encoding_levels",
             "encoding_base_x1000"}


def architecture_of(cfg: NervBoostConfig) -> dict:
    return {**time_network_fields(cfg), "extra_blocks": list(cfg.extra_blocks), "mlp_hidden": cfg.mlp_hidden,
            "condition_channels": cfg.condition_channels}


def config_of(arch: dict) -> NervBoostConfig:
    """Validated :class:`NervBoostConfig` of an architecture section (:class:`HeaderFieldError`)."""
    check_keys(arch, ARCH_KEYS, "nerv-boost")
    common = checked_time_network_fields(arch)
    n = len(common["strides"])
    return NervBoostConfig(**common, extra_blocks=checked_ints(arch, "extra_blocks", (n, n), 0, 4),
                           mlp_hidden=checked_int(arch, "mlp_hidden", 1, 8192),
                           condition_channels=checked_int(arch, "condition_channels", 1, 256))


class NervBoostCodec(NervCodec):
    """NeRV-Boost (Zhang et al., CVPR 2024) with entropy-coded 8-bit weights."""

    name = "nerv-boost"
    activation_buffers = 5  # a TAT residual block's input, its two convolutions' outputs and the affine temporaries

    options = (EFFORT_OPTION, FIT_STATE_OPTION, PRUNE_OPTION)  # no recipe: the boosted layout and loss are the paper's

    def fit_settings(self, options):
        return "boost", BOOST_LR, FIT_WARMUP

    network = staticmethod(NervBoost)
    architecture = staticmethod(architecture_of)
    config_of = staticmethod(config_of)
    count = staticmethod(count_parameters)
    macs = staticmethod(macs_per_frame)

    def config_for(self, height, width, parameters, options):
        return for_size(height, width, parameters)
