"""The ``student`` weights file: checkpoint -> fp16 safetensors with integer coding tables, and back.

Layout (safetensors):

* ``model.*``: the network (encoder, gains, decoder, tail, classifier) -- convolutions fp16, GDN
  parameters, gains and the priors' parameters float32;
* ``medians`` int32 ``(L, N)``: the integer medians of each level's prior (symbols are
  ``round(y * g) - median``);
* ``table.{cdf,cdf_length,offset}``: the priors' CDF tables, row ``l * N + c`` for channel ``c``
  of level ``l`` (the format's integer probabilities come from them, not from float math).

Metadata: ``codec``, ``N``, ``width``, ``lambdas`` (JSON), ``teacher``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..entropy.coders import CdfTable
from ..errors import WeightsError
from ..weightfiles import fingerprint, load_model_weights, save_weights
from .model import EntropicStudent, build

CODEC_NAME = "student"
TEACHER = "mobilenet_v2"
_TABLE_FIELDS = ("cdf", "cdf_length", "offset")
_CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length")
_FP32_KEYS = ("beta", "gamma", "pedestal", "priors", "gain")


def _store(name: str, tensor: torch.Tensor) -> torch.Tensor:
    if not tensor.is_floating_point():
        return tensor
    return tensor.float() if any(key in name for key in _FP32_KEYS) else tensor.half()


@torch.no_grad()
def freeze_priors(model: EntropicStudent) -> tuple[torch.Tensor, CdfTable]:
    """Round every prior's medians to integers (stage 2 trained with integer rounding already, so
    this changes no decoded value) and build the CDF tables; ``(medians (L, N) int64, table)``."""
    tables = []
    for prior in model.priors:
        prior.quantiles.data[:, 0, 1] = torch.round(prior.quantiles.data[:, 0, 1])
        prior.update(force=True)
        tables.append(CdfTable.from_compressai(prior))
    width = max(t.cdf.shape[1] for t in tables)
    cdf = torch.cat([torch.nn.functional.pad(t.cdf, (0, width - t.cdf.shape[1])) for t in tables])
    table = CdfTable(cdf, torch.cat([t.cdf_length for t in tables]), torch.cat([t.offset for t in tables]))
    table.validate()
    medians = torch.stack([prior.quantiles.detach()[:, 0, 1] for prior in model.priors]).to(torch.int64)
    return medians, table


def export_weights(model: EntropicStudent, path: str | Path, extra_metadata: dict | None = None) -> bytes:
    """Write a trained student (stage 2) as a weights file; returns its fingerprint."""
    model = model.cpu().eval()
    medians, table = freeze_priors(model)
    tensors = {f"model.{k}": _store(k, v) for k, v in model.state_dict().items() if not k.endswith(_CDF_BUFFERS)}
    tensors["medians"] = medians.to(torch.int32)
    for field in _TABLE_FIELDS:
        tensors[f"table.{field}"] = getattr(table, field).to(torch.int32)
    metadata = {"codec": CODEC_NAME, "N": model.N, "width": model.width, "lambdas": json.dumps(list(model.lambdas)),
                "teacher": TEACHER, **(extra_metadata or {})}
    return save_weights(path, tensors, metadata)


def _model_args(meta: dict) -> dict:
    """The model arguments a weights file's metadata holds (``N``, ``width``, ``lambdas``)."""
    return {"N": int(meta["N"]), "width": int(meta["width"]), "lambdas": tuple(float(v) for v in json.loads(meta["lambdas"])),
            "stage": 2}


def load_student(path: str | Path) -> tuple[EntropicStudent, torch.Tensor, CdfTable, bytes]:
    """``(model in eval mode, medians (L, N) int64, table, fingerprint)`` of a weights file;
    :class:`WeightsError` unless it is a complete student weights file."""
    model, tensors, _, args = load_model_weights(path, CODEC_NAME, EntropicStudent, transient=lambda k: k.endswith(_CDF_BUFFERS),
                                                 model_args_of=_model_args)
    N, levels = args["N"], len(args["lambdas"])
    try:
        table = CdfTable(*(tensors[f"table.{field}"] for field in _TABLE_FIELDS))
        table.validate()
        medians = tensors["medians"].to(torch.int64)
    except KeyError as exc:
        raise WeightsError(f"{path}: missing tensor {exc.args[0]!r}") from None
    except ValueError as exc:
        raise WeightsError(f"{path}: invalid CDF table: {exc}") from None
    if medians.shape != (levels, N) or table.cdf.shape[0] != levels * N:
        raise WeightsError(f"{path}: medians or CDF tables do not match N={N} and {levels} levels")
    return model.eval(), medians, table, fingerprint(tensors)


@torch.no_grad()
def export_from_checkpoint(checkpoint: str | Path, out_path: str | Path, calibration_dirs: list[str]) -> dict:
    """Freeze a stage-2 training checkpoint into a weights file with its sidecar.

    ``calibration_dirs`` are not needed (the student has no integer network to calibrate) and are
    only recorded.  The sidecar holds both stages' training records (stage 1 is the checkpoint
    stage 2 started from).
    """
    from ..train import export_sidecar, load_checkpoint, model_state, training_record

    ckpt = load_checkpoint(checkpoint)
    args = dict(ckpt.get("config", {}).get("model_args", {}))
    if int(args.get("stage", 1)) != 2:
        raise WeightsError(f"{checkpoint} is a stage-1 checkpoint; export the stage-2 run that fine-tuned it")
    args.pop("teacher", None)
    model = build(**args)
    model.load_state_dict(model_state(ckpt))
    fp = export_weights(model, out_path)
    reloaded = load_student(out_path)
    if reloaded[3] != fp:
        raise WeightsError(f"{out_path}: fingerprint changed on reload")
    records = []
    first = ckpt.get("config", {}).get("init_from")
    if first and Path(first).is_file():
        records.append(("head distillation", training_record(first, load_checkpoint(first))))
    records.append(("task fine-tuning", training_record(checkpoint, ckpt)))
    stages = [{"stage": name, "last_log_step": r["steps"], "train_minutes": round(60 * r["hours"], 1), **r} for name, r in records]
    architecture = {"N": model.N, "width": model.width, "lambdas": list(model.lambdas), "teacher": TEACHER, "cut": "features[4:]"}
    export_sidecar(out_path, CODEC_NAME, fp, architecture, checkpoint, ckpt, calibration_dirs, 0, {}, extra={"stages": stages})
    return {"fingerprint": fp.hex(), "step": int(ckpt.get("step", 0))}
