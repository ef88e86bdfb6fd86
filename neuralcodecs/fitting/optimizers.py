"""Optimizers of the fitting engine beyond one ``torch.optim`` object.

Cool-chic 5 fits its networks with SOAP (Vyas et al., 2024: Adam run in the eigenbasis of a
Shampoo preconditioner) and its latent grids with Adam; :func:`soap_and_adam` builds that pair
and :class:`OptimizerPair` lets :func:`~neuralcodecs.fitting.run_fit` drive it as one optimizer
(its ``param_groups`` are the two optimizers' groups, in order).  SOAP comes from the
``pytorch_optimizer`` package.
"""

from __future__ import annotations

from typing import Iterable

import torch


class OptimizerPair:
    """Two optimizers stepped together: ``param_groups`` is ``first``'s groups then ``second``'s
    (the same dictionaries, so setting a group's ``"lr"`` reaches its optimizer); the state is both states."""

    def __init__(self, first: torch.optim.Optimizer, second: torch.optim.Optimizer):
        self.optimizers = (first, second)

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in self.optimizers for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def state_dict(self) -> dict:
        return {"first": self.optimizers[0].state_dict(), "second": self.optimizers[1].state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizers[0].load_state_dict(state["first"])
        self.optimizers[1].load_state_dict(state["second"])


def soap_and_adam(networks: Iterable[torch.nn.Parameter], latents: Iterable[torch.nn.Parameter], lr: float,
                  network_betas: tuple[float, float] = (0.95, 0.95), weight_decay: float = 0.01,
                  precondition_frequency: int = 10, max_precondition_dim: int = 256) -> OptimizerPair:
    """Cool-chic 5's optimizers: SOAP on ``networks`` (its betas, weight decay, a preconditioner
    refreshed every ``precondition_frequency`` steps on dimensions up to ``max_precondition_dim``,
    none on 1-D tensors) and Adam on ``latents``; the pair's groups are ``[networks, latents]``."""
    try:
        from pytorch_optimizer import SOAP
    except ImportError:
        raise ImportError("the SOAP optimizer needs the pytorch_optimizer package (pip install pytorch_optimizer)") from None

    soap = SOAP(list(networks), lr=lr, betas=network_betas, weight_decay=weight_decay,
                precondition_frequency=precondition_frequency, max_precondition_dim=max_precondition_dim,
                merge_dims=False, precondition_1d=False)
    return OptimizerPair(soap, torch.optim.Adam(list(latents), lr=lr))
