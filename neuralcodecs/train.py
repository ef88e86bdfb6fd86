"""Training loop shared by the learned codecs (``ncodec train``).

The loop knows codecs only through their :class:`~neuralcodecs.codec.Objective`
(``registry.objective(name)``): it builds the model, draws batches of the objective's data
kind, minimizes ``objective.loss(model, batch)["loss"]`` and, where the objective has one,
the auxiliary loss with its own optimizer over the parameters ``is_aux_parameter`` names.

Runs on CPU or CUDA; under ``torchrun`` it trains data-parallel (torch.distributed, NCCL on
GPUs, Gloo on CPUs).  Checkpoints (``checkpoint.safetensors``: tensors plus JSON, never a pickle,
:mod:`neuralcodecs.statefile`) are written atomically every
``--save-every`` steps and at the end; ``--resume`` continues from one.  A JSON line per
``--log-every`` steps goes to ``log.jsonl``, and each invocation's command line and settings
to ``commands.jsonl`` (the weights' sidecar JSON quotes them).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn

from .data import RandomCrops, list_images
from .errors import StateFileError, WeightsError
from .statefile import load_state, save_state

CHECKPOINT_NAME = "checkpoint.safetensors"
LOG_NAME = "log.jsonl"
COMMANDS_NAME = "commands.jsonl"


@dataclass
class TrainConfig:
    codec: str
    data: list[str]
    out: str
    steps: int = 100_000
    batch_size: int = 8
    crop: int = 256
    lr: float = 1e-4
    lr_decay_steps: list[int] = field(default_factory=list)
    lr_decay_factor: float = 0.1
    lr_schedule: str = "step"  # "step" (decays at lr_decay_steps) or "cosine" (to lr_final_factor at `steps`)
    lr_final_factor: float = 0.01
    warmup_steps: int = 0  # linear warm-up from 0 to lr
    ema_decay: float = 0.0  # exponential moving average of the weights (0 = none); export uses it
    max_minutes: float = 0.0  # stop (with a checkpoint) after this wall time; 0 = no limit
    budget_minutes: float = 0.0  # total training time of the run; the cosine schedule then runs on time
    init_from: str = ""  # start from this checkpoint's model weights (fine-tuning), fresh optimizer
    class_map: str = ""  # labelled data: folder name -> class index (default: the data's SOURCE.txt)
    aux_lr: float = 1e-3
    clip_grad: float = 1.0
    precision: str = "fp32"  # or "bf16": autocast of the transforms (entropy models stay fp32)
    min_scale: float = 0.5
    device: str = "auto"
    threads: int = 0
    seed: int = 0
    save_every: int = 1000
    log_every: int = 50
    resume: bool = False
    model_args: dict = field(default_factory=dict)


class _LossModule(nn.Module):
    """Puts the objective's loss behind ``forward`` so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module, loss):
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, x):
        out = self.loss(self.model, x)
        return out["loss"], out["bpp"].detach(), out["mse"].detach()


def _on_device(batch, device: torch.device):
    """A batch (a tensor, or a dict of tensors such as pixels and labels) on ``device``; 4-d
    tensors channels-last on CPUs."""
    if isinstance(batch, dict):
        return {k: _on_device(v, device) for k, v in batch.items()}
    batch = batch.to(device, non_blocking=True)
    if device.type == "cpu" and batch.dim() == 4:
        batch = batch.contiguous(memory_format=torch.channels_last)
    return batch


def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def _pick_device(name: str, local_rank: int) -> torch.device:
    from .devices import resolve_device

    device = resolve_device(name)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", local_rank)
    return device


def learning_rate(cfg: TrainConfig, step: int, seconds: float = 0.0) -> float:
    """The learning rate at ``step`` (``seconds`` of training so far): linear warm-up, then step
    decays or a cosine to ``lr * lr_final_factor`` at ``steps`` -- or, with ``budget_minutes``,
    at the end of the time budget (a schedule for machines whose speed is known only by running)."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "cosine":
        if cfg.budget_minutes > 0:
            progress = min(1.0, seconds / (60 * cfg.budget_minutes))
        else:
            progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
        low = cfg.lr * cfg.lr_final_factor
        return low + 0.5 * (cfg.lr - low) * (1 + math.cos(math.pi * progress))
    decays = sum(1 for s in cfg.lr_decay_steps if step >= s)
    return cfg.lr * cfg.lr_decay_factor**decays


class WeightAverage:
    """Exponential moving average of a model's floating-point state (weights and buffers).

    ``decay`` is warmed up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates so that
    an early average is not dominated by the random initialization.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            avg = self.state[k]
            if v.is_floating_point():
                avg.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                avg.copy_(v)

    def state_dict(self) -> dict:
        return {"updates": self.updates, "state": self.state}

    def load_state_dict(self, saved: dict) -> None:
        self.updates = int(saved["updates"])
        for k, v in saved["state"].items():
            if k in self.state:
                self.state[k].copy_(v)


def _atomic_save(obj, path: Path) -> None:
    save_state(path, obj)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """A training checkpoint: tensors in safetensors, the rest JSON (:mod:`neuralcodecs.statefile`);
    nothing is unpickled.

    Raises :class:`WeightsError` for a missing file or one that is not a checkpoint (checkpoints of
    earlier versions, ``checkpoint.pt``, were pickles and are not read).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint not found: {path}")
    try:
        ckpt = load_state(path, {}, device)
    except StateFileError as exc:
        raise WeightsError(f"{path} is not a readable training checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "step" not in ckpt:
        raise WeightsError(f"{path} is not a neuralcodecs training checkpoint (no model state and step)")
    return ckpt


def training_record(checkpoint: str | os.PathLike, ckpt: dict) -> dict:
    """What a weights sidecar says about training: data, steps, CPU/GPU hours, last log line, commands.

    Reads ``log.jsonl`` and ``commands.jsonl`` beside ``checkpoint``.
    """
    run_dir = Path(checkpoint).parent

    def read_jsonl(name: str) -> list[dict]:
        path = run_dir / name
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    cfg = ckpt.get("config", {})
    step = int(ckpt.get("step", 0))
    log = [entry for entry in read_jsonl(LOG_NAME) if entry.get("step", 0) <= step]
    return {
        "data": [{"folder": d, "images": len(list_images([d]))} for d in cfg.get("data", [])],
        "steps": step,
        "hours": round(float(ckpt.get("train_seconds", 0.0)) / 3600, 3),
        "device": log[-1].get("device") if log else None,
        "weight_average": ckpt.get("ema") is not None,
        "final_log": log[-1] if log else None,
        "commands": [" ".join(c["argv"]) for c in read_jsonl(COMMANDS_NAME)],
    }


def model_state(ckpt: dict) -> dict:
    """The weights to use from a checkpoint: the moving average when it has one."""
    ema = ckpt.get("ema")
    return ema["state"] if ema else ckpt["model"]


def export_sidecar(out_path: str | os.PathLike, codec: str, fingerprint: bytes, architecture: dict, checkpoint,
                   ckpt: dict, calibration_dirs: list[str], calibration_crops: int, measured: dict, extra: dict | None = None) -> None:
    """Write the sidecar of an exported weights file: codec, fingerprint, architecture, the training
    record (:func:`training_record`), the calibration data and what the export ``measured``."""
    from .weightfiles import update_sidecar

    update_sidecar(out_path, {
        "codec": codec,
        "weights_file": Path(out_path).name,
        "fingerprint": fingerprint.hex(),
        "architecture": architecture,
        **(extra or {}),
        "training": training_record(checkpoint, ckpt),
        "export": {"calibration_data": [str(d) for d in calibration_dirs], "calibration_crops": calibration_crops, **measured},
    })


def model_from_checkpoint(checkpoint: str | os.PathLike, codec: str, model_class, resolve_args) -> tuple[nn.Module, dict, dict]:
    """``(model, model_args, checkpoint dict)`` of a training checkpoint of ``codec`` (for export).

    ``model_args = resolve_args(**the run's --model-args)`` (a named configuration with its
    overrides); the model gets :func:`model_state` (the weight average when there is one).
    Raises :class:`WeightsError` for another codec's checkpoint.
    """
    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.get("config", {})
    if cfg.get("codec", codec) != codec:
        raise WeightsError(f"{checkpoint} is a checkpoint of codec {cfg.get('codec')!r}, not {codec!r}")
    args = resolve_args(**cfg.get("model_args", {}))
    model = model_class(**args)
    model.load_state_dict(model_state(ckpt))
    return model, args, ckpt


def build_optimizers(model: nn.Module, cfg: TrainConfig, is_aux_parameter=lambda name: False):
    """Adam on the network parameters, Adam on the auxiliary ones (or ``None`` if there are none).

    A model with a ``lr_factor(name) -> float`` method (pretrained parts fine-tuned more gently)
    gets one parameter group per factor; the schedule's rate is multiplied by it."""
    factor = getattr(model, "lr_factor", lambda name: 1.0)
    groups: dict[float, list] = {}
    for n, p in model.named_parameters():
        if not is_aux_parameter(n):
            groups.setdefault(float(factor(n)), []).append(p)
    main = [{"params": params, "lr": cfg.lr * f, "lr_factor": f} for f, params in sorted(groups.items())]
    aux = [p for n, p in model.named_parameters() if is_aux_parameter(n)]
    return torch.optim.Adam(main, lr=cfg.lr), (torch.optim.Adam(aux, lr=cfg.aux_lr) if aux else None)


def train(cfg: TrainConfig, objective) -> dict:
    """Train ``objective.build(**cfg.model_args)``; returns the last logged record.

    Args:
        cfg: the run's settings (saved in the checkpoint).
        objective: the codec's :class:`~neuralcodecs.codec.Objective`.
    """
    if objective.data != "image_crops" and objective.make_data is None:
        raise NotImplementedError(f"training data kind {objective.data!r} is not implemented by the shared loop yet")
    from tqdm import tqdm

    world, rank, local_rank = _distributed()
    device = _pick_device(cfg.device, local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
    seed = cfg.seed * 1000 + rank
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)

    out_dir = Path(cfg.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = objective.build(**cfg.model_args).to(device)
    if device.type == "cpu":  # oneDNN convolutions are faster channels-last
        model = model.to(memory_format=torch.channels_last)
    optimizer, aux_optimizer = build_optimizers(model, cfg, objective.is_aux_parameter)
    step = 0
    prior_seconds = 0.0  # training wall time of earlier invocations of this run
    ckpt_path = out_dir / CHECKPOINT_NAME
    if cfg.init_from and not (cfg.resume and ckpt_path.exists()):
        model.load_state_dict(model_state(load_checkpoint(cfg.init_from, device)))
    average = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    if cfg.resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path, device)
        model.load_state_dict(ckpt["model"])
        if average is not None and ckpt.get("ema") is not None:
            average.load_state_dict(ckpt["ema"])
        optimizer.load_state_dict(ckpt["optimizer"])
        if aux_optimizer is not None and ckpt.get("aux_optimizer") is not None:
            aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
        step = int(ckpt["step"])
        prior_seconds = float(ckpt.get("train_seconds", 0.0))
        if "rng" in ckpt and world == 1:
            torch.set_rng_state(ckpt["rng"]["torch"].cpu())
            random.setstate(ckpt["rng"]["python"])
    elif cfg.resume:
        raise WeightsError(f"--resume given but {ckpt_path} does not exist")

    wrapped = _LossModule(model, objective.loss)
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            wrapped, device_ids=[local_rank] if device.type == "cuda" else None, find_unused_parameters=True
        )
    if objective.data == "image_crops":
        crops = RandomCrops(list_images(cfg.data), cfg.crop, cfg.min_scale, seed=seed + step)
    else:
        crops = objective.make_data(cfg, seed + step)
    if rank == 0:
        with open(out_dir / COMMANDS_NAME, "a") as f:  # how this run was made, for the weights' sidecar
            f.write(json.dumps({"argv": sys.argv, "config": asdict(cfg), "start_step": step}) + "\n")
    model.train()
    last: dict = {}
    window: list[tuple[float, float, float]] = []
    started = time.time()
    bar = tqdm(total=cfg.steps, initial=step, disable=rank != 0, dynamic_ncols=True, desc=cfg.codec)
    log_file = open(out_dir / LOG_NAME, "a") if rank == 0 else None
    check_each_step = device.type != "cuda"  # free on a CPU; on a GPU, the window's mean is checked per log line
    try:
        while step < cfg.steps:
            lr = learning_rate(cfg, step, prior_seconds + time.time() - started)
            for group in optimizer.param_groups:
                group["lr"] = lr * group.get("lr_factor", 1.0)
            x = _on_device(crops.batch(cfg.batch_size), device)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                loss, bpp, mse = wrapped(x)
            if check_each_step and not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at step {step}; lower --lr")
            loss.backward()
            if cfg.clip_grad > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
            optimizer.step()
            if average is not None:
                average.update(model)
            aux = torch.zeros(())
            if aux_optimizer is not None and objective.aux_loss is not None:
                aux_optimizer.zero_grad(set_to_none=True)
                aux = objective.aux_loss(model)
                aux.backward()
                if world > 1:
                    for p in aux_optimizer.param_groups[0]["params"]:
                        if p.grad is not None:
                            dist.all_reduce(p.grad)
                            p.grad /= world
                aux_optimizer.step()
            step += 1
            # on the device, read once per log line: a GPU step never waits for the host
            window.append(torch.stack([torch.as_tensor(v, device=device).detach().float().reshape(()) for v in (loss, bpp, mse)]))
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.steps:
                loss_m, bpp_m, mse_m = torch.stack(window).mean(0).tolist()
                window.clear()
                if not math.isfinite(loss_m):
                    raise FloatingPointError(f"non-finite loss by step {step}; lower --lr")
                last = {
                    "step": step,
                    "loss": loss_m,
                    "bpp": bpp_m,
                    "mse": mse_m,
                    "psnr": -10 * math.log10(mse_m) if mse_m > 0 else None,  # None: a rate-only objective
                    "aux_loss": float(aux.detach()),  # the last step's
                    "lr": lr,
                    "precision": cfg.precision,
                    "elapsed_s": round(time.time() - started, 1),
                    "train_seconds": round(prior_seconds + time.time() - started, 1),
                    "device": str(device),
                    "world_size": world,
                }
                shown = {"loss": f"{loss_m:.3f}", "bpp": f"{bpp_m:.3f}"}
                if last["psnr"] is not None:
                    shown["psnr"] = f"{last['psnr']:.2f}"
                bar.set_postfix(**shown)
                if log_file:
                    log_file.write(json.dumps(last) + "\n")
                    log_file.flush()
            out_of_time = (cfg.max_minutes > 0 and time.time() - started > 60 * cfg.max_minutes) or (
                cfg.budget_minutes > 0 and prior_seconds + time.time() - started > 60 * cfg.budget_minutes)
            if world > 1:  # every rank stops at the same step
                flag = torch.tensor([float(out_of_time)], device=device)
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time = bool(flag.item())
            if rank == 0 and (step % cfg.save_every == 0 or step == cfg.steps or out_of_time):
                _atomic_save(
                    {
                        "model": model.state_dict(),
                        "ema": average.state_dict() if average is not None else None,
                        "optimizer": optimizer.state_dict(),
                        "aux_optimizer": aux_optimizer.state_dict() if aux_optimizer is not None else None,
                        "step": step,
                        "train_seconds": prior_seconds + time.time() - started,
                        "config": asdict(cfg),
                        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
                    },
                    ckpt_path,
                )
            if out_of_time:
                break
    finally:
        bar.close()
        if log_file:
            log_file.close()
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return last
