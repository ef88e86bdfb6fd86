"""Training and validation of gain-unit variable-rate image models.

A model here has ``num_levels`` and ``rd_loss(x, levels) -> {"loss", "bpp", "mse", "x_hat"}``
with ``levels`` ``(B,)`` 0-based quality levels (``hyperprior``, ``s2lic``).
"""

from __future__ import annotations

import math

import torch


def level_lambda(lambdas: tuple[float, ...], quality_x256: int) -> float:
    """The trade-off at a (fractional) quality: geometric interpolation between the levels' lambdas."""
    low, t = divmod(quality_x256 - 256, 256)
    low = min(low, len(lambdas) - 1)
    high = min(low + 1, len(lambdas) - 1)
    return math.exp(math.log(lambdas[low]) * (1 - t / 256) + math.log(lambdas[high]) * t / 256)


def initial_gain_logs(lambdas: tuple[float, ...], channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Starting log-gains and log-inverse-gains ``(L, channels)``: gain ~ sqrt(lambda) relative to
    the middle level, the rate-distortion optimum for a fixed transform."""
    import math

    ref = math.sqrt(lambdas[len(lambdas) // 2])
    init = torch.tensor([math.log(math.sqrt(v) / ref) for v in lambdas])
    return init[:, None].repeat(1, channels), -init[:, None].repeat(1, channels)


def rate_distortion(out: dict, x: torch.Tensor, lambdas: tuple[float, ...], levels: torch.Tensor) -> dict:
    """``mean(lambda_l * 255**2 * MSE + bpp)`` of a forward pass ``out`` (``x_hat``, ``likelihoods``) on ``x``.

    Rate: ``-sum(log2 likelihoods)`` over every latent, per pixel; MSE on [0, 1] values.
    Returns ``{"loss", "bpp", "mse", "x_hat"}`` (batch means).
    """
    num_pixels = x.shape[2] * x.shape[3]
    bits = sum((-torch.log2(lik)).flatten(1).sum(1) for lik in out["likelihoods"].values())
    bpp = bits / num_pixels
    mse = torch.nn.functional.mse_loss(out["x_hat"], x, reduction="none").flatten(1).mean(1)
    lam = torch.tensor(lambdas, device=x.device)[levels]
    loss = (lam * 255**2 * mse + bpp).mean()
    return {"loss": loss, "bpp": bpp.mean(), "mse": mse.mean(), "x_hat": out["x_hat"]}


def random_level_loss(model, x: torch.Tensor) -> dict:
    """The training loss: one uniformly drawn level per sample of ``x`` ``(B, 3, H, W)``."""
    levels = torch.randint(0, model.num_levels, (x.shape[0],), device=x.device)
    return model.rd_loss(x, levels)


@torch.no_grad()
def validate_points(model, x: torch.Tensor, points, run) -> dict:
    """Validation over a codec's rate points in eval mode.

    ``run(point) -> (loss, bpp, x_hat)`` codes ``x`` ``(B, 3, H, W)`` at one rate point; returns
    the mean loss and the per-point lists of bpp and PSNR (dB, of ``x_hat`` clamped to [0, 1]).
    """
    was_training = model.training
    model.eval()
    losses, bpps, psnrs = [], [], []
    for point in points:
        loss, bpp, x_hat = run(point)
        mse = torch.mean((x_hat.clamp(0, 1) - x) ** 2, dim=(1, 2, 3))
        losses.append(float(loss))
        bpps.append(float(bpp))
        psnrs.append(float((-10 * torch.log10(mse)).mean()))
    model.train(was_training)
    return {"loss": sum(losses) / len(losses), "bpp": bpps, "psnr": psnrs}


def random_quality_mse_loss(model, x: torch.Tensor) -> dict:
    """Training loss of codecs without a rate term (the rate is set by the quality's structure:
    codebooks, latent channels): one uniformly drawn quality of ``model.num_levels`` for the
    batch ``x`` ``(B, 3, H, W)``, MSE in [0, 255] units; ``model(x, quality)`` returns
    ``x_hat`` (unclamped) and ``bpp`` (an estimate)."""
    quality = int(torch.randint(0, model.num_levels, ()))
    out = model(x, quality)
    mse = torch.mean((out["x_hat"].float() - x) ** 2)
    return {"loss": mse * 255**2, "mse": mse, "bpp": out["bpp"], "x_hat": out["x_hat"]}


def validate_quality_ladder(model, x: torch.Tensor) -> dict:
    """Validation of such codecs at every quality (eval mode: nearest codewords, rounded latents):
    mean MSE loss, per-quality bpp (estimate) and PSNR (dB)."""

    def run(quality):
        out = model(x, quality)
        return torch.mean((out["x_hat"].clamp(0, 1) - x) ** 2) * 255**2, out["bpp"], out["x_hat"]

    return validate_points(model, x, range(model.num_levels), run)


def validate_levels(model, x: torch.Tensor) -> dict:
    """Rate-distortion loss with rounding (eval mode) at every level; per-level bpp and PSNR (dB)."""

    def run(level):
        out = model.rd_loss(x, torch.full((x.shape[0],), level, dtype=torch.int64, device=x.device))
        return out["loss"], out["bpp"], out["x_hat"]

    return validate_points(model, x, range(model.num_levels), run)


class GainLadder:
    """Per-level gains of a gain-unit model, frozen: fixed-point gains and log-gains, float inverse gains.

    Fractional qualities interpolate (format version 2): the gain geometrically in integers
    (:func:`~neuralcodecs.entropy.gaussian.interpolate_gain_geometric`), the log-gain linearly
    in integers, the inverse gain (synthesis only, float) log-linearly.

    Args:
        gain_fixed: int64 ``(L, M)`` in units of ``2**-GAIN_FRACTION_BITS``.
        log_gain_fixed: int64 ``(L, M)`` in units of ``2**-LOG_SCALE_FRACTION_BITS``.
        inv_gain_log: float ``(L, M)``: natural log of the inverse gains.
    """

    def __init__(self, gain_fixed: torch.Tensor, log_gain_fixed: torch.Tensor, inv_gain_log: torch.Tensor):
        self.gain_fixed = gain_fixed.to(torch.int64)
        self.log_gain_fixed = log_gain_fixed.to(torch.int64)
        self.inv_gain_log = inv_gain_log.detach().to(torch.float64)
        self._cache: dict = {}

    @property
    def levels(self) -> int:
        return int(self.gain_fixed.shape[0])

    def at(self, quality_x256: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(gain int64 (M,), log_gain int64 (M,), inverse gain float32 (M,))`` at a quality."""
        from ..entropy.gaussian import interpolate_fixed, interpolate_gain_geometric, ladder_position

        cached = self._cache.get(quality_x256)
        if cached is None:
            low, high, frac = ladder_position(self.levels, quality_x256)
            t = frac / 256.0
            inv = torch.exp(self.inv_gain_log[low] * (1 - t) + self.inv_gain_log[high] * t).float()
            cached = (interpolate_gain_geometric(self.gain_fixed, quality_x256), interpolate_fixed(self.log_gain_fixed, quality_x256), inv)
            self._cache[quality_x256] = cached
        return cached
