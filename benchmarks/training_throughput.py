"""Training speed of each configuration on this machine (seconds per step), on a quiet machine.

Batch 8 of BSDS500 crops, bf16 autocast, channels-last, Adam with gradient clipping and the
auxiliary step -- what one ``ncodec train`` step does.  ``benchmarks/training_curve.py`` takes
these numbers (``--seconds-per-step``) to put CPU minutes on its x axis, so that a curve does not
depend on what else ran on the machine meanwhile.  Writes ``benchmarks/results/training_throughput.json``.

    python benchmarks/training_throughput.py
"""

from __future__ import annotations

import json
import time

from common import RESULTS, SHARED_DATA

import torch

from neuralcodecs.data import RandomCrops, list_images
from neuralcodecs.image.hyperprior import GainedMeanScaleHyperprior
from neuralcodecs.image.s2lic.objective import build_model
from neuralcodecs.image.variable_rate import random_level_loss


def seconds_per_step(model: torch.nn.Module, crops: RandomCrops, precision: str = "bf16", steps: int = 14) -> float:
    torch.manual_seed(0)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    times = []
    for _ in range(steps):
        start = time.time()
        x = crops.batch(8).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = random_level_loss(model, x)
        optimizer.zero_grad()
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        model.aux_loss().backward()
        times.append(time.time() - start)
    return sum(times[4:]) / len(times[4:])  # the first steps set up oneDNN primitives


def main() -> None:
    files = list_images([str(SHARED_DATA / "images" / "bsds500")])
    crops = {c: RandomCrops(files, c, 0.5, seed=0) for c in (128, 192)}
    rows = []
    for precision in ("fp32", "bf16"):
        rows.append({"config": "hyperprior", "crop": 192, "precision": precision,
                     "s_per_step": seconds_per_step(GainedMeanScaleHyperprior(), crops[192], precision)})
    rows.append({"config": "hyperprior", "crop": 128, "precision": "bf16",
                 "s_per_step": seconds_per_step(GainedMeanScaleHyperprior(), crops[128])})
    for rung in ("rung0-hyperprior", "rung1-slices", "rung2-checkerboard", "rung3-acgc", "rung4-s2lic"):
        rows.append({"config": rung, "crop": 128, "precision": "bf16", "s_per_step": seconds_per_step(build_model(rung), crops[128])})
    for row in rows:
        row["s_per_step"] = round(row["s_per_step"], 4)
        print(json.dumps(row))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training_throughput.json").write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                                                                   "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
