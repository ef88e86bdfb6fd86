"""The spatiotemporal entropy model of STEM (Liu et al., "Spatiotemporal Entropy Model is All
You Need for Learned Video Compression", arXiv 2104.06083), the trainable float side.

Every frame is transformed by the same frozen image analysis (the ``hyperprior`` codec's
``g_a``) and quantized on the integer lattice ``y_hat_t = round(g * g_a(x_t))`` (``g``: the
quality's per-channel gain), so I- and P-frames share one distortion.  Only the entropy model
of a P-frame differs from an image codec's; it predicts a Gaussian mean and scale for every
element of ``y_hat_t`` from

* the **temporal prior**: a convolution stack on the previous frame's decoded latent
  ``y_hat_{t-1} / g`` (``temporal=True``);
* a **hyperprior** conditioned on the previous latent: the hyper-analysis sees
  ``(g * y_t, y_hat_{t-1})``, the hyper-latent ``z_t`` is coded with a factorized prior, and the
  hyper-synthesis turns it into a base mean and log-scale per element;
* a **spatial prior**: a checkerboard two-pass context (He et al. 2021: anchors ``row + col``
  odd first, then the rest with a 5x5 context on the decoded anchors), used instead of the
  paper's serial masked convolution (``checkerboard=True``);
* the **residual variant** (``residual=True``): the parameter network predicts the mean of
  ``y_hat_t - y_hat_{t-1}``, i.e. the previous latent (instead of the hyperprior's mean) is the
  base its correction is added to.

The parameter networks see the base parameters and the temporal (and, for the second
checkerboard pass, the anchor) features and predict *corrections* to the base mean and
log-scale, initialized at zero.  With :meth:`SpatiotemporalEntropyModel.init_from_image_codec`
the hyper networks start as the image codec's, so the untrained model is the intra coder and
training on a 2-core CPU only has to learn what the temporal and spatial priors add.  Means and
log-scales are gain-free, shared by every quality (as in the image codecs); the gain then
multiplies the mean and adds to the log-scale.

Shapes: ``y`` ``(B, M, h, w)`` with ``h, w`` multiples of 4; ``z`` ``(B, Nz, h/4, w/4)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.models.utils import conv

from ..entropy.context_blocks import ConvContext
from ..entropy.exact import IntegerReadyConvStack
from ..entropy.gaussian import SCALE_MIN, scale_table
from ..entropy.slices import LOG_SCALE_CLAMP, ParameterNetwork, checkerboard_anchor_mask, round_ste
from ..image.hyperprior import HYPER_UPSCALES  # the hyper-synthesis is initialized from the hyperprior's



@dataclass(frozen=True)
class StemConfig:
    """Architecture of the entropy model (``M`` is the image codec's latent channels)."""

    M: int = 192
    hyper_channels: int = 128  # z and hyper-synthesis width (the image codec's N: initialized from it)
    temporal_channels: tuple[int, ...] = (192, 192)  # temporal prior widths (last = its output)
    context_channels: int = 128  # checkerboard context output (one 5x5 convolution)
    param_hidden: tuple[int, ...] = (320, 256)
    temporal: bool = True
    checkerboard: bool = True
    residual: bool = False

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> "StemConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


#: named configurations: ``cpu`` is what is trained and shipped here; ``paper`` follows the
#: paper's deeper and wider temporal prior and parameter networks
CONFIGS = {
    "cpu": StemConfig(),
    "paper": StemConfig(temporal_channels=(384, 384, 384), context_channels=384, param_hidden=(640, 512, 384)),
}


class SpatiotemporalEntropyModel(nn.Module):
    """Float entropy model of one P-frame; see the module docstring."""

    def __init__(self, config: StemConfig | None = None, **overrides):
        super().__init__()
        cfg = config or StemConfig()
        if overrides:
            cfg = StemConfig(**{**asdict(cfg), **overrides})
        self.cfg = cfg
        M, Nz = cfg.M, cfg.hyper_channels
        self.h_a = nn.Sequential(
            conv(2 * M if cfg.temporal else M, Nz, stride=1, kernel_size=3), nn.ReLU(inplace=True),
            conv(Nz, Nz), nn.ReLU(inplace=True), conv(Nz, Nz),
        )
        self.h_s = IntegerReadyConvStack([Nz, Nz, Nz, Nz, 2 * M], [3, 3, 3, 1], HYPER_UPSCALES)
        self.entropy_bottleneck = EntropyBottleneck(Nz)
        self.gaussian_conditional = GaussianConditional(scale_table(), scale_bound=SCALE_MIN)
        feats = 2 * M
        if cfg.temporal:
            self.temporal_prior = ConvContext([M, *cfg.temporal_channels], 3)
            feats += cfg.temporal_channels[-1]
        self.params_a = ParameterNetwork(feats, cfg.param_hidden, 2 * M)
        nets = [self.params_a]
        if cfg.checkerboard:
            self.anchor_context = ConvContext([M, cfg.context_channels], 5)
            self.params_n = ParameterNetwork(feats + cfg.context_channels, cfg.param_hidden, 2 * M)
            nets.append(self.params_n)
        for net in nets:  # corrections start at zero: the untrained model is the image codec's hyperprior
            nn.init.zeros_(net[-1].weight)
            nn.init.zeros_(net[-1].bias)

    @torch.no_grad()
    def init_from_image_codec(self, image_model: nn.Module) -> None:
        """Start from a trained mean-scale hyperprior (``GainedMeanScaleHyperprior``): its
        hyper-analysis (the previous latent's input channels start at zero), hyper-synthesis
        and hyper-latent density; with the zero corrections the model then codes P-frames exactly
        as the image codec codes intra frames, and training can only add what the previous frame
        and the anchors tell."""
        if image_model.N != self.cfg.hyper_channels or image_model.M != self.cfg.M:
            raise ValueError(f"image codec N={image_model.N}, M={image_model.M} do not match {self.cfg}")
        first = self.h_a[0]
        first.weight.zero_()
        first.weight[:, : self.cfg.M] = image_model.h_a[0].weight
        first.bias.copy_(image_model.h_a[0].bias)
        for i in range(1, len(self.h_a)):
            self.h_a[i].load_state_dict(image_model.h_a[i].state_dict())
        self.h_s.load_state_dict(image_model.h_s.state_dict())
        source = dict(image_model.entropy_bottleneck.named_parameters())
        for name, parameter in self.entropy_bottleneck.named_parameters():  # not the CDF buffers: they are rebuilt
            parameter.copy_(source[name])

    def base_features(self, hyper: torch.Tensor, prev_free: torch.Tensor | None, record: dict | None = None) -> torch.Tensor:
        """The hyper-synthesis output (base mean and log-scale) and (with ``temporal``) the temporal-prior features."""
        if not self.cfg.temporal:
            return hyper
        if record is not None:
            record["temporal"] = prev_free
        return torch.cat([hyper, self.temporal_prior(prev_free)], 1)

    def forward(self, y_hat: torch.Tensor, prev_hat: torch.Tensor, y: torch.Tensor, gain: torch.Tensor,
                record: dict | None = None) -> dict:
        """Likelihoods of a P-frame's lattice latent.

        Args:
            y_hat: ``(B, M, h, w)`` integer-valued lattice latent ``round(g * y)`` of frame t.
            prev_hat: the same for frame t-1 (decoded, hence exactly known to the decoder).
            y: ``(B, M, h, w)`` gained float latent ``g * y`` of frame t (hyper-analysis input).
            gain: ``(B, M, 1, 1)`` float gains.
            record: if given, collects each exact network's input (for calibration).
        Returns:
            ``{"y": (B, M, h, w), "z": (B, Nz, h/4, w/4)}`` likelihoods.
        """
        cfg = self.cfg
        prev_free = prev_hat / gain
        z = self.h_a(torch.cat([y, prev_hat], 1) if cfg.temporal else y).float()
        with torch.autocast(device_type=y.device.type, enabled=False):  # entropy models stay float32
            _, z_lik = self.entropy_bottleneck(z)
        z_hat = round_ste(z) if self.training else torch.round(z)
        if record is not None:
            record["z"] = torch.round(z)
        hyper = self.h_s(z_hat)
        base = self.base_features(hyper, prev_free, record)
        if record is not None:
            record["params_a"] = base
        base_mean, base_log_scale = hyper.chunk(2, 1)
        mean, log_scale = self.params_a(base).chunk(2, 1)
        if cfg.checkerboard:
            _, _, h, w = y_hat.shape
            anchor = checkerboard_anchor_mask(h, w, y_hat.device)
            anchors_free = torch.where(anchor, y_hat / gain, torch.zeros_like(y_hat))
            feats = torch.cat([base, self.anchor_context(anchors_free)], 1)
            if record is not None:
                record["anchor"], record["params_n"] = anchors_free, feats
            mean_n, log_scale_n = self.params_n(feats).chunk(2, 1)
            mean = torch.where(anchor, mean, mean_n)
            log_scale = torch.where(anchor, log_scale, log_scale_n)
        with torch.autocast(device_type=y.device.type, enabled=False):
            # residual variant: the previous latent, not the hyperprior's mean, is what the correction refines
            mean = (prev_free if cfg.residual else base_mean.float()) + mean.float()
            log_scale = base_log_scale.float() + log_scale.float()
            means = mean * gain
            scales = torch.exp(log_scale.clamp(*LOG_SCALE_CLAMP)) * gain
            y_lik = self.gaussian_conditional._likelihood(y_hat, scales, means=means)
            y_lik = self.gaussian_conditional.likelihood_lower_bound(y_lik)
        return {"y": y_lik, "z": z_lik}

    def bits(self, y_hat, prev_hat, y, gain) -> dict:
        """``{"y", "z"}``: estimated bits per sample, ``(B,)`` each."""
        lik = self(y_hat, prev_hat, y, gain)
        return {k: -torch.log2(v).flatten(1).sum(1) for k, v in lik.items()}

    def aux_loss(self) -> torch.Tensor:
        return self.entropy_bottleneck.loss()
