"""Inference-time S2LIC: float transforms, exact integer entropy parameters, one y stream.

Coding of a picture (``x`` padded to multiples of 64):

1. ``y = g_a(x) * gain``, ``z = h_a(y)``, ``z_int = round(z)``; ``z`` symbols are
   ``z_int - median`` under the factorized tables (section 0);
2. hyper features ``h_s(z_int)`` by the integer hyper-synthesis (``FEATURE_FRACTION_BITS``);
3. the coding passes of :class:`~neuralcodecs.entropy.exact_slices.FrozenSlicedModel` give each
   pass's exact means and scale indexes; all passes go into one stream, in pass order
   (section 1, :meth:`~neuralcodecs.entropy.coders.TableCoder.encode_chunks`);
4. decoding: ``y_hat = symbols + means`` (float64, exact), ``y_hat / g`` feeds the latent
   residual prediction, ``y_hat * inverse_gain + residual`` the synthesis (float).
"""

from __future__ import annotations

import numpy as np
import torch

from ...entropy.coders import CdfTable, ChunkDecoder, TableCoder
from ...entropy.exact import IntegerNetwork, freeze_conv_stack
from ...entropy.exact_blocks import FEATURE_FRACTION_BITS
from ...entropy.exact_slices import FrozenSlicedModel, decoder_filler, encoder_filler
from ...entropy.gaussian import GAIN_FRACTION_BITS, LOG_SCALE_FRACTION_BITS, scale_table
from ..variable_rate import GainLadder
from .model import LadderModel

Z_INPUT_BOUND = 4096  # |z| fed to the integer hyper-synthesis


class FrozenLadder:
    """A trained :class:`LadderModel` frozen for coding (see the module docstring)."""

    def __init__(self, model: LadderModel, hyper_synthesis: IntegerNetwork, sliced: FrozenSlicedModel,
                 z_medians: torch.Tensor, z_table: CdfTable, y_table: CdfTable, ladder: GainLadder):
        self.model = model.eval()
        self.hyper_synthesis = hyper_synthesis
        self.sliced = sliced
        self.z_medians = z_medians.to(torch.int64)
        self.z_table, self.y_table = z_table, y_table
        self.z_coder, self.y_coder = TableCoder(z_table), TableCoder(y_table)
        self.ladder = ladder

    # ------------------------------------------------------------------ construction
    @classmethod
    @torch.no_grad()
    def from_trained(cls, model: LadderModel, calibration: torch.Tensor) -> "FrozenLadder":
        """Freeze ``model`` with calibration crops ``(B, 3, h, w)`` of training data (never evaluation images)."""
        model = model.float().cpu().eval()
        eb = model.entropy_bottleneck
        eb.quantiles.data[:, 0, 1] = torch.round(eb.quantiles.data[:, 0, 1])
        eb.update(force=True)
        model.gaussian_conditional.update_scale_table(scale_table(), force=True)
        records = []
        for level in range(model.num_levels):
            record: dict = {}
            levels = torch.full((calibration.shape[0],), level, dtype=torch.int64)
            model(calibration, levels, record=record)
            records.append(record)
        merged = {key: torch.cat([r[key] for r in records]) for key in records[0]}
        z_cal = torch.round(merged.pop("z")).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND)
        frac = torch.full((2 * model.M,), FEATURE_FRACTION_BITS)
        hyper_synthesis = freeze_conv_stack(model.h_s, z_cal, frac, Z_INPUT_BOUND)
        sliced = FrozenSlicedModel.freeze(model.context_model, merged)
        ladder = GainLadder(
            torch.round(torch.exp(model.gain_log.detach().double()) * 2**GAIN_FRACTION_BITS).to(torch.int64),
            torch.round(model.gain_log.detach().double() * 2**LOG_SCALE_FRACTION_BITS).to(torch.int64),
            model.inv_gain_log.detach(),
        )
        return cls(model, hyper_synthesis, sliced, eb.quantiles.detach()[:, 0, 1].to(torch.int64),
                   CdfTable.from_compressai(eb), CdfTable.from_compressai(model.gaussian_conditional), ladder)

    # ------------------------------------------------------------------ coding
    def z_indexes(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(np.arange(shape[1]).reshape(1, -1, 1, 1), shape)

    def gain_float(self, quality_x256: int) -> torch.Tensor:
        """The analysis-side gain ``(1, M, 1, 1)`` float32 (the fixed-point gain as a float)."""
        gain, _, _ = self.ladder.at(quality_x256)
        return (gain.double() / 2**GAIN_FRACTION_BITS).float().reshape(1, -1, 1, 1)

    @torch.no_grad()
    def analyze(self, x: torch.Tensor, quality_x256: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, z_int)``: gained latents ``(1, M, H/16, W/16)`` and integer hyper-latents ``(1, N, H/64, W/64)``."""
        y = self.model.g_a(x) * self.gain_float(quality_x256).to(x.device)
        z = self.model.h_a(y)
        return y, torch.round(z).clamp(-Z_INPUT_BOUND, Z_INPUT_BOUND).to(torch.int64)

    @torch.no_grad()
    def encode_latents(self, y: torch.Tensor, z_int: torch.Tensor, quality_x256: int) -> dict:
        """Entropy-code given latents: ``{"strings": [z, y], "symbols": walk result, "z_symbols"}``."""
        gain, log_gain, _ = self.ladder.at(quality_x256)
        hyper = self.hyper_synthesis(z_int)
        chunks: list = []
        walk = self.sliced.walk(hyper, gain.to(y.device), log_gain.to(y.device), encoder_filler(y, chunks))
        z_symbols = (z_int - self.z_medians.to(z_int.device).reshape(1, -1, 1, 1)).cpu().numpy()
        z_bytes = self.z_coder.encode(z_symbols, self.z_indexes(z_symbols.shape))
        y_bytes = self.y_coder.encode_chunks(chunks)
        return {"strings": [z_bytes, y_bytes], "walk": walk, "z_symbols": z_symbols, "hyper": hyper}

    @torch.no_grad()
    def compress(self, x: torch.Tensor, quality_x256: int) -> dict:
        y, z_int = self.analyze(x, quality_x256)
        return self.encode_latents(y, z_int, quality_x256)

    @torch.no_grad()
    def decode_symbols(self, strings: list[bytes], z_shape: tuple[int, int], quality_x256: int, device="cpu") -> dict:
        gain, log_gain, _ = self.ladder.at(quality_x256)
        shape = (1, self.model.N, *z_shape)
        z_symbols = self.z_coder.decode(strings[0], self.z_indexes(shape))
        z_int = torch.from_numpy(z_symbols).to(device) + self.z_medians.to(device).reshape(1, -1, 1, 1)
        hyper = self.hyper_synthesis(z_int)
        reader = ChunkDecoder(self.y_coder, strings[1])
        walk = self.sliced.walk(hyper, gain.to(device), log_gain.to(device), decoder_filler(reader))
        reader.finish()
        return {"walk": walk, "z_symbols": z_symbols, "hyper": hyper}

    @torch.no_grad()
    def synthesis_input(self, decoded: dict, quality_x256: int) -> torch.Tensor:
        """``y_hat * inverse_gain + residual`` float32 ``(1, M, h, w)``: what ``g_s`` takes."""
        gain, _, inv_gain = self.ladder.at(quality_x256)
        walk = decoded["walk"]
        device = walk["means"].device
        y_hat = walk["symbols"].to(torch.float64) + walk["means"]
        gain_float = (gain.double() / 2**GAIN_FRACTION_BITS).to(device).reshape(1, -1, 1, 1)
        free = (y_hat / gain_float).float()
        residual = self._residual(decoded["hyper"], free)
        return y_hat.float() * inv_gain.to(device).reshape(1, -1, 1, 1) + residual

    def _residual(self, hyper_int: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        em = self.model.context_model
        if not em.cfg.lrp:
            return torch.zeros_like(free)
        hyper = hyper_int[:, : em.M].float() / 2**FEATURE_FRACTION_BITS
        s = em.slice
        parts = []
        for i in range(em.cfg.slices):
            lrp_in = torch.cat([hyper, free[:, : (i + 1) * s]], 1)
            parts.append(0.5 * torch.tanh(em.lrp[i](lrp_in)))
        return torch.cat(parts, 1)

    @torch.no_grad()
    def synthesize(self, y_synth: torch.Tensor) -> torch.Tensor:
        return self.model.g_s(y_synth).clamp_(0, 1)

    def estimated_bits(self, encoded: dict) -> float:
        """``-sum(log2 p)`` of every coded symbol under the coder's own tables."""
        walk, z = encoded["walk"], encoded["z_symbols"]
        bits = self.z_coder.ideal_bits(z, self.z_indexes(z.shape))
        return bits + self.y_coder.ideal_bits(walk["symbols"].cpu().numpy(), walk["indexes"].cpu().numpy())
