"""Coding with a sliced / checkerboard / ACGC Gaussian model, every entropy parameter exact.

:class:`FrozenSlicedModel` is the integer twin of
:class:`~neuralcodecs.entropy.slices.SlicedGaussianModel`.  It walks the coding passes in the
format's order -- slice 0..S-1, and within a slice the anchors (``row + col`` odd) then the
non-anchors when the model has a checkerboard -- and at each pass computes, in integers only
(:mod:`neuralcodecs.entropy.exact_blocks`), the fixed-point means and scale indexes of that
pass from the hyper features and the symbols already coded.  The same walk serves the encoder
(symbols from the latents) and the decoder (symbols from the stream), so both derive
bit-identical parameters.

Context inputs are the decoded latents without gain, with ``FEATURE_FRACTION_BITS``:
``div_round(symbol * 2**(GAIN + F), gain_fixed) + shift_round(mean_fixed, MEAN - F)``.

Shapes: hyper features ``(1, C_h, h, w)`` int64; latents ``(1, M, h, w)``.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import WeightsError
from .coders import SYMBOL_LIMIT
from .exact_blocks import (
    FEATURE_FRACTION_BITS,
    FrozenAdaptiveChannelContext,
    FrozenConvContext,
    FrozenGlobalAttention,
    div_round,
    exp_table,
    freeze_context,
    shift_round,
    sigmoid_table,
)
from .gaussian import GAIN_FRACTION_BITS, LOG_SCALE_FRACTION_BITS, MEAN_FRACTION_BITS, gained_means, scale_indexes
from .slices import ContextConfig, SlicedGaussianModel, checkerboard_anchor_mask

# fill(slice, mask or None, means float64, indexes int64) -> symbols int64 (zeros outside mask)
PassFiller = Callable[[int, torch.Tensor | None, torch.Tensor, torch.Tensor], torch.Tensor]


class FrozenContext:
    """A pass's context: the channel (or anchor) context blocks concatenated."""

    def __init__(self, local, globl=None):
        self.local, self.globl = local, globl

    def __call__(self, x: torch.Tensor, tables: dict) -> torch.Tensor:
        out = self.local(x, tables)
        return out if self.globl is None else torch.cat([out, self.globl(x, tables)], 1)

    def state(self, prefix: str) -> dict:
        out = self.local.state(f"{prefix}.local")
        if self.globl is not None:
            out.update(self.globl.state(f"{prefix}.global"))
        return out

    @classmethod
    def load(cls, tensors: dict, prefix: str, module) -> "FrozenContext":
        local = module.local
        if hasattr(local, "branch_a"):
            frozen_local = FrozenAdaptiveChannelContext.load(tensors, f"{prefix}.local")
        else:
            frozen_local = FrozenConvContext.load(tensors, f"{prefix}.local", len(local.convs))
        globl = FrozenGlobalAttention.load(tensors, f"{prefix}.global") if module.globl is not None else None
        return cls(frozen_local, globl)


def context_free_fixed(symbols: torch.Tensor, mean_fixed: torch.Tensor, gain_fixed: torch.Tensor) -> torch.Tensor:
    """Gain-free decoded latents with ``FEATURE_FRACTION_BITS`` (int64, exact); ``gain_fixed`` ``(C,)``."""
    scaled = symbols * (1 << (GAIN_FRACTION_BITS + FEATURE_FRACTION_BITS))
    return div_round(scaled, gain_fixed.reshape(1, -1, 1, 1)) + shift_round(mean_fixed, MEAN_FRACTION_BITS - FEATURE_FRACTION_BITS)


class FrozenSlicedModel:
    """Exact entropy parameters for every coding pass (see the module docstring)."""

    def __init__(self, float_model: SlicedGaussianModel, channel, anchor, params_a, params_n, tables: dict):
        self.cfg: ContextConfig = float_model.cfg
        self.M, self.slice = float_model.M, float_model.slice
        self.channel = channel  # [None, FrozenContext, ...]
        self.anchor = anchor  # [FrozenContext] * S or None
        self.params_a, self.params_n = params_a, params_n  # [FrozenConvContext] * S (params_n None without checkerboard)
        self.tables = tables

    # ------------------------------------------------------------------ construction
    @classmethod
    @torch.no_grad()
    def freeze(cls, model: SlicedGaussianModel, record: dict) -> "FrozenSlicedModel":
        """Freeze with calibration inputs ``record`` (from ``model.forward(..., record=...)`` in eval mode)."""
        s = model.slice
        out_bits = torch.tensor([MEAN_FRACTION_BITS] * s + [LOG_SCALE_FRACTION_BITS] * s)
        channel, anchor, params_a, params_n = [None], None, [], None
        for i in range(1, model.cfg.slices):
            ctx = model.channel_contexts[i]
            x = record[f"channel.{i}"]
            channel.append(FrozenContext(freeze_context(ctx.local, x), freeze_context(ctx.globl, x) if ctx.globl is not None else None))
        for i in range(model.cfg.slices):
            params_a.append(FrozenConvContext.freeze(model.anchor_params[i], record[f"params_a.{i}"], out_bits))
        if model.cfg.checkerboard:
            params_n = [FrozenConvContext.freeze(model.nonanchor_params[i], record[f"params_n.{i}"], out_bits)
                        for i in range(model.cfg.slices)]
            if model.anchor_contexts is not None:
                anchor = []
                for i, ctx in enumerate(model.anchor_contexts):
                    x = record[f"anchor.{i}"]
                    anchor.append(FrozenContext(freeze_context(ctx.local, x), freeze_context(ctx.globl, x) if ctx.globl is not None else None))
        return cls(model, channel, anchor, params_a, params_n, {"sigmoid": sigmoid_table(), "exp": exp_table()})

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        out = {f"{prefix}.sigmoid_table": self.tables["sigmoid"], f"{prefix}.exp_table": self.tables["exp"]}
        for i in range(self.cfg.slices):
            if self.channel[i] is not None:
                out.update(self.channel[i].state(f"{prefix}.channel.{i}"))
            out.update(self.params_a[i].state(f"{prefix}.params_a.{i}"))
            if self.params_n is not None:
                out.update(self.params_n[i].state(f"{prefix}.params_n.{i}"))
            if self.anchor is not None:
                out.update(self.anchor[i].state(f"{prefix}.anchor.{i}"))
        return out

    @classmethod
    def load(cls, tensors: dict, prefix: str, model: SlicedGaussianModel) -> "FrozenSlicedModel":
        """Rebuild from a weights file; the float ``model`` gives the structure. Raises :class:`WeightsError`."""
        try:
            tables = {"sigmoid": tensors[f"{prefix}.sigmoid_table"].to(torch.int64), "exp": tensors[f"{prefix}.exp_table"].to(torch.int64)}
        except KeyError as exc:
            raise WeightsError(f"weights file lacks {exc.args[0]!r}") from None
        if tables["sigmoid"].shape != sigmoid_table().shape or tables["exp"].shape != exp_table().shape:
            raise WeightsError("lookup tables have the wrong size")
        S = model.cfg.slices
        channel = [None] + [FrozenContext.load(tensors, f"{prefix}.channel.{i}", model.channel_contexts[i]) for i in range(1, S)]
        layers = len([m for m in model.anchor_params[0] if isinstance(m, torch.nn.Conv2d)])
        params_a = [FrozenConvContext.load(tensors, f"{prefix}.params_a.{i}", layers) for i in range(S)]
        params_n = anchor = None
        if model.cfg.checkerboard:
            params_n = [FrozenConvContext.load(tensors, f"{prefix}.params_n.{i}", layers) for i in range(S)]
            if model.anchor_contexts is not None:
                anchor = [FrozenContext.load(tensors, f"{prefix}.anchor.{i}", model.anchor_contexts[i]) for i in range(S)]
        return cls(model, channel, anchor, params_a, params_n, tables)

    # ------------------------------------------------------------------ coding passes
    def _parameters(self, network, features, gain_fixed, log_gain_fixed):
        params = network(features, self.tables)
        s = self.slice
        mean_fixed, log_scale_fixed = params[:, :s], params[:, s:]
        means = gained_means(mean_fixed, gain_fixed)
        indexes = scale_indexes(log_scale_fixed + log_gain_fixed.reshape(1, -1, 1, 1))
        return mean_fixed, means, indexes

    @torch.no_grad()
    def walk(self, hyper: torch.Tensor, gain_fixed: torch.Tensor, log_gain_fixed: torch.Tensor, fill: PassFiller) -> dict:
        """Run every coding pass; ``fill`` supplies each pass's symbols (encoder: from ``y``; decoder: from the stream).

        Args:
            hyper: int64 ``(1, C_h, h, w)`` hyper features (``FEATURE_FRACTION_BITS``).
            gain_fixed, log_gain_fixed: int64 ``(M,)`` at the stream's quality.
        Returns:
            ``symbols`` int64, ``means`` float64 (gained), ``indexes`` int64, each ``(1, M, h, w)``,
            and ``free`` int64: the gain-free context values of every slice.
        """
        s = self.slice
        _, _, h, w = hyper.shape
        anchor_mask = checkerboard_anchor_mask(h, w, hyper.device) if self.cfg.checkerboard else None
        previous: list[torch.Tensor] = []
        symbols, means, indexes = [], [], []
        for i in range(self.cfg.slices):
            g, lg = gain_fixed[i * s : (i + 1) * s], log_gain_fixed[i * s : (i + 1) * s]
            base = hyper if i == 0 else torch.cat([hyper, self.channel[i](torch.cat(previous, 1), self.tables)], 1)
            mean_fixed, mean, index = self._parameters(self.params_a[i], base, g, lg)
            if anchor_mask is None:
                sym = fill(i, None, mean, index)
            else:
                sym_a = fill(i, anchor_mask, mean, index)
                free_a = torch.where(anchor_mask, context_free_fixed(sym_a, mean_fixed, g), torch.zeros_like(sym_a))
                features = base if self.anchor is None else torch.cat([base, self.anchor[i](free_a, self.tables)], 1)
                mean_fixed_n, mean_n, index_n = self._parameters(self.params_n[i], features, g, lg)
                sym_n = fill(i, ~anchor_mask, mean_n, index_n)
                sym = torch.where(anchor_mask, sym_a, sym_n)
                mean_fixed = torch.where(anchor_mask, mean_fixed, mean_fixed_n)
                mean = torch.where(anchor_mask, mean, mean_n)
                index = torch.where(anchor_mask, index, index_n)
            previous.append(context_free_fixed(sym, mean_fixed, g))
            symbols.append(sym)
            means.append(mean)
            indexes.append(index)
        return {"symbols": torch.cat(symbols, 1), "means": torch.cat(means, 1), "indexes": torch.cat(indexes, 1),
                "free": torch.cat(previous, 1)}


def encoder_filler(y: torch.Tensor, chunks: list) -> PassFiller:
    """A filler that quantizes gained latents ``y`` ``(1, M, h, w)`` and appends ``(symbols, indexes)`` per pass."""

    def fill(i, mask, means, indexes):
        s = means.shape[1]
        ys = y[:, i * s : (i + 1) * s].to(torch.float64)
        sym = torch.round(ys - means).clamp(-SYMBOL_LIMIT, SYMBOL_LIMIT).to(torch.int64)
        if mask is None:
            chunks.append((sym.cpu().numpy(), indexes.cpu().numpy()))
            return sym
        full = mask.expand_as(sym)
        chunks.append((sym[full].cpu().numpy(), indexes[full].cpu().numpy()))
        return torch.where(full, sym, torch.zeros_like(sym))

    return fill


def decoder_filler(reader) -> PassFiller:
    """A filler that reads each pass's symbols from a :class:`~neuralcodecs.entropy.coders.ChunkDecoder`."""

    def fill(i, mask, means, indexes):
        if mask is None:
            return torch.from_numpy(reader.next(indexes.cpu().numpy())).to(indexes.device)
        full = mask.expand_as(indexes)
        out = torch.zeros_like(indexes)
        out[full] = torch.from_numpy(reader.next(indexes[full].cpu().numpy())).to(indexes.device)
        return out

    return fill
