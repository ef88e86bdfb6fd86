"""The fitting loop every per-content optimization of the library runs on.

Three kinds of code fit to the content at hand: the overfitted image codec (latents and a small
decoder), the implicit video codecs (a network per clip) and encoder-side latent refinement of
trained codecs (latents only).  Each supplies a **step function** that computes its loss for step
``k`` (its own quantization relaxation, annealed by :mod:`~neuralcodecs.fitting.schedules`) and
the learning rate(s) of step ``k``; :func:`run_fit` owns the rest:

* the loop: learning rates, ``zero_grad``, ``backward``, optional gradient clipping on a subset
  of the parameters (Cool-chic clips the network's, not the latents'), the optimizer step;
* best-state keeping: every ``eval_every`` steps and at the last, ``evaluate()`` measures the
  true loss (what the file will cost and show); the module ends at the state with the lowest,
  as Cool-chic does (late straight-through steps can raise it);
* resumable state: every ``save_every`` steps and at the end, module, optimizer, step, random
  states and best state are written as data (:mod:`neuralcodecs.statefile`) with the fit's
  ``fingerprint``; a state with another fingerprint is refused, so a resumed fit is the fit that
  never stopped (the same values at every step);
* progress: a bar with steps per second and the time left, and the step function's own figures;
* the CPU allocator setting that keeps freed activations mapped (:mod:`.allocator`).
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch

from ..statefile import load_state, restore_failed, save_state
from .allocator import keep_freed_memory

POSTFIX_EVERY = 50  # steps between refreshes of the progress bar's figures


@dataclass
class FitOutcome:
    steps: int  # steps done in all (resumed ones included)
    seconds: float  # wall time of this call
    best_loss: float  # lowest true loss measured (``inf`` without ``evaluate``)


@contextmanager
def frozen_parameters(module: torch.nn.Module, mode: str = "eval"):
    """``module``'s parameters take no gradient inside the block (a refinement fits inputs, not
    weights) and ``module`` is in ``mode`` (``"eval"`` or ``"train"``: a noise relaxation); both
    are put back as they were afterwards."""
    params = list(module.parameters())
    flags = [p.requires_grad for p in params]
    was_training = module.training
    for p in params:
        p.requires_grad_(False)
    module.train(mode == "train")
    try:
        yield module
    finally:
        module.train(was_training)
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def run_fit(step: Callable[[int], torch.Tensor], module: torch.nn.Module, optimizer: torch.optim.Optimizer, steps: int,
            learning_rates: Callable[[int], Sequence[float]], *, fingerprint: dict | None = None,
            state_path: str | os.PathLike | None = None, save_every: int = 250,
            evaluate: Callable[[], float] | None = None, eval_every: int = 50,
            generator: torch.Generator | None = None, clip: tuple[Iterable[torch.nn.Parameter], float] | None = None,
            progress: bool = False, desc: str = "fitting", figures: Callable[[], dict] | None = None,
            start: int = 0, until: int | None = None) -> FitOutcome:
    """Run ``steps`` steps of ``step`` on ``module``'s parameters (resuming from ``state_path``).

    ``step(k)`` returns the loss of step ``k`` (a scalar tensor; the engine differentiates it).
    ``learning_rates(k)``: one learning rate per parameter group of ``optimizer``.
    ``generator``: a random generator the step function draws from, saved and restored with the
    state (the global torch generator always is).  ``clip``: ``(parameters, max_norm)``.
    ``figures()``: what the progress bar shows beside the rate (called every few steps).
    ``start``: the first step when there is no state to resume (a fit continued from a warm-up);
    ``until``: stop after this step (a warm-up: the schedules still span ``steps``).
    """
    keep_freed_memory()
    fingerprint = dict(fingerprint or {})
    path = Path(state_path) if state_path else None
    k, best_loss, best_state = start, math.inf, None
    state = load_state(path, fingerprint)
    if state is not None:
        try:
            module.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            if generator is not None:
                generator.set_state(state["generator"])
            k = int(state["step"])
            if not 0 <= k <= steps:
                raise ValueError(f"a state at step {k} of a {steps}-step fit")
            if state.get("best_state") is not None:
                best_loss, best_state = float(state["best_loss"]), state["best_state"]
                module.load_state_dict(best_state)  # checks that the best state fits too
                module.load_state_dict(state["model"])
        except (KeyError, RuntimeError, TypeError, ValueError) as exc:
            raise restore_failed(path, exc) from None
    clip_params, max_norm = (list(clip[0]), clip[1]) if clip else ([], 0.0)
    end = steps if until is None else min(until, steps)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=end, initial=k, desc=desc, unit="step", dynamic_ncols=True)
    started = time.time()
    try:
        while k < end:
            for group, lr in zip(optimizer.param_groups, learning_rates(k)):
                group["lr"] = lr
            loss = step(k)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_params:
                torch.nn.utils.clip_grad_norm_(clip_params, max_norm)
            optimizer.step()
            k += 1
            if bar is not None:
                bar.update(1)
                if figures is not None and k % POSTFIX_EVERY == 0:
                    bar.set_postfix(figures(), refresh=False)
            if evaluate is not None and (k % eval_every == 0 or k == steps):
                now = evaluate()
                if now < best_loss:
                    best_loss, best_state = now, {n: t.detach().clone() for n, t in module.state_dict().items()}
            if path is not None and (k % save_every == 0 or k == steps):
                save_state(path, {**fingerprint, "model": module.state_dict(), "optimizer": optimizer.state_dict(),
                                  "step": k, "rng": torch.get_rng_state(),
                                  "generator": generator.get_state() if generator is not None else None,
                                  "best_loss": best_loss, "best_state": best_state})
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        module.load_state_dict(best_state)
    return FitOutcome(k, time.time() - started, best_loss)
