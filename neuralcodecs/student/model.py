"""The Entropic Student's network: a small encoder, a factorized-prior bottleneck, and a decoder
that hands the teacher's tail the activations it expects (Matsubara, Yang, Levorato & Mandt,
"Supervised Compression for Resource-Constrained Edge Computing Systems", WACV 2022).

The teacher is torchvision's MobileNetV2 with ImageNet-1k weights.  The student replaces its
pixel stem, ``features[0:4]`` (stride 4, 24 channels), by

* an **encoder** on ImageNet-normalized pixels ``(B, 3, H, W)``: 5x5 stride-2 convolution to
  ``4N`` channels, GDN, 5x5 stride-2 to ``2N``, GDN, 2x2 stride-1 to ``N`` -- the paper's layout
  (``N`` bottleneck channels at stride 4); the last convolution sees its right and bottom
  neighbours (the input is padded by one on those sides, as an even kernel needs);
* a **bottleneck**: per rate level ``l`` a gain vector ``g_l`` (``N``), rounding of ``y * g_l``,
  and one factorized prior per level (CompressAI's ``EntropyBottleneck``), the inverse gain
  after decoding -- one network for every rate point (Cui et al.'s gain units, the library's
  variable-rate convention; the paper trains one network per rate);
* a **decoder**: 2x2 convolution to ``W``, inverse GDN, 2x2 to ``W``, inverse GDN, 1x1 to the
  24 channels of ``features[3]``'s output, at stride 4 (the paper's pattern of small convolutions with
  inverse GDN, at width ``W``);

and keeps the teacher's **tail** (``features[4:]``, pooling, classifier) for the task.

Training, two stages (:mod:`neuralcodecs.student.objective`):

1. *Head distillation with a rate penalty*: ``lambda_l * MSE(decoder(y_hat), teacher.features[:4](x)) + bpp``,
   uniform noise for rounding, one level per batch; encoder, gains, priors and decoder train.
2. *Fine-tuning for the task*: encoder, gains and priors frozen (the bitstream is fixed),
   latents rounded as the coder rounds them; decoder, tail and classifier train on
   cross-entropy with the labels plus the teacher's soft targets (knowledge distillation).

Shapes: pixels ``(B, 3, H, W)`` with ``H, W`` multiples of :data:`STRIDE` (the codec pads);
latents ``(B, N, H/4, W/4)``; logits ``(B, 1000)``.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.entropy_models import EntropyBottleneck
from compressai.layers import GDN

STRIDE = 4
CUT = 4  # the first teacher block the student keeps: features[4:]
CUT_CHANNELS = 24  # channels of features[3]'s output, the decoder's target
PRIOR_INIT_SCALE = 4.0  # the priors' initial width (CompressAI's default, 10, is far wider than the latents)
PRIOR_LR_FACTOR = 10.0  # the priors' densities learn this much faster than the transforms
KD_TEMPERATURE = 1.0  # knowledge-distillation temperature (stage 2)
KD_WEIGHT = 0.5  # loss = (1 - w) * cross-entropy + w * T^2 * KL(teacher || student)

#: named sizes: ``paper`` is the published bottleneck width for ImageNet-scale teachers; ``cpu``
#: the reduced model trained on this project's machine
CONFIGS = {
    "paper": {"N": 24, "width": 96},
    "cpu": {"N": 12, "width": 64},
}
#: rate-distortion weights of the levels (feature MSE per bit per pixel), lowest rate first
DEFAULT_LAMBDAS = (2.0, 4.0, 8.0, 16.0, 32.0)


class _PadRightBottom(nn.Module):
    """Pads ``(B, C, H, W)`` by one row and column at the bottom and right (replicate), so that a
    2x2 stride-1 convolution keeps the size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, 1, 0, 1), mode="replicate")


def build_encoder(N: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 4 * N, 5, stride=2, padding=2), GDN(4 * N),
        nn.Conv2d(4 * N, 2 * N, 5, stride=2, padding=2), GDN(2 * N),
        _PadRightBottom(), nn.Conv2d(2 * N, N, 2),
    )


def build_decoder(N: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        _PadRightBottom(), nn.Conv2d(N, width, 2), GDN(width, inverse=True),
        _PadRightBottom(), nn.Conv2d(width, width, 2), GDN(width, inverse=True),
        nn.Conv2d(width, CUT_CHANNELS, 1),
    )


def rounded_likelihoods(prior: EntropyBottleneck, y_hat: torch.Tensor) -> torch.Tensor:
    """The factorized prior's probabilities of integer latents ``(B, N, h, w)`` (same shape), with
    CompressAI's lower bound."""
    B, N, h, w = y_hat.shape
    values = y_hat.transpose(0, 1).reshape(N, 1, -1)
    likelihoods = prior.likelihood_lower_bound(prior._likelihood(values)[0])
    return likelihoods.reshape(N, B, h, w).transpose(0, 1)


def mobilenet_tail(teacher: nn.Module | None) -> tuple[nn.Sequential, nn.Module]:
    """Copies of ``features[CUT:]`` and the classifier of ``teacher`` (an untrained MobileNetV2
    when ``None``: the weights come from a file then)."""
    if teacher is None:
        import torchvision

        teacher = torchvision.models.mobilenet_v2(weights=None)
    return copy.deepcopy(nn.Sequential(*teacher.features[CUT:])), copy.deepcopy(teacher.classifier)


class EntropicStudent(nn.Module):
    """The student (encoder, bottleneck, decoder, tail); see the module docstring.

    Args:
        N: bottleneck channels.
        width: the decoder's hidden channels.
        lambdas: one rate-distortion weight per level, ascending (more bits at higher levels).
        stage: 1 (head distillation) or 2 (task fine-tuning; encoder, gains and priors frozen).
        teacher: the pretrained MobileNetV2 (frozen, used for targets; its tail is copied);
            ``None`` when the weights come from a checkpoint or weights file.
    """

    def __init__(self, N: int = CONFIGS["cpu"]["N"], width: int = CONFIGS["cpu"]["width"],
                 lambdas: tuple[float, ...] = DEFAULT_LAMBDAS, stage: int = 1, teacher: nn.Module | None = None):
        super().__init__()
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        if not lambdas or list(lambdas) != sorted(lambdas):
            raise ValueError("lambdas must be a non-empty ascending list")
        self.N, self.width, self.lambdas, self.stage = int(N), int(width), tuple(float(v) for v in lambdas), int(stage)
        self.encoder = build_encoder(self.N)
        init = torch.tensor([0.5 * math.log(v / self.lambdas[len(self.lambdas) // 2]) for v in self.lambdas])
        self.gain_log = nn.Parameter(init[:, None].repeat(1, self.N))
        self.inv_gain_log = nn.Parameter(-init[:, None].repeat(1, self.N))
        self.priors = nn.ModuleList(EntropyBottleneck(self.N, init_scale=PRIOR_INIT_SCALE) for _ in self.lambdas)
        self.decoder = build_decoder(self.N, self.width)
        self.tail, self.classifier = mobilenet_tail(teacher)
        # the teacher is not part of the model's state: it gives targets and nothing else
        self._teacher = [teacher.eval().requires_grad_(False)] if teacher is not None else []
        if self.stage == 2:
            for module in (self.encoder, self.priors):
                module.requires_grad_(False)
            self.gain_log.requires_grad_(False)

    @property
    def num_levels(self) -> int:
        return len(self.lambdas)

    @property
    def teacher(self) -> nn.Module:
        if not self._teacher:
            raise RuntimeError("this student was built without its teacher (targets need one)")
        return self._teacher[0]

    def train(self, mode: bool = True):
        """Training mode everywhere but in the tail's convolutions, which keep their ImageNet
        batch statistics (as the library's latent classifiers do)."""
        super().train(mode)
        self.tail.eval()
        if self._teacher:
            self._teacher[0].eval()
        return self

    def lr_factor(self, name: str) -> float:
        """The pretrained tail and classifier fine-tune ten times more gently than the new layers;
        the priors' densities (a few thousand steps here, not the hundreds of thousands CompressAI
        trains for) learn :data:`PRIOR_LR_FACTOR` times faster."""
        if name.startswith("priors."):
            return PRIOR_LR_FACTOR
        return 0.1 if name.startswith(("tail.", "classifier.")) else 1.0

    # ------------------------------------------------------------------ pieces
    def gains(self, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gain, inverse gain)`` of a 0-based level, ``(1, N, 1, 1)`` each."""
        return (self.gain_log[level].exp().reshape(1, -1, 1, 1), self.inv_gain_log[level].exp().reshape(1, -1, 1, 1))

    def bottleneck(self, x: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y_hat, likelihoods)`` of normalized pixels at ``level``, ``y_hat`` with the gain undone.

        Stage-1 training adds uniform noise; otherwise the gained latents are rounded to integers,
        exactly as the coder rounds them (its symbols are ``round(y * g) - median`` with integer
        medians).  The entropy model runs in float32 whatever the autocast."""
        y = self.encoder(x)
        gain, inv_gain = self.gains(level)
        prior = self.priors[level]
        with torch.autocast(x.device.type, enabled=False):
            y = y.float() * gain
            if self.stage == 1 and self.training:
                y_hat, likelihoods = prior(y, training=True)
            else:
                y_hat = torch.round(y)
                likelihoods = rounded_likelihoods(prior, y_hat)
        return y_hat * inv_gain, likelihoods

    def head(self, y_hat: torch.Tensor) -> torch.Tensor:
        """The decoder: dequantized latents -> the activations the tail expects ``(B, 24, h, w)``."""
        return self.decoder(y_hat)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Tail and classifier: activations at the cut -> logits ``(B, 1000)``."""
        x = self.tail(features)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    @torch.no_grad()
    def teacher_targets(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The teacher's activations at the cut and (stage 2) its logits for normalized pixels."""
        features = self.teacher.features[:CUT](x)
        if self.stage == 1:
            return features, None
        rest = self.teacher.features[CUT:](features)
        return features, self.teacher.classifier(torch.flatten(F.adaptive_avg_pool2d(rest, 1), 1))

    # ------------------------------------------------------------------ losses
    def loss(self, x: torch.Tensor, labels: torch.Tensor, level: int) -> dict:
        """The stage's loss for normalized pixels ``x`` ``(B, 3, H, W)`` and labels ``(B,)`` at one level.

        Returns ``{"loss", "bpp", "mse"}`` (batch means; ``mse`` is the feature error at the cut)
        and, in stage 2, ``"accuracy"``.
        """
        target, teacher_logits = self.teacher_targets(x)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.stage == 1):
            y_hat, likelihoods = self.bottleneck(x, level)
        bpp = (-torch.log2(likelihoods)).flatten(1).sum(1).mean() / (x.shape[2] * x.shape[3])
        features = self.head(y_hat)
        mse = F.mse_loss(features.float(), target.float())
        if self.stage == 1:
            return {"loss": self.lambdas[level] * mse + bpp, "bpp": bpp.detach(), "mse": mse.detach()}
        logits = self.classify(features).float()
        kd = F.kl_div(F.log_softmax(logits / KD_TEMPERATURE, 1), F.log_softmax(teacher_logits.float() / KD_TEMPERATURE, 1),
                      log_target=True, reduction="batchmean") * KD_TEMPERATURE**2
        loss = (1 - KD_WEIGHT) * F.cross_entropy(logits, labels) + KD_WEIGHT * kd
        accuracy = (logits.argmax(1) == labels).float().mean()
        return {"loss": loss, "bpp": bpp.detach(), "mse": mse.detach(), "accuracy": accuracy.detach()}

    def aux_loss(self) -> torch.Tensor:
        """The priors' quantile loss (stage 1); stage 2 keeps the priors fixed."""
        if self.stage == 2:
            return torch.zeros((), requires_grad=True)
        return sum(prior.loss() for prior in self.priors)


def build(config: str = "cpu", stage: int = 1, lambdas: tuple[float, ...] = DEFAULT_LAMBDAS, teacher: str = "",
          **overrides) -> EntropicStudent:
    """A student of a named size (:data:`~neuralcodecs.student.model.CONFIGS`, ``overrides`` on top);
    ``teacher``: the MobileNetV2 weights file (needed to train, not to load a checkpoint)."""
    from ..codec import named_configuration
    from ..perception import MobileNetClassifier

    args = named_configuration(CONFIGS, "student", config, overrides)
    return EntropicStudent(lambdas=tuple(lambdas), stage=stage, teacher=MobileNetClassifier(teacher).model if teacher else None,
                           **args)
