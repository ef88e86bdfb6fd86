"""S2LIC weights files: :class:`FrozenLadder` <-> safetensors.

Layout:

* ``model.*``: the float model in fp16, except normalization, gain, attention-scale and
  entropy-model parameters (fp32).  Coding uses the integer twins of the hyper-synthesis and of
  the context and parameter networks; their float originals are kept only for the encoder's
  latent refinement (``--effort``), which needs a differentiable rate model, and for the
  training-time rate estimate, so their weight matrices are stored as ``model8.NAME`` (int8,
  ``(O, ...)``) with ``model8.NAME.scale`` (fp32 ``(O,)``, symmetric per output row): half the
  bytes of fp16, and no effect on what is coded (the latent residual prediction, which shapes
  the decoded picture, stays fp16);
* ``hs_int.*``: the integer hyper-synthesis; ``em.*``: the integer context and parameter
  networks and their lookup tables (:class:`~neuralcodecs.entropy.exact_slices.FrozenSlicedModel`);
* ``z_medians``, ``z_table.*``, ``y_table.*``: integer medians and CDF tables;
* ``gain_fixed``, ``log_gain_fixed``: fixed-point gains per quality level.

Metadata: ``codec`` (``s2lic``) and ``model_args`` (JSON: :class:`LadderModel` arguments).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...entropy.coders import CdfTable
from ...entropy.exact import IntegerNetwork
from ...entropy.exact_slices import FrozenSlicedModel
from ...errors import WeightsError
from ...weightfiles import fingerprint, load_model_weights, save_weights
from ..variable_rate import GainLadder
from .frozen import Z_INPUT_BOUND, FrozenLadder
from .model import HYPER_UPSCALES, LadderModel

CODEC_NAME = "s2lic"
_TABLE_FIELDS = ("cdf", "cdf_length", "offset")
_CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")
_FP32_KEYS = ("norm", "gain", "entropy_bottleneck", "gaussian_conditional", "logit_scale", "beta", "gamma", "cpb_mlp")
_INT8_PREFIXES = ("h_s.", "context_model.")  # float copies of networks that are coded by integer twins
_INT8_KEEP = ("context_model.lrp.",)  # ... except the latent residual prediction: the decoder runs it in float


def _stored_as_int8(name: str, value: torch.Tensor) -> bool:
    return value.is_floating_point() and value.dim() >= 2 and name.startswith(_INT8_PREFIXES) and not name.startswith(_INT8_KEEP)


def _to_int8(value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-row int8: ``(q (O, ...) int8, scale (O,) fp32)`` with ``value ~= q * scale``."""
    rows = value.detach().float().flatten(1)
    scale = rows.abs().amax(1).clamp_min(1e-12) / 127.0
    q = torch.round(rows / scale[:, None]).clamp_(-127, 127).to(torch.int8)
    return q.reshape(value.shape), scale


def _stored(name: str) -> bool:
    """Whether a float state entry goes into the file (the CDF buffers live in the tables)."""
    return not name.endswith(_CDF_BUFFERS)


def export_weights(frozen: FrozenLadder, path: str | Path, model_args: dict, extra_metadata: dict | None = None) -> bytes:
    """Write a frozen model; returns its fingerprint."""
    tensors = {}
    for name, value in frozen.model.state_dict().items():
        if not _stored(name):
            continue
        if _stored_as_int8(name, value):
            tensors[f"model8.{name}"], tensors[f"model8.{name}.scale"] = _to_int8(value)
            continue
        if value.is_floating_point():
            value = value.float() if any(key in name for key in _FP32_KEYS) else value.half()
        tensors[f"model.{name}"] = value
    tensors.update(frozen.hyper_synthesis.state_tensors("hs_int"))
    tensors.update(frozen.sliced.state("em"))
    tensors["z_medians"] = frozen.z_medians.to(torch.int32)
    for prefix, table in (("z_table", frozen.z_table), ("y_table", frozen.y_table)):
        for field in _TABLE_FIELDS:
            tensors[f"{prefix}.{field}"] = getattr(table, field).to(torch.int32)
    tensors["gain_fixed"] = frozen.ladder.gain_fixed.to(torch.int32)
    tensors["log_gain_fixed"] = frozen.ladder.log_gain_fixed.to(torch.int32)
    metadata = {"codec": CODEC_NAME, "model_args": json.dumps(model_args)}
    metadata.update(extra_metadata or {})
    return save_weights(path, tensors, metadata)


def load_frozen(path: str | Path) -> tuple[FrozenLadder, bytes, dict]:
    """``(model, fingerprint, model_args)`` of a weights file; :class:`WeightsError` if it is not an S2LIC one."""

    def int8_copies(tensors: dict) -> dict:
        state = {}
        for key, q in tensors.items():
            if key.startswith("model8.") and not key.endswith(".scale"):
                scale = tensors.get(f"{key}.scale")
                if q.dtype != torch.int8 or scale is None or scale.shape != q.shape[:1]:
                    raise WeightsError(f"{path}: {key} is not an int8 tensor with a per-row scale")
                state[key[len("model8.") :]] = q.float() * scale.float().reshape(-1, *[1] * (q.dim() - 1))
        return state

    model, tensors, _, model_args = load_model_weights(path, CODEC_NAME, LadderModel, lambda k: not _stored(k), int8_copies)
    try:
        tables = [CdfTable(*(tensors[f"{p}.{f}"] for f in _TABLE_FIELDS)) for p in ("z_table", "y_table")]
        for table in tables:
            table.validate()
        hyper = IntegerNetwork.from_state_tensors(tensors, "hs_int", HYPER_UPSCALES, Z_INPUT_BOUND)
        sliced = FrozenSlicedModel.load(tensors, "em", model.context_model)
        ladder = GainLadder(tensors["gain_fixed"], tensors["log_gain_fixed"], model.inv_gain_log)
        z_medians = tensors["z_medians"]
    except KeyError as exc:
        raise WeightsError(f"{path}: missing tensor {exc.args[0]!r}") from None
    except ValueError as exc:
        raise WeightsError(f"{path}: invalid table: {exc}") from None
    levels, M = ladder.gain_fixed.shape
    if (levels, M) != (model.num_levels, model.M) or ladder.log_gain_fixed.shape != (levels, M) or z_medians.shape != (model.N,):
        raise WeightsError(f"{path}: gain or median tensors do not match the model")
    if tables[0].cdf.shape[0] != model.N or tables[1].cdf.shape[0] != 64:
        raise WeightsError(f"{path}: CDF tables do not match the model")
    frozen = FrozenLadder(model, hyper, sliced, z_medians, tables[0], tables[1], ladder)
    return frozen, fingerprint(tensors), model_args
