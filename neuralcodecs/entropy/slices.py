"""Channel-sliced, checkerboard, context-adaptive Gaussian entropy models (the training side).

One configurable model covers the ladder of the literature, each rung a
:class:`ContextConfig`:

* ``slices=1, checkerboard=False``: the mean-scale hyperprior (Minnen et al. 2018, no
  autoregression): a parameter network maps the hyper-synthesis features to a mean and a
  log-scale per latent;
* ``slices=S``: channel-conditional model (Minnen & Singh 2020): slice ``i`` is coded after
  slices ``0..i-1`` and its parameters see them through a context network;
* ``checkerboard=True``: each slice in two passes (He et al. 2021), anchors (``(row + col)``
  odd) then non-anchors, with separate parameter networks;
* ``context="acgc"``: S2LIC's adaptive channel-wise + global inter-slice attention contexts
  (:mod:`neuralcodecs.entropy.context_blocks`);
* ``nonanchor="anchor"`` (S2LIC's figure): the non-anchor pass also sees the decoded anchors of
  its own slice through a second context network; ``nonanchor="shared"`` (S2LIC's released
  code): the non-anchor network gets the same inputs as the anchor network.

Variable rate: per-level gains ``g`` (Cui et al. 2021) multiply the latent; parameter
networks predict gain-free means and log-scales and see gain-free context (``y_hat / g``), so
they are shared by all levels.  Latent residual prediction (``lrp``) adds ``0.5 tanh(.)`` to
each decoded slice *for the synthesis only*: the context networks read the slices before it,
so that everything feeding the arithmetic coder stays computable exactly
(:mod:`neuralcodecs.entropy.exact_blocks`; the released S2LIC feeds contexts after LRP).

Shapes: ``y`` ``(B, M, h, w)`` (gained), ``hyper`` ``(B, 2M, h, w)``, gains ``(B, M, 1, 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn

from .context_blocks import AdaptiveChannelContext, ConvContext, GlobalInterSliceAttention
from .gaussian import SCALE_MIN

LOG_SCALE_CLAMP = (math.log(SCALE_MIN) - 1.0, math.log(290.0) + 1.0)


@dataclass(frozen=True)
class ContextConfig:
    """Which rung of the entropy-model ladder, and its widths."""

    slices: int = 1
    checkerboard: bool = False
    context: str = "conv"  # "conv" (Minnen 2020 / He 2021 stacks) or "acgc" (S2LIC)
    global_context: bool = True  # with context="acgc": the inter-slice attention block
    nonanchor: str = "anchor"  # "anchor" (paper figure) or "shared" (released code)
    lrp: bool = True
    param_hidden: tuple[int, ...] = (320, 256, 128)  # widths of the 1x1 parameter networks
    context_width: int = 64  # channel-context output channels (S2LIC: 2 x slice)
    attention_width: int = 32  # global-context output channels (S2LIC: 1 x slice)

    def __post_init__(self):
        if self.context not in ("conv", "acgc") or self.nonanchor not in ("anchor", "shared") or self.slices < 1:
            raise ValueError(f"invalid context configuration {self}")


def checkerboard_anchor_mask(h: int, w: int, device=None) -> torch.Tensor:
    """``(1, 1, h, w)`` bool: True at anchors, the positions with ``row + col`` odd (coded first)."""
    rows = torch.arange(h, device=device)[:, None]
    cols = torch.arange(w, device=device)[None, :]
    return ((rows + cols) % 2 == 1)[None, None]


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round forward, identity backward."""
    return x + (torch.round(x) - x).detach()


class ParameterNetwork(nn.Sequential):
    """1x1 convolutions with ReLU: features -> ``2 * slice`` (gain-free mean, natural log-scale)."""

    def __init__(self, c_in: int, hidden: tuple[int, ...], c_out: int):
        widths = [c_in, *hidden, c_out]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Conv2d(a, b, 1))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        super().__init__(*layers)


class SliceContext(nn.Module):
    """Context of one pass from earlier latents: the channel context and, for ``acgc``, the global one."""

    def __init__(self, c_in: int, cfg: ContextConfig, spatial: bool):
        super().__init__()
        if cfg.context == "conv":
            # Minnen 2020: 3x3 stack on earlier slices; He 2021: one 5x5 on the anchors
            self.local = (ConvContext([c_in, cfg.context_width], 5) if spatial
                          else ConvContext([c_in, 2 * cfg.context_width, cfg.context_width], 3))
            self.globl = None
        else:
            self.local = AdaptiveChannelContext(c_in, cfg.context_width)
            self.globl = GlobalInterSliceAttention(c_in, cfg.attention_width, cfg.attention_width) if cfg.global_context else None

    @property
    def out_channels(self) -> int:
        local = self.local.out.out_channels if hasattr(self.local, "out") else self.local.convs[-1].out_channels
        return local + (self.globl.out.out_channels if self.globl is not None else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.local(x)
        return out if self.globl is None else torch.cat([out, self.globl(x)], 1)


class SlicedGaussianModel(nn.Module):
    """The float entropy model of the ladder; see the module docstring.

    Args:
        M: latent channels (divisible by ``cfg.slices``).
        hyper_channels: channels of the hyper-synthesis features.
        cfg: the rung.
    """

    def __init__(self, M: int, hyper_channels: int, cfg: ContextConfig):
        super().__init__()
        if M % cfg.slices:
            raise ValueError(f"M={M} is not divisible into {cfg.slices} slices")
        self.M, self.cfg = M, cfg
        self.slice = M // cfg.slices
        s = self.slice
        self.channel_contexts = nn.ModuleList(
            SliceContext(i * s, cfg, spatial=False) if i > 0 else nn.Identity() for i in range(cfg.slices)
        )
        ctx_channels = [0] + [self.channel_contexts[i].out_channels for i in range(1, cfg.slices)]
        self.anchor_params = nn.ModuleList(
            ParameterNetwork(hyper_channels + ctx_channels[i], cfg.param_hidden, 2 * s) for i in range(cfg.slices)
        )
        self.anchor_contexts = None
        if cfg.checkerboard:
            sees_anchor = cfg.nonanchor == "anchor"
            self.anchor_contexts = nn.ModuleList(SliceContext(s, cfg, spatial=True) for _ in range(cfg.slices)) if sees_anchor else None
            extra = self.anchor_contexts[0].out_channels if sees_anchor else 0
            self.nonanchor_params = nn.ModuleList(
                ParameterNetwork(hyper_channels + ctx_channels[i] + extra, cfg.param_hidden, 2 * s) for i in range(cfg.slices)
            )
        if cfg.lrp:
            self.lrp = nn.ModuleList(
                ConvContext([M + (i + 1) * s, 128, 64, s], 3) for i in range(cfg.slices)
            )

    def base_features(self, i: int, hyper: torch.Tensor, previous: list[torch.Tensor]) -> torch.Tensor:
        """Inputs of slice ``i``'s anchor network: hyper features and the channel context."""
        if i == 0:
            return hyper
        return torch.cat([hyper, self.channel_contexts[i](torch.cat(previous, 1))], 1)

    def nonanchor_features(self, i: int, base: torch.Tensor, anchors_free: torch.Tensor) -> torch.Tensor:
        if self.anchor_contexts is None:
            return base
        return torch.cat([base, self.anchor_contexts[i](anchors_free)], 1)

    def forward(self, y: torch.Tensor, hyper: torch.Tensor, gain: torch.Tensor, gaussian, record: dict | None = None,
                rounding: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict:
        """Training pass: likelihoods (noise relaxation) and ``y_hat`` (rounded, straight-through).

        With ``rounding`` (a relaxed rounding such as SGA, for latent refinement) each value is
        rounded once by it, and the likelihoods are those of the rounded values: the sample the
        contexts see is the one that is coded.

        Args:
            y: gained latents ``(B, M, h, w)``.
            hyper: hyper-synthesis features ``(B, C_h, h, w)``.
            gain: ``(B, M, 1, 1)``.
            gaussian: a CompressAI ``GaussianConditional`` (likelihoods, noise in training).
            record: if given, collects the input of every context and parameter network
                (``"channel.i"``, ``"anchor.i"``, ``"params_a.i"``, ``"params_n.i"``) to
                calibrate their integer twins.
        Returns:
            ``{"likelihoods": (B, M, h, w), "y_hat": gained (B, M, h, w), "residual": (B, M, h, w)
            gain-free LRP corrections (zeros without LRP)}``.
        """
        s = self.slice
        _, _, h, w = y.shape
        anchor = checkerboard_anchor_mask(h, w, y.device) if self.cfg.checkerboard else None
        previous: list[torch.Tensor] = []
        likelihoods, y_hat, residuals = [], [], []
        for i in range(self.cfg.slices):
            ys, g = y[:, i * s : (i + 1) * s], gain[:, i * s : (i + 1) * s]
            base = self.base_features(i, hyper, previous)
            if record is not None:
                record[f"params_a.{i}"] = base
                if i > 0:
                    record[f"channel.{i}"] = torch.cat(previous, 1)
            mean, log_scale = self.anchor_params[i](base).chunk(2, 1)
            if anchor is not None:
                a_hat = (rounding or round_ste)(ys - mean * g) + mean * g
                anchors_free = torch.where(anchor, a_hat / g, torch.zeros_like(a_hat))
                features = self.nonanchor_features(i, base, anchors_free)
                if record is not None:
                    record[f"anchor.{i}"], record[f"params_n.{i}"] = anchors_free, features
                mean_n, log_scale_n = self.nonanchor_params[i](features).chunk(2, 1)
                mean = torch.where(anchor, mean, mean_n)
                log_scale = torch.where(anchor, log_scale, log_scale_n)
            means = mean * g
            scales = torch.exp(log_scale.clamp(*LOG_SCALE_CLAMP)) * g
            if rounding is None:
                _, lik = gaussian(ys, scales, means=means)
                s_hat = round_ste(ys - means) + means
            else:
                s_hat = rounding(ys - means) + means
                if anchor is not None:  # the anchors as their contexts saw them
                    s_hat = torch.where(anchor, a_hat, s_hat)
                lik = gaussian._likelihood(s_hat, scales, means)
                if gaussian.use_likelihood_bound:
                    lik = gaussian.likelihood_lower_bound(lik)
            s_free = s_hat / g
            if self.cfg.lrp:
                lrp_in = torch.cat([hyper[:, : self.M], *previous, s_free], 1)
                residuals.append(0.5 * torch.tanh(self.lrp[i](lrp_in)))
            previous.append(s_free)
            likelihoods.append(lik)
            y_hat.append(s_hat)
        y_hat_all = torch.cat(y_hat, 1)
        residual = torch.cat(residuals, 1) if residuals else torch.zeros_like(y_hat_all)
        return {"likelihoods": torch.cat(likelihoods, 1), "y_hat": y_hat_all, "residual": residual}
