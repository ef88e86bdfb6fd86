"""STEM's entropy model with exact parameters: the integer twin of
:class:`~neuralcodecs.stem.model.SpatiotemporalEntropyModel`.

Every network that feeds the arithmetic coder runs in integers
(:mod:`neuralcodecs.entropy.exact`, :mod:`neuralcodecs.entropy.exact_blocks`), so encoder and
decoder derive bit-identical means and scale indexes on any device and thread count -- a
desynchronization would otherwise propagate through the rest of the intra period.

One P-frame is coded in this order (the format's):

1. ``z`` (the hyper-latent), symbols ``round(z) - medians`` under per-channel tables;
2. the integer hyper-synthesis of ``z`` gives the base mean (``MEAN_FRACTION_BITS``) and
   log-scale (``LOG_SCALE_FRACTION_BITS``); the previous frame's lattice latent enters as
   ``prev_free``: ``y_hat_{t-1} / g`` with ``FEATURE_FRACTION_BITS``
   (:func:`~neuralcodecs.entropy.exact_slices.context_free_fixed`, mean 0); base features = the
   base parameters at ``FEATURE_FRACTION_BITS`` and (``temporal``) the integer temporal prior of
   ``prev_free``; each parameter network's output is added to the base parameters;
3. anchors (``row + col`` odd) under the anchor parameter network, then (``checkerboard``) the
   other positions under the non-anchor network, which also sees the decoded anchors through
   the 5x5 context; without ``checkerboard`` all positions in one pass;
4. each pass's lattice values under the fractional-mean tables of
   :mod:`neuralcodecs.entropy.lattice`.

Shapes: latents ``(1, M, h, w)`` int64, ``h, w`` multiples of 4; ``z`` ``(1, Nz, h/4, w/4)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..entropy.coders import CdfTable, TableCoder
from ..entropy.exact import IntegerNetwork, freeze_conv_stack
from ..entropy.exact_blocks import FEATURE_FRACTION_BITS, FrozenConvContext, shift_round
from ..entropy.exact_slices import context_free_fixed
from ..entropy.gaussian import LOG_SCALE_FRACTION_BITS, MEAN_FRACTION_BITS, gained_means, scale_indexes
from ..entropy.slices import checkerboard_anchor_mask
from ..image.hyperprior import HYPER_UPSCALES, Z_INPUT_BOUND
from .model import SpatiotemporalEntropyModel

# fill(mask or None, means float64, indexes int64) -> lattice values int64 (zeros outside mask)
PassFiller = Callable[[torch.Tensor | None, torch.Tensor, torch.Tensor], torch.Tensor]


def free_fixed(values: torch.Tensor, gain_fixed: torch.Tensor) -> torch.Tensor:
    """Gain-free lattice values with ``FEATURE_FRACTION_BITS`` (int64, exact); ``gain_fixed`` ``(M,)``."""
    return context_free_fixed(values, torch.zeros_like(values), gain_fixed)


class FrozenStem:
    """Exact entropy parameters of P-frames (see the module docstring).

    Attributes:
        model: the float model (structure, hyper-analysis and the encoder-side float parts).
        hyper_synthesis: :class:`IntegerNetwork` ``z -> hyper features``.
        temporal, params_a, anchor, params_n: :class:`FrozenConvContext` (``None`` when absent).
        z_medians: int64 ``(Nz,)``; z_table: per-channel :class:`CdfTable`.
    """

    def __init__(self, model: SpatiotemporalEntropyModel, hyper_synthesis: IntegerNetwork, temporal, params_a,
                 anchor, params_n, z_medians: torch.Tensor, z_table: CdfTable):
        self.model = model.eval()
        self.cfg = model.cfg
        self.hyper_synthesis = hyper_synthesis
        self.temporal, self.params_a, self.anchor, self.params_n = temporal, params_a, anchor, params_n
        self.z_medians = z_medians.to(torch.int64)
        self.z_table = z_table
        self.z_coder = TableCoder(z_table)

    # ------------------------------------------------------------------ construction
    @classmethod
    @torch.no_grad()
    def freeze(cls, model: SpatiotemporalEntropyModel, record: dict) -> "FrozenStem":
        """Freeze a trained model with calibration inputs ``record`` (``model(..., record=record)`` in eval mode)."""
        model = model.float().cpu().eval()
        cfg = model.cfg
        eb = model.entropy_bottleneck
        eb.quantiles.data[:, 0, 1] = torch.round(eb.quantiles.data[:, 0, 1])
        eb.update(force=True)
        z_cal = record["z"].clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND)
        out_bits = torch.tensor([MEAN_FRACTION_BITS] * cfg.M + [LOG_SCALE_FRACTION_BITS] * cfg.M)
        hyper = freeze_conv_stack(model.h_s, z_cal, out_bits, Z_INPUT_BOUND)
        temporal = FrozenConvContext.freeze(model.temporal_prior, record["temporal"], FEATURE_FRACTION_BITS) if cfg.temporal else None
        params_a = FrozenConvContext.freeze(model.params_a, record["params_a"], out_bits)
        anchor = params_n = None
        if cfg.checkerboard:
            anchor = FrozenConvContext.freeze(model.anchor_context, record["anchor"], FEATURE_FRACTION_BITS)
            params_n = FrozenConvContext.freeze(model.params_n, record["params_n"], out_bits)
        return cls(model, hyper, temporal, params_a, anchor, params_n,
                   eb.quantiles.detach()[:, 0, 1].to(torch.int64), CdfTable.from_compressai(eb))

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        out = self.hyper_synthesis.state_tensors(f"{prefix}.hs_int")
        for name in ("temporal", "params_a", "anchor", "params_n"):
            block = getattr(self, name)
            if block is not None:
                out.update(block.state(f"{prefix}.{name}"))
        out[f"{prefix}.z_medians"] = self.z_medians.to(torch.int32)
        for field in ("cdf", "cdf_length", "offset"):
            out[f"{prefix}.z_table.{field}"] = getattr(self.z_table, field).to(torch.int32)
        return out

    @classmethod
    def load(cls, tensors: dict, prefix: str, model: SpatiotemporalEntropyModel) -> "FrozenStem":
        """Rebuild from a weights file (``KeyError`` / ``ValueError`` for a damaged one)."""
        cfg = model.cfg
        hyper = IntegerNetwork.from_state_tensors(tensors, f"{prefix}.hs_int", HYPER_UPSCALES, Z_INPUT_BOUND)
        layers_p = len([m for m in model.params_a if isinstance(m, torch.nn.Conv2d)])
        temporal = FrozenConvContext.load(tensors, f"{prefix}.temporal", len(cfg.temporal_channels)) if cfg.temporal else None
        params_a = FrozenConvContext.load(tensors, f"{prefix}.params_a", layers_p)
        anchor = params_n = None
        if cfg.checkerboard:
            anchor = FrozenConvContext.load(tensors, f"{prefix}.anchor", 1)
            params_n = FrozenConvContext.load(tensors, f"{prefix}.params_n", layers_p)
        z_table = CdfTable(*(tensors[f"{prefix}.z_table.{f}"] for f in ("cdf", "cdf_length", "offset")))
        z_table.validate()
        z_medians = tensors[f"{prefix}.z_medians"]
        if z_medians.shape != (cfg.hyper_channels,) or z_table.cdf.shape[0] != cfg.hyper_channels:
            raise ValueError("hyper-latent tables do not match the model")
        return cls(model, hyper, temporal, params_a, anchor, params_n, z_medians, z_table)

    # ------------------------------------------------------------------ encoder side
    @torch.no_grad()
    def hyper_latent(self, y_gained: torch.Tensor, prev_hat: torch.Tensor) -> torch.Tensor:
        """Integer ``z`` ``(1, Nz, h/4, w/4)`` from the gained float latent and the previous lattice latent."""
        x = torch.cat([y_gained, prev_hat.float()], 1) if self.cfg.temporal else y_gained
        z = self.model.h_a(x)
        return torch.round(z).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)

    def z_indexes(self, shape) -> np.ndarray:
        """Table index of every ``z`` element: its channel (as the image codecs)."""
        return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape)

    # ------------------------------------------------------------------ coding passes
    def _parameters(self, network, features, hyper, prev_free, gain_fixed, log_gain_fixed):
        params = network(features)  # corrections to the base mean (8 bits) and log-scale (6 bits)
        M = self.cfg.M
        if self.cfg.residual:  # the base mean is the previous latent, FEATURE bits moved to MEAN bits
            base_mean = prev_free * (1 << (MEAN_FRACTION_BITS - FEATURE_FRACTION_BITS))
        else:
            base_mean = hyper[:, :M]
        mean_fixed, log_scale_fixed = params[:, :M] + base_mean, params[:, M:] + hyper[:, M:]
        means = gained_means(mean_fixed, gain_fixed)
        indexes = scale_indexes(log_scale_fixed + log_gain_fixed.reshape(1, -1, 1, 1))
        return means, indexes

    @torch.no_grad()
    def walk(self, z_int: torch.Tensor, prev_hat: torch.Tensor, gain_fixed: torch.Tensor,
             log_gain_fixed: torch.Tensor, fill: PassFiller) -> torch.Tensor:
        """Run the coding passes of one P-frame; ``fill`` supplies each pass's lattice values.

        Args:
            z_int: int64 ``(1, Nz, h/4, w/4)`` (``round(z)``, medians added back).
            prev_hat: int64 ``(1, M, h, w)``: the previous frame's lattice latent.
            gain_fixed, log_gain_fixed: int64 ``(M,)`` at the stream's quality.
        Returns:
            int64 ``(1, M, h, w)``: the frame's lattice latent.
        """
        prev_free = free_fixed(prev_hat, gain_fixed)
        hyper = self.hyper_synthesis(z_int)  # base mean (MEAN bits) and log-scale (LOG_SCALE bits)
        M = self.cfg.M
        base = torch.cat([shift_round(hyper[:, :M], MEAN_FRACTION_BITS - FEATURE_FRACTION_BITS), hyper[:, M:]], 1)
        if self.temporal is not None:
            base = torch.cat([base, self.temporal(prev_free)], 1)
        means, indexes = self._parameters(self.params_a, base, hyper, prev_free, gain_fixed, log_gain_fixed)
        if self.params_n is None:
            return fill(None, means, indexes)
        _, _, h, w = prev_hat.shape
        anchor = checkerboard_anchor_mask(h, w, prev_hat.device)
        values_a = fill(anchor, means, indexes)
        anchors_free = torch.where(anchor, free_fixed(values_a, gain_fixed), torch.zeros_like(values_a))
        features = torch.cat([base, self.anchor(anchors_free)], 1)
        means_n, indexes_n = self._parameters(self.params_n, features, hyper, prev_free, gain_fixed, log_gain_fixed)
        values_n = fill(~anchor, means_n, indexes_n)
        return torch.where(anchor, values_a, values_n)
