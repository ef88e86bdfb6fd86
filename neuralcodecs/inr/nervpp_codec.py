"""The ``nervpp`` codec: NeRV++ (:mod:`neuralcodecs.inr.nervpp`), a network of the frame time.

The same stream as ``nerv`` (``bitstreams/FORMAT.md``, "nervpp"): the architecture, then one
whole-stream section of every tensor at 8 bits per output channel in ascending name order.
Fitted as the paper trains: ``0.7 L1 + 0.3 (1 - SSIM)``, lr 5e-4 with a 20% warm-up and a
cosine decay (Adam's first moment at the library's 0.9, not the official 0.5).  Pruning
(``--prune``) as ``nerv``.  Any frame decodes alone: ``x_t = network(t / (T - 1))``.
"""

from __future__ import annotations

from .nerv_codec import PAPER_LR, PAPER_WARMUP, NervCodec, checked_time_network_fields, time_network_fields
from .nervpp import Nervpp, NervppConfig, count_parameters, for_size, macs_per_frame
from .options import EFFORT_OPTION, FIT_STATE_OPTION, PRUNE_OPTION
from .video_codec import check_keys, checked_int

ARCH_KEYS = {"base", "strides", "channels", "stem_hidden", "encoding_levels", "encoding_base_x1000"}


def architecture_of(cfg: NervppConfig) -> dict:
    return {**time_network_fields(cfg), "stem_hidden": cfg.stem_hidden}


def config_of(arch: dict) -> NervppConfig:
    """Validated :class:`NervppConfig` of an architecture section (:class:`HeaderFieldError`)."""
    check_keys(arch, ARCH_KEYS, "nervpp")
    return NervppConfig(**checked_time_network_fields(arch), stem_hidden=checked_int(arch, "stem_hidden", 1, 8192))


class NervppCodec(NervCodec):
    """NeRV++ (Ghorbel et al. 2024) with entropy-coded 8-bit weights."""

    name = "nervpp"
    options = (EFFORT_OPTION, FIT_STATE_OPTION, PRUNE_OPTION)
    activation_buffers = 6  # a block's skip, its up-sampled output, the feed-forward temporaries and the bilinear skip

    network = staticmethod(Nervpp)
    architecture = staticmethod(architecture_of)
    config_of = staticmethod(config_of)
    count = staticmethod(count_parameters)
    macs = staticmethod(macs_per_frame)

    def config_for(self, height, width, parameters, options):
        return for_size(height, width, parameters)

    def fit_settings(self, options):
        return "l1_ssim", PAPER_LR, PAPER_WARMUP
