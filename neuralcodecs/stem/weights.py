"""STEM weights files: a trained checkpoint -> frozen, exact entropy model -> safetensors.

Layout:

* ``model.h_a.*``: the float hyper-analysis (fp16), the only float part of the entropy model
  that coding uses (encoder side); the other networks are stored only as their exact twins;
* ``stem.*``: the exact networks and hyper-latent tables (:class:`FrozenStem.state`);
* ``lattice_table.*``: the fractional-mean Gaussian tables (:mod:`neuralcodecs.entropy.lattice`).

Metadata: ``codec = "stem"``, ``config`` (JSON :class:`StemConfig`), ``image_fingerprint`` (the
``hyperprior`` weights whose transforms and gains the model was trained on), ``train_step``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..entropy.lattice import build_table, table_state
from ..errors import WeightsError
from ..weightfiles import save_weights, update_sidecar
from .frozen import FrozenStem
from .training import LatentPairs, StemTrainingModel, image_codec, quality_gains

CALIBRATION_PAIRS = 96


@torch.no_grad()
def calibration_record(training_model: StemTrainingModel, pairs: torch.Tensor) -> dict:
    """Inputs of every exact network on ``pairs`` ``(B, 2, M, h, w)``, qualities spread over the ladder."""
    model = training_model.entropy.float().eval()
    gains = training_model.gains
    pick = torch.arange(pairs.shape[0]) % gains.shape[0]
    gain = gains[pick][:, :, None, None]
    prev, cur = pairs[:, 0].float() * gain, pairs[:, 1].float() * gain
    record: dict = {}
    model(torch.round(cur), torch.round(prev), cur, gain, record=record)
    return record


@torch.no_grad()
def export_from_checkpoint(checkpoint: str | Path, out_path: str | Path, calibration_dirs: list[str],
                           calibration_crops: int = CALIBRATION_PAIRS, seed: int = 1234) -> dict:
    """Freeze a training checkpoint into a weights file; returns a report (fingerprint, rate cost of freezing)."""
    from ..train import load_checkpoint, model_state, training_record

    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.get("config", {})
    training_model = StemTrainingModel(**cfg.get("model_args", {}))
    training_model.load_state_dict(model_state(ckpt))
    pairs = LatentPairs(calibration_dirs, 256, 0.5, seed, Path(checkpoint).parent, count=calibration_crops).batch(calibration_crops)
    record = calibration_record(training_model, pairs)
    frozen = FrozenStem.freeze(training_model.entropy, record)
    model = training_model.entropy
    tensors = {f"model.h_a.{k}": v.half() for k, v in model.h_a.state_dict().items()}
    tensors.update(frozen.state("stem"))
    tensors.update(table_state(build_table(), "lattice_table"))
    hp = image_codec()
    metadata = {"codec": "stem", "config": json.dumps(model.cfg.to_json()), "image_fingerprint": hp.fingerprint.hex(),
                "train_step": str(int(ckpt.get("step", 0)))}
    fp = save_weights(out_path, tensors, metadata)
    from .codec import StemCodec

    reloaded = StemCodec.from_weights(out_path)
    if reloaded.fingerprint != fp:
        raise WeightsError(f"{out_path}: fingerprint changed on reload")
    cost = freezing_cost(training_model, reloaded, pairs[:16])
    sidecar = {
        "codec": "stem",
        "weights_file": Path(out_path).name,
        "fingerprint": fp.hex(),
        "architecture": model.cfg.to_json(),
        "image_codec": {"name": "hyperprior", "fingerprint": hp.fingerprint.hex()},
        "training": training_record(checkpoint, ckpt),
        "export": {"calibration_data": [str(d) for d in calibration_dirs], "calibration_pairs": calibration_crops,
                   "coded_vs_float_estimate_percent": cost},
    }
    update_sidecar(out_path, sidecar)
    return {"fingerprint": fp.hex(), "step": int(ckpt.get("step", 0)), "coded_vs_float_estimate_percent": cost}


@torch.no_grad()
def freezing_cost(training_model: StemTrainingModel, codec, pairs: torch.Tensor) -> float:
    """Coded P-frame bytes (exact model, fractional tables) vs the float model's estimate, in % (4 qualities)."""
    q256s, gains = quality_gains(codec.hp.gain_fixed)
    estimate = coded = 0.0
    for i in range(pairs.shape[0]):
        k = (i * 7) % len(q256s)
        gain = gains[k][None, :, None, None]
        prev, cur = pairs[i : i + 1, 0].float() * gain, pairs[i : i + 1, 1].float() * gain
        bits = training_model.entropy.bits(torch.round(cur), torch.round(prev), cur, gain)
        estimate += float(bits["y"].sum() + bits["z"].sum())
        sections = codec.encode_inter(cur, torch.round(cur).to(torch.int64), torch.round(prev).to(torch.int64), int(q256s[k]))
        coded += 8 * sum(len(s) for s in sections)
    return 100 * (coded / estimate - 1)
