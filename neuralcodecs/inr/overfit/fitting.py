"""Fitting the overfitted image model to one image: ``min MSE + lambda * bits / pixel``.

Two phases, as Cool-chic and C3: (1) ``noise_fraction`` of the steps with C3's soft rounding in
place of rounding (:func:`~neuralcodecs.inr.overfit.model.soft_quantize`, the latents seen by the
synthesis and priced by the ARM), its temperature and noise annealed linearly from
``temperature[0]`` / ``noise[0]`` to ``[1]``, at ``lr`` with a cosine decay; (2) the rest
with straight-through rounding at ``lr * final_lr_factor``, so the network adapts to the integer
latents it will decode.  The networks are fitted with SOAP and the latents with Adam, as
Cool-chic 5 does (:func:`optimizer_of`).  On the CPU the synthesis and the ARM run under bf16 autocast.

The fit ends at its best state, not its last: every ``eval_every`` steps (and at the last) the
true loss (rounded latents, rounded pixels) is measured, and the model keeps the parameters that
had the lowest, as Cool-chic does.  Straight-through steps can raise it: on a 128x192 BSDS crop
at lambda 0.0032, the 1,000 straight-through steps that close a 10,000-step fit took the rate
from 0.157 to 0.367 bits per pixel for +0.03 dB.

Chosen on a BSDS image (481x321, 1,000 steps, never Kodak): with revision 1's synthesis, C3's
double soft rounding against additive uniform noise moved the fit from 2.7 dB below WebP at equal
rate to 0.1 dB above it; with revision 2's it is 0.4 dB below WebP at 0.64 bpp.
The loop, best-state keeping and the resumable state are the fitting engine's (:mod:`neuralcodecs.fitting`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ...fitting import cosine, linear, run_fit, soap_and_adam
from .model import OverfitModel


#: fields of :class:`ImageFitConfig` added after fits were kept, with the behaviour fits had before them:
#: a state's fingerprint leaves a field out at that value, so states of earlier fits stay valid
LATER_FIELDS = {"noise_kind": "uniform", "final_phase": "ste", "final_lr": 0.0, "optimizer": "adam"}


@dataclass(frozen=True)
class ImageFitConfig:
    steps: int = 2000
    lam: float = 1e-3  # weight of the rate (bits per pixel) against the MSE (pixels in [0, 1])
    lr: float = 2e-2  # 1e-2 reached a higher loss in 1,000 steps on a BSDS crop (0.0018 vs 0.0016)
    quantizer: str = "soft"  # phase 1: "soft" (C3: soft rounding + noise) or "noise" (additive uniform noise, the ablation)
    noise_fraction: float = 0.9  # 0.8 fitted 0.1 dB worse at 1,000 steps on a BSDS image
    temperature: tuple[float, float] = (0.3, 0.1)  # soft rounding, phase 1 start / end (C3, Cool-chic)
    noise: tuple[float, float] = (0.5, 0.5)  # half-width of the uniform noise, phase 1 start / end
    final_lr_factor: float = 0.1
    save_every: int = 250
    eval_every: int = 50  # steps between measurements of the true loss (the fit keeps its best state)
    bf16: bool = True  # on the CPU: the synthesis and the ARM under bf16 autocast (upsampling and rate integral float32)
    seed: int = 0
    # > 0: clip the gradient norm of the networks (not the latents) to this, as Cool-chic does.  Off: at
    # 1,000 steps on four BSDS test photos (lambda 0.0032) 0.1 changed the true loss by -18.3%,
    # -0.5%, +9.0% and +9.3% (benchmarks/fit_recipe.py)
    clip: float = 0.0
    # > 1: warm-up of this many initialisations (seeds seed, seed + 1, ...), the best continues.  Off: 3 x 50
    # of 1,000 steps changed the true loss by -9.9%, -3.0%, +1.4% and +22.2% on four BSDS test photos
    candidates: int = 1
    candidate_steps: int = 0  # steps of each candidate's warm-up (every candidate's count towards ``steps``)
    # phase 1's noise: "uniform" (half-width ``noise``) or "gaussian" (standard deviation ``noise``, Cool-chic 5)
    noise_kind: str = "uniform"
    # phase 2: "ste" (straight-through rounding, latents and networks fitted) or "hard" (Cool-chic 5's
    # "hardround": rounded latents take no gradient, only the networks adapt to them)
    final_phase: str = "ste"
    final_lr: float = 0.0  # > 0: phase 2's learning rate (Cool-chic 5: 1e-4); 0: ``lr * final_lr_factor``
    # "soap": SOAP on the networks and Adam on the latents (Cool-chic 5), or "adam" on everything.  SOAP:
    # on 8 BSDS500 test photos at 1,000 steps (lambda 0.0032) the true loss fell on every photo, 4-25%
    # (benchmarks/fit_recipe.py, results/fit_recipe_cc5.md)
    optimizer: str = "soap"

    def __post_init__(self):
        if self.quantizer not in ("soft", "noise"):
            raise ValueError(f"unknown phase-1 quantizer {self.quantizer!r} (soft, noise)")
        if self.noise_kind not in ("uniform", "gaussian") or self.final_phase not in ("ste", "hard"):
            raise ValueError(f"unknown noise {self.noise_kind!r} (uniform, gaussian) or final phase "
                             f"{self.final_phase!r} (ste, hard)")
        if self.optimizer not in ("adam", "soap"):
            raise ValueError(f"unknown optimizer {self.optimizer!r} (adam, soap)")
        if self.candidates < 1 or (self.candidates > 1 and not 0 < self.candidate_steps < self.main_steps):
            raise ValueError(f"invalid warm-up: {self.candidates} candidates of {self.candidate_steps} steps in {self.steps}")

    def fingerprint(self) -> dict:
        """The configuration a resumable state records: every field, but the recipe options added after
        stream revision 3 only where they differ from what fits did before them (:data:`LATER_FIELDS`)."""
        return {k: v for k, v in asdict(self).items() if k not in LATER_FIELDS or v != LATER_FIELDS[k]}

    @property
    def main_steps(self) -> int:
        """Steps of the schedule the winning candidate follows to the end (the losers' warm-ups are the rest)."""
        return self.steps - (self.candidates - 1) * self.candidate_steps if self.candidates > 1 else self.steps


def fit_image(model: OverfitModel, image: torch.Tensor, cfg: ImageFitConfig, checkpoint: str | Path | None = None,
              progress: bool = False, identity: dict | None = None) -> dict:
    """Fit ``model`` to ``image`` ``(1, 3, H, W)`` in [0, 1] on the fitting engine
    (:func:`~neuralcodecs.fitting.run_fit`); the model is left at its best state.
    Returns ``{"seconds"}`` plus :func:`true_loss` of that state.

    With ``cfg.candidates > 1`` (and no state to resume), each candidate initialisation first
    fits ``cfg.candidate_steps`` steps of the schedule; the one with the lowest true loss
    continues (Cool-chic's warm-up).  The warm-up is not saved: a resumed fit restores the
    winner's later state."""
    _, _, H, W = image.shape
    started = time.time()
    torch.manual_seed(cfg.seed)
    steps = cfg.main_steps
    noise_steps = int(cfg.noise_fraction * steps)
    bf16 = cfg.bf16 and image.device.type == "cpu"
    pixels = H * W
    last = {}

    final_lr = cfg.final_lr or cfg.lr * cfg.final_lr_factor
    groups = 2 if cfg.optimizer == "soap" else 1

    def learning_rates(step: int) -> list[float]:
        if step < noise_steps:
            return [max(cosine(step / max(1, noise_steps), cfg.lr), 1e-6)] * groups
        tail = (step - noise_steps) / max(1, steps - noise_steps)
        return [max(cosine(tail, final_lr), 1e-6)] * groups

    def step_of(fitted: OverfitModel):
        def step(k: int) -> torch.Tensor:
            if k < noise_steps:
                p = k / max(1, noise_steps)
                grids = fitted.quantized_grids(cfg.quantizer, linear(p, *cfg.temperature), linear(p, *cfg.noise),
                                               gaussian=cfg.noise_kind == "gaussian")
            else:
                # "hard": the rounded latents are constants (no gradient at all, so Adam's momentum cannot move them)
                grids = fitted.quantized_grids("ste") if cfg.final_phase == "ste" else [g.detach() for g in fitted.quantized_grids("round")]
            mse = F.mse_loss(fitted.synthesize(grids, bf16=bf16)[:, :, :H, :W], image)
            bits = fitted.rate_bits(grids, bf16=bf16)
            last.update(mse=mse, bits=bits)
            return mse + cfg.lam * bits / pixels
        return step

    def figures() -> dict:
        return {"psnr": f"{-10 * math.log10(max(last['mse'].item(), 1e-10)):.2f}", "bpp": f"{last['bits'].item() / pixels:.3f}"}

    def clipped(fitted: OverfitModel):
        return ([p for n, p in fitted.named_parameters() if not n.startswith("grids.")], cfg.clip) if cfg.clip > 0 else None

    optimizer = optimizer_of(model, cfg)
    first = 0
    if cfg.candidates > 1 and not (checkpoint and Path(checkpoint).exists()):
        first = cfg.candidate_steps
        best = None
        for c in range(cfg.candidates):
            torch.manual_seed(cfg.seed + c)
            candidate = OverfitModel(model.cfg, H, W).to(image.device)  # a fresh initialisation of this seed
            trial = optimizer_of(candidate, cfg)
            run_fit(step_of(candidate), candidate, trial, steps, learning_rates, until=first, clip=clipped(candidate),
                    progress=progress, desc=f"warm-up {c + 1}/{cfg.candidates}", figures=figures)
            loss = true_loss(candidate, image, cfg.lam)["loss"]
            if best is None or loss < best[0]:
                best = (loss, candidate.state_dict(), trial.state_dict())
        model.load_state_dict(best[1])
        optimizer.load_state_dict(best[2])
    run_fit(step_of(model), model, optimizer, steps, learning_rates, fingerprint={"config": cfg.fingerprint(), "identity": identity},
            state_path=checkpoint, save_every=cfg.save_every, evaluate=lambda: true_loss(model, image, cfg.lam)["loss"],
            eval_every=cfg.eval_every, clip=clipped(model), progress=progress, figures=figures, start=first)
    return {"seconds": time.time() - started, **true_loss(model, image, cfg.lam)}


def optimizer_of(model: OverfitModel, cfg: ImageFitConfig):
    """Adam on every parameter, or (``cfg.optimizer == "soap"``) SOAP on the networks and Adam on
    the latent grids, groups ``[networks, latents]`` (:func:`~neuralcodecs.fitting.soap_and_adam`)."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    named = list(model.named_parameters())
    return soap_and_adam([p for n, p in named if not n.startswith("grids.")], [p for n, p in named if n.startswith("grids.")],
                         cfg.lr)


@torch.no_grad()
def true_loss(model: OverfitModel, image: torch.Tensor, lam: float) -> dict:
    """``{"bpp", "psnr", "loss"}`` of ``model`` on ``image`` ``(1, 3, H, W)`` with rounded latents and
    pixels rounded to 8 bits: the float ARM's estimate (the file adds the networks and the coding overhead)."""
    _, _, H, W = image.shape
    grids = model.quantized_grids("round")
    out = model.synthesize(grids).clamp(0, 1)
    mse = F.mse_loss(torch.round(out[:, :, :H, :W] * 255) / 255, image).item()
    bits = model.rate_bits(grids).item()
    return {"bpp": bits / (H * W), "psnr": -10 * math.log10(max(mse, 1e-10)), "loss": mse + lam * bits / (H * W)}
