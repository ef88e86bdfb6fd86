"""How ``ncodec train --codec mcquic`` trains: image crops, MSE, one random quality per step.

McQuic has no rate term: a quality's rate is fixed by its codebooks (``m``, ``k``).  The loss is
the mean squared error in [0, 255] units; the logged ``bpp`` is the estimate under the current
usage priors.  ``--model-args '{"config": "cpu"}'`` picks a named configuration
(:mod:`neuralcodecs.image.mcquic.configs`); other keys override its fields.
"""

from __future__ import annotations

from ...codec import Objective
from ..variable_rate import random_quality_mse_loss, validate_quality_ladder
from .configs import model_args
from .model import McQuicModel


def build_model(config: str = "cpu", **overrides) -> McQuicModel:
    """A fresh :class:`McQuicModel` of a named configuration."""
    return McQuicModel(**model_args(config, **overrides))


quality_loss = random_quality_mse_loss  # one random quality per step, MSE (no rate term)
validate_qualities = validate_quality_ladder


def _export(*args, **kwargs) -> dict:
    from .weights import export_from_checkpoint

    return export_from_checkpoint(*args, **kwargs)


def training_objective() -> Objective:
    return Objective(build=build_model, data="image_crops", loss=quality_loss, export=_export, validate=validate_qualities)
