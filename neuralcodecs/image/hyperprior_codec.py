"""The ``hyperprior`` codec: weights file <-> :class:`FrozenHyperprior` <-> ``.ncb`` files.

Weights file layout (safetensors):

* ``model.*``: the float model's state (transforms fp16 where lossless enough, GDN and
  entropy-bottleneck parameters fp32); the float hyper-synthesis is kept as a reference
  for ``benchmarks/exactness_price.py`` and is not used to decode;
* ``hs_int.{i}.{weight,bias,multiplier,shift}``: the integer hyper-synthesis;
* ``z_medians``, ``z_table.*``, ``y_table.*``: integer medians and CDF tables;
* ``gain_fixed``, ``log_gain_fixed``: fixed-point gains per quality level.

Metadata: ``codec``, ``N``, ``M``, ``lambdas`` (JSON list).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..bitstream import Header
from ..entropy.coders import CdfTable
from ..entropy.exact import IntegerNetwork
from ..errors import WeightsError
from ..weightfiles import fingerprint, load_weights, save_weights, update_sidecar
from ..codec import Latents, Objective, QualitySpec
from .base import GainUnitImageCodec, per_pixel_estimate, pixels_to_tensor
from .variable_rate import random_level_loss, validate_levels
from .hyperprior import HYPER_UPSCALES, Z_INPUT_BOUND, FrozenHyperprior, GainedMeanScaleHyperprior
from .hyperprior_options import EFFORT_OPTION, EFFORT_STEPS

CODEC_NAME = "hyperprior"
SYNTHESIS_TILE = 64  # latents (1024 pixels) per side of a synthesis tile
SYNTHESIS_HALO = 3  # latents of context around a tile (the receptive field is under 2)
DECODE_FIXED_BYTES = 256 * 2**20  # measured, benchmarks/decoder_memory.py
DECODE_BYTES_PER_PIXEL = 160  # measured, benchmarks/decoder_memory.py
DECODE_MACS_PER_PIXEL = 43_124  # the shipped N=128, M=192 model; tests/test_decode_estimates.py counts it
_TABLE_FIELDS = ("cdf", "cdf_length", "offset")
_CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")
# stored float32: GDN and entropy-model parameters and gains; the convolutions are fp16
_FP32_KEYS = ("beta", "gamma", "pedestal", "bound", "entropy_bottleneck", "gaussian_conditional", "gain")


def _store_dtype(name: str, tensor: torch.Tensor) -> torch.Tensor:
    if not tensor.is_floating_point():
        return tensor
    if any(key in name for key in _FP32_KEYS):
        return tensor.float()
    return tensor.half()


def export_weights(frozen: FrozenHyperprior, path: str | Path, extra_metadata: dict | None = None) -> bytes:
    """Write a frozen model as a weights file; returns its fingerprint."""
    model = frozen.model
    tensors = {
        f"model.{k}": _store_dtype(k, v)
        for k, v in model.state_dict().items()
        if not k.endswith(_CDF_BUFFERS)
    }
    tensors.update(frozen.hyper_synthesis.state_tensors("hs_int"))
    tensors["z_medians"] = frozen.z_medians.to(torch.int32)
    for prefix, table in (("z_table", frozen.z_table), ("y_table", frozen.y_table)):
        for field in _TABLE_FIELDS:
            tensors[f"{prefix}.{field}"] = getattr(table, field).to(torch.int32)
    tensors["gain_fixed"] = frozen.gain_fixed.to(torch.int32)
    tensors["log_gain_fixed"] = frozen.log_gain_fixed.to(torch.int32)
    metadata = {"codec": CODEC_NAME, "N": model.N, "M": model.M, "lambdas": json.dumps(list(model.lambdas))}
    metadata.update(extra_metadata or {})
    return save_weights(path, tensors, metadata)


def load_frozen(path: str | Path) -> tuple[FrozenHyperprior, bytes]:
    """Load a weights file; returns the model and the weights fingerprint.

    Raises :class:`WeightsError` for a file that is not a hyperprior weights file.
    """
    tensors, meta = load_weights(path)
    if meta.get("codec") != CODEC_NAME:
        raise WeightsError(f"{path} holds weights of codec {meta.get('codec')!r}, not {CODEC_NAME!r}")
    try:
        N, M = int(meta["N"]), int(meta["M"])
        lambdas = tuple(float(v) for v in json.loads(meta["lambdas"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise WeightsError(f"{path}: metadata lacks valid N, M and lambdas ({exc})") from None
    model = GainedMeanScaleHyperprior(N, M, lambdas)
    state = {k[len("model.") :]: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k.startswith("model.")}
    try:
        # nn.Module.load_state_dict: the CDF buffers live in the tables, not in the state
        missing, unexpected = torch.nn.Module.load_state_dict(model, state, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: tensors do not fit a hyperprior N={N} M={M}: {exc}") from None
    missing = [k for k in missing if not k.endswith(_CDF_BUFFERS)]
    if missing or unexpected:
        raise WeightsError(f"{path}: missing tensors {missing[:5]} / unexpected tensors {unexpected[:5]}")
    try:
        tables = [
            CdfTable(*(tensors[f"{prefix}.{field}"] for field in _TABLE_FIELDS)) for prefix in ("z_table", "y_table")
        ]
        for table in tables:
            table.validate()
        network = IntegerNetwork.from_state_tensors(tensors, "hs_int", HYPER_UPSCALES, Z_INPUT_BOUND)
        gain_fixed, log_gain_fixed = tensors["gain_fixed"], tensors["log_gain_fixed"]
        z_medians = tensors["z_medians"]
    except KeyError as exc:
        raise WeightsError(f"{path}: missing tensor {exc.args[0]!r}") from None
    except ValueError as exc:
        raise WeightsError(f"{path}: invalid CDF table: {exc}") from None
    if gain_fixed.shape != (len(lambdas), M) or log_gain_fixed.shape != (len(lambdas), M) or z_medians.shape != (N,):
        raise WeightsError(f"{path}: gain or median tensors do not match N={N}, M={M}, {len(lambdas)} levels")
    if network.output_bound * int(gain_fixed.abs().max()) >= 2**53:
        raise WeightsError(f"{path}: gained means could leave the exact float64 range")
    if tables[0].cdf.shape[0] != N or tables[1].cdf.shape[0] != 64:
        raise WeightsError(f"{path}: CDF tables do not match the model")
    frozen = FrozenHyperprior(model, network, z_medians, tables[0], tables[1], gain_fixed, log_gain_fixed)
    return frozen, fingerprint(tensors)


class HyperpriorCodec(GainUnitImageCodec):
    """Mean-scale hyperprior with exact entropy parameters; quality 1..L (fractional ok)."""

    name = CODEC_NAME
    options = (EFFORT_OPTION,)

    def __init__(self, frozen: FrozenHyperprior, weights_fingerprint: bytes, device="cpu"):
        super().__init__(weights_fingerprint, device)
        self.frozen = frozen
        self.frozen.model.to(self.device)
        self.frozen.hyper_synthesis.to(self.device)
        levels = float(frozen.num_levels)
        self.quality = QualitySpec(1.0, levels, min(4.0, levels), 1 / 256, tuple(float(q) for q in range(1, frozen.num_levels + 1)))

    @classmethod
    def from_weights(cls, path: str | Path, device="cpu") -> "HyperpriorCodec":
        frozen, fp = load_frozen(path)
        return cls(frozen, fp, device)

    def decode_estimate(self, header: Header, sections=None, frames=None):
        """Peak bytes (a fixed part plus a per-pixel part, ``benchmarks/decoder_memory.py``) and work.

        Per pixel: the y symbols, scale indexes and means (8 bytes each per latent, 192
        latents per 256 pixels), the coder's working arrays, the output; synthesis runs in
        tiles, so its activations are bounded by the tile size.  Work: the synthesis and
        hyper-synthesis transforms, :data:`DECODE_MACS_PER_PIXEL` per padded pixel.
        """
        return per_pixel_estimate(self.padded_pixels(header), DECODE_FIXED_BYTES, DECODE_BYTES_PER_PIXEL,
                                  DECODE_MACS_PER_PIXEL)

    def _encode_pixels(self, pixels: np.ndarray, quality: float, progress: bool = False, effort: str = "fast"):
        q256 = int(round(quality * 256))
        x = pixels_to_tensor(pixels, self.pad_multiple, self.device)
        latents = None
        if EFFORT_STEPS[effort]:  # medium/best: the image's own latents (the decoder does not change)
            from .hyperprior_refine import refine_latents

            latents = refine_latents(self.frozen, x, q256, EFFORT_STEPS[effort], pixels.shape[:2], progress)
        out = self.frozen.compress(x, q256, latents=latents)
        return self._config(q256), out["strings"]

    def _decode_symbols(self, header: Header, sections: list[bytes]) -> tuple[int, dict, torch.Tensor]:
        """``(quality_x256, decoded symbols, y_hat)`` of a checked stream."""
        q256 = self._quality_x256(header)
        dec = self.frozen.decode_symbols(sections, self.z_shape(header), q256, self.device, header.version)
        return q256, dec, self.frozen.dequantize(dec["y_symbols"], dec["means"], q256, header.version)

    def symbol_arrays(self, header: Header, sections: list[bytes]) -> list[np.ndarray]:
        _, dec, _ = self._decode_symbols(header, sections)
        return [dec["z_symbols"].cpu().numpy(), dec["y_symbols"].cpu().numpy()]

    def _decode_sections(self, header: Header, sections: list[bytes]) -> np.ndarray:
        _, dec, y_hat = self._decode_symbols(header, sections)
        del dec
        return self.frozen.synthesize_pixels(y_hat, header.height, header.width, SYNTHESIS_TILE, SYNTHESIS_HALO)

    def _latents_sections(self, header: Header, sections: list[bytes]) -> Latents:
        """``y_hat`` ``[M, h, w]`` (gain undone) and bits per position (y, plus z spread over 4x4)."""
        q256, dec, y_hat = self._decode_symbols(header, sections)
        y_bits = self.frozen.y_coder.symbol_bits(dec["y_symbols"].cpu().numpy(), dec["y_indexes"].cpu().numpy())
        z = dec["z_symbols"].cpu().numpy()
        z_bits = self.frozen.z_coder.symbol_bits(z, self.frozen.z_indexes(z.shape))
        spread = np.repeat(np.repeat(z_bits[0].sum(0), 4, axis=0), 4, axis=1) / 16.0
        bits = torch.from_numpy((y_bits[0].sum(0) + spread).astype(np.float32))
        return Latents(
            tensor=y_hat[0].cpu(),
            stride=(16, 16),
            height=header.height,
            width=header.width,
            bits=bits,
            codec=self.name,
            quality=q256 / 256,
            side={"z_symbols": dec["z_symbols"][0].cpu()},
        )


def training_objective() -> Objective:
    """How ``ncodec train`` trains this codec: image crops, one random level per sample."""

    return Objective(
        build=GainedMeanScaleHyperprior,
        validate=validate_levels,
        data="image_crops",
        loss=random_level_loss,
        aux_loss=lambda model: model.aux_loss(),
        is_aux_parameter=lambda name: name.endswith(".quantiles"),
        export=export_from_checkpoint,
    )


@torch.no_grad()
def export_from_checkpoint(
    checkpoint: str | Path,
    out_path: str | Path,
    calibration_dirs: list[str],
    calibration_crops: int = 32,
    seed: int = 1234,
) -> dict:
    """Freeze a training checkpoint into a shipped weights file.

    Calibration crops come from ``calibration_dirs`` (training data, never evaluation
    images).  Returns a report with the fingerprint and the PSNR cost of fp16 storage,
    measured on the calibration crops at every level.
    """
    from ..data import RandomCrops, list_images

    from ..train import load_checkpoint, model_state, training_record

    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.get("config", {})
    model = GainedMeanScaleHyperprior(**cfg.get("model_args", {}))
    model.load_state_dict(model_state(ckpt))
    crops = RandomCrops(list_images(calibration_dirs), 256, seed=seed).batch(calibration_crops)
    frozen = FrozenHyperprior.from_trained(model, crops)
    fp = export_weights(frozen, out_path, {"train_step": ckpt.get("step", 0)})
    reloaded, fp_check = load_frozen(out_path)
    if fp != fp_check:
        raise WeightsError(f"{out_path}: fingerprint changed on reload")
    psnr_cost, rate_cost = _storage_cost(frozen, reloaded, crops, model.num_levels)
    step = int(ckpt.get("step", 0))
    sidecar = {
        "codec": CODEC_NAME,
        "weights_file": Path(out_path).name,
        "fingerprint": fp.hex(),
        "architecture": {"N": model.N, "M": model.M, "lambdas": list(model.lambdas)},
        "training": training_record(checkpoint, ckpt),
        "export": {
            "calibration_data": [str(d) for d in calibration_dirs],
            "calibration_crops": calibration_crops,
            "fp16_psnr_cost_db": psnr_cost,
            "fp16_rate_cost_percent": rate_cost,
        },
    }
    update_sidecar(out_path, sidecar)
    return {"fingerprint": fp.hex(), "step": step, "fp16_psnr_cost_db": psnr_cost, "fp16_rate_cost_percent": rate_cost}


def _storage_cost(trained: FrozenHyperprior, stored: FrozenHyperprior, crops: torch.Tensor, levels: int) -> tuple[float, float]:
    """What storing the weights costs, at the worst level: (PSNR drop in dB, rate increase in %).

    Each level's PSNR is the mean over ``crops`` (N, 3, H, W) of the 8-bit reconstruction,
    and its rate the model's estimated bits; the whole pipeline runs with each weight set.
    A negative value is a gain (rounding noise in the analysis can go either way).
    """
    psnr_drop, rate_rise = float("-inf"), float("-inf")
    for level in range(levels):
        q256 = 256 * (level + 1)
        psnr, bits = [], []
        for model in (trained, stored):
            symbols = model.analyze(crops, q256)
            x_hat = model.synthesize(symbols["y_symbols"], symbols["means"], q256)
            mse = torch.mean(((x_hat * 255).round() / 255 - crops) ** 2, dim=(1, 2, 3))
            psnr.append(float((-10 * torch.log10(mse)).mean()))
            bits.append(model.estimated_bits(symbols))
        psnr_drop = max(psnr_drop, psnr[0] - psnr[1])
        rate_rise = max(rate_rise, 100 * (bits[1] / bits[0] - 1))
    return psnr_drop, rate_rise

