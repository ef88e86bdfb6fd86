"""The trainable S2LIC model and the rungs of its ablation ladder.

``LadderModel`` composes three choices, each a configuration, never a copy:

* transforms: ``"conv"`` (the hyperprior's GDN stack) or ``"swinv2"`` (S2LIC's SwinV2 groups
  and enhancement blocks), :mod:`neuralcodecs.image.s2lic.transforms`;
* the hyperprior: ``h_a`` (3x3, 5x5/2, 5x5/2 with ReLU) and an integer-ready ``h_s`` giving
  ``2M`` features per latent position;
* the entropy model: a :class:`~neuralcodecs.entropy.slices.ContextConfig` rung.

Variable rate by gain units as in :mod:`neuralcodecs.image.hyperprior`: level ``l`` owns a gain
``g_l`` (``M``,) applied to ``y`` and a learned inverse gain applied before synthesis.

Shapes: ``x`` ``(B, 3, H, W)`` in [0, 1], ``H, W`` multiples of 64; ``y`` ``(B, M, H/16, W/16)``;
``z`` ``(B, N, H/64, W/64)``.
"""

from __future__ import annotations


import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.models import CompressionModel
from compressai.models.utils import conv

from ...entropy.exact import IntegerReadyConvStack
from ...entropy.gaussian import SCALE_MIN, scale_table
from ...entropy.slices import ContextConfig, SlicedGaussianModel, round_ste
from ..variable_rate import initial_gain_logs, rate_distortion
from .transforms import ConvAnalysis, ConvSynthesis, SwinAnalysis, SwinSynthesis

DEFAULT_LAMBDAS = (0.0016, 0.0032, 0.0064, 0.0128, 0.025, 0.05, 0.1, 0.2)
HYPER_UPSCALES = (1, 2, 2, 1)


class LadderModel(CompressionModel):
    """S2LIC (``transform="swinv2"`` with an ``acgc`` checkerboard context) or a lower rung.

    Args:
        N: transform and hyper-latent channels.  M: latent channels.
        transform: ``"conv"`` or ``"swinv2"``.
        context: the entropy-model rung (dict of :class:`ContextConfig` fields).
        depths, heads, window, enhancement: SwinV2 settings (``enhancement`` = (width, growth)
            of the enhancement blocks, or ``None``).
        lambdas: rate-distortion trade-off per quality level (MSE on [0, 255] values is
            weighted by ``lambda * 255**2``; rate in bits per pixel).
    """

    def __init__(
        self,
        N: int = 96,
        M: int = 192,
        transform: str = "swinv2",
        context: dict | None = None,
        depths: tuple[int, int, int] = (1, 2, 3),
        heads: tuple[int, int, int] = (4, 8, 16),
        window: int = 8,
        enhancement: tuple[int, int] | None = (64, 32),
        lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
    ):
        super().__init__()
        self.N, self.M = N, M
        self.lambdas = tuple(float(v) for v in lambdas)
        self.context_config = ContextConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in (context or {}).items()})
        if transform == "swinv2":
            self.g_a = SwinAnalysis(N, M, tuple(depths), tuple(heads), window, tuple(enhancement) if enhancement else None)
            self.g_s = SwinSynthesis(N, M, tuple(reversed(depths)), tuple(reversed(heads)), window,
                                     tuple(enhancement) if enhancement else None)
        elif transform == "conv":
            self.g_a, self.g_s = ConvAnalysis(N, M), ConvSynthesis(N, M)
        else:
            raise ValueError(f"transform must be 'conv' or 'swinv2', not {transform!r}")
        self.h_a = nn.Sequential(
            conv(M, N, stride=1, kernel_size=3), nn.ReLU(inplace=True),
            conv(N, N), nn.ReLU(inplace=True), conv(N, N),
        )
        self.h_s = IntegerReadyConvStack([N, N, N, N, 2 * M], [3, 3, 3, 1], HYPER_UPSCALES)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(scale_table(), scale_bound=SCALE_MIN)
        self.context_model = SlicedGaussianModel(M, 2 * M, self.context_config)
        gain_log, inv_gain_log = initial_gain_logs(self.lambdas, M)
        self.gain_log = nn.Parameter(gain_log)
        self.inv_gain_log = nn.Parameter(inv_gain_log)

    @property
    def num_levels(self) -> int:
        return len(self.lambdas)

    def forward(self, x: torch.Tensor, levels: torch.Tensor, record: dict | None = None) -> dict:
        """Training pass: noise for the rate terms, straight-through rounding for the distortion.

        ``levels``: ``(B,)`` int64 quality levels, 0-based.  Under a bf16 autocast only the
        transforms run in bf16; the entropy model stays float32.  ``record`` collects the
        inputs of the context networks (calibration of their integer twins) and ``"z"``.
        """
        gain = torch.exp(self.gain_log[levels])[:, :, None, None]
        inv_gain = torch.exp(self.inv_gain_log[levels])[:, :, None, None]
        y = self.g_a(x)
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = y.float() * gain
            z = self.h_a(y)
            _, z_likelihoods = self.entropy_bottleneck(z)
            z_hat = round_ste(z - self._z_medians()) + self._z_medians()
            hyper = self.h_s(z_hat)
            if record is not None:
                record["z"] = z
            out = self.context_model(y, hyper, gain, self.gaussian_conditional, record)
            y_synth = out["y_hat"] * inv_gain + out["residual"]
        x_hat = self.g_s(y_synth).float()
        return {"x_hat": x_hat, "likelihoods": {"y": out["likelihoods"], "z": z_likelihoods}}

    def _z_medians(self) -> torch.Tensor:
        return self.entropy_bottleneck.quantiles[:, 0, 1].detach().reshape(1, -1, 1, 1)

    def rd_loss(self, x: torch.Tensor, levels: torch.Tensor) -> dict:
        """Per-sample ``lambda * 255**2 * MSE + bpp``, averaged over the batch."""
        return rate_distortion(self(x, levels), x, self.lambdas, levels)
