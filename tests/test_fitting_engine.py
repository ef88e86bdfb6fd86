"""The fitting engine (neuralcodecs.fitting): resume is exact, the best state is kept, warm-ups continue."""

from __future__ import annotations

import pytest
import torch

from neuralcodecs.errors import StateFileError
from neuralcodecs.fitting import cosine, linear, run_fit, warmup_cosine
from neuralcodecs.fitting.allocator import keep_freed_memory


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(4))
        self.b = torch.nn.Parameter(torch.ones(3))


def toy_fit(steps, path=None, until=None, fingerprint=None, evaluate=None, clip=None, losses=None):
    """A fit whose every step draws from the global RNG and from a generator (both must resume)."""
    torch.manual_seed(0)
    model = Toy()
    generator = torch.Generator().manual_seed(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    target = torch.arange(4.0)

    def step(k):
        noise = torch.rand(4) * 0.1 + torch.rand(4, generator=generator) * 0.1
        loss = ((model.a + noise - target) ** 2).sum() + 10 * (model.b ** 2).sum()
        if losses is not None:
            losses.append(loss.item())
        return loss

    outcome = run_fit(step, model, optimizer, steps, lambda k: [cosine(k / steps, 0.1)], state_path=path, save_every=3,
                      fingerprint=fingerprint or {"config": {"steps": steps}}, generator=generator, until=until,
                      evaluate=evaluate and (lambda: evaluate(model)), eval_every=1, clip=clip and (clip(model), 1e-3))
    return model, outcome


def test_a_resumed_fit_is_the_fit_that_never_stopped(tmp_path):
    straight, outcome = toy_fit(10)
    assert outcome.steps == 10
    path = tmp_path / "fit.state"
    toy_fit(10, path, until=6)  # interrupted after step 6: the state on disk is from step 6
    resumed, again = toy_fit(10, path)
    assert again.steps == 10
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name


def test_a_state_of_another_fit_is_refused(tmp_path):
    path = tmp_path / "fit.state"
    toy_fit(4, path)
    with pytest.raises(StateFileError, match="another fit"):
        toy_fit(4, path, fingerprint={"config": {"steps": 4, "lam": 2}})


def test_the_fit_ends_at_its_best_state():
    measured = []

    def evaluate(model):  # the true loss is lowest after step 3, then rises
        measured.append(model.a.detach().clone())
        return abs(len(measured) - 3)

    model, outcome = toy_fit(8, evaluate=evaluate)
    assert outcome.best_loss == 0 and torch.equal(model.a.detach(), measured[2])


def test_clipping_touches_only_the_parameters_it_is_given():
    free, _ = toy_fit(3)
    clipped, _ = toy_fit(3, clip=lambda m: [m.b])
    assert torch.equal(free.a, clipped.a) and not torch.equal(free.b, clipped.b)


def test_schedules_are_pure_functions_of_progress():
    assert cosine(0, 2.0) == 2.0 and cosine(1, 2.0, 0.5) == 0.5 and cosine(0.5, 2.0) == pytest.approx(1.0)
    assert linear(0.25, 0.3, 0.1) == pytest.approx(0.25) and linear(2, 0.3, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(0, 10, 1.0, 0.2) == 0.5 and warmup_cosine(2, 10, 1.0, 0.2) == 1.0


def test_the_allocator_setting_is_applied_once_and_reports_itself():
    first = keep_freed_memory()
    assert keep_freed_memory() is first and isinstance(first, bool)


def test_an_overfit_warm_up_counts_its_candidates_and_is_deterministic():
    from neuralcodecs.inr.overfit.fitting import ImageFitConfig, fit_image
    from neuralcodecs.inr.overfit.model import OverfitConfig, OverfitModel

    with pytest.raises(ValueError, match="warm-up"):
        ImageFitConfig(steps=100, candidates=3, candidate_steps=50)  # the winner would have no steps left
    cfg = ImageFitConfig(steps=40, lam=0.02, candidates=3, candidate_steps=5, eval_every=5)
    assert cfg.main_steps == 30
    image = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    reports = []
    for _ in range(2):
        torch.manual_seed(0)
        model = OverfitModel(OverfitConfig(levels=3, hidden=4, context=4, arm_hidden=4), 16, 24)
        reports.append((fit_image(model, image, cfg), [p.detach().clone() for p in model.parameters()]))
    assert reports[0][0]["loss"] == reports[1][0]["loss"]
    assert all(torch.equal(a, b) for a, b in zip(reports[0][1], reports[1][1]))


def _rounded_quadratic(target: torch.Tensor):
    """A refinement loss whose hard-rounded optimum is ``round(target)``: ``|| q(v) - target ||^2``."""
    from neuralcodecs.fitting import sga_round

    def loss(latents, tau, generator):
        v = latents["v"]
        q = sga_round(v, tau, generator) if tau is not None else torch.round(v)
        return ((q - target) ** 2).sum()

    return loss


def test_refinement_moves_latents_to_a_better_hard_rounded_state():
    from neuralcodecs.fitting import refine

    target = torch.tensor([2.0, -3.0, 0.0, 5.0])
    loss = _rounded_quadratic(target)
    start = {"v": torch.full((4,), 0.3)}  # off the integers, where SGA's relaxation has a gradient
    out = refine(loss, start, 60, 0.2)
    assert float(loss(out, None, None)) < float(loss(start, None, None))
    assert torch.equal(start["v"], torch.full((4,), 0.3))  # the caller's tensors are not touched
    assert torch.equal(refine(loss, start, 60, 0.2)["v"], out["v"])  # seeded: the same result every time


def test_refinement_never_returns_a_state_worse_than_its_start():
    from neuralcodecs.fitting import refine

    target = torch.tensor([2.0, -3.0])
    loss = _rounded_quadratic(target)
    start = {"v": target.clone()}  # already the hard-rounded optimum; a huge step can only lose
    out = refine(loss, start, 8, 50.0)
    assert torch.equal(out["v"], start["v"])
    assert torch.equal(refine(loss, start, 0, 0.1)["v"], start["v"])


def test_an_overfit_fit_with_soap_and_the_hard_final_phase_resumes_exactly(tmp_path, monkeypatch):
    """Cool-chic 5's recipe elements (SOAP on the networks beside Adam on the latents, Gaussian noise,
    hard rounding at the end): a fit stopped after step 20 (in the hard phase) and resumed from its
    state is the fit that never stopped, and in the hard phase the latents no longer move."""
    from neuralcodecs.inr.overfit import fitting
    from neuralcodecs.inr.overfit.model import OverfitConfig, OverfitModel

    cfg = fitting.ImageFitConfig(steps=24, lam=0.02, optimizer="soap", noise_kind="gaussian", temperature=(0.35, 0.08),
                                 noise=(0.22, 0.15), final_phase="hard", final_lr=1e-4, noise_fraction=0.75,
                                 save_every=4, eval_every=100)
    assert {"optimizer", "final_phase"} <= set(cfg.fingerprint()) and "optimizer" not in fitting.ImageFitConfig(optimizer="adam").fingerprint()
    image = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(0))

    def fitted(path=None):
        torch.manual_seed(0)
        model = OverfitModel(OverfitConfig(levels=3, hidden=4, context=4, arm_hidden=4), 16, 24)
        fitting.fit_image(model, image, cfg, checkpoint=path)
        return model

    straight = fitted()
    path = tmp_path / "fit.state"
    engine_run = fitting.run_fit
    grids_at = {}

    def stopped(*args, **kwargs):  # the fit stops after step 20, as if the process had been killed there
        outcome = engine_run(*args, **{**kwargs, "until": 20})
        grids_at[20] = [g.detach().clone() for g in args[1].grids]
        return outcome

    monkeypatch.setattr(fitting, "run_fit", stopped)
    fitted(path)
    monkeypatch.setattr(fitting, "run_fit", engine_run)
    resumed = fitted(path)
    for name, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert all(torch.equal(a, b) for a, b in zip(grids_at[20], resumed.grids))  # steps 21-24: hard rounding
