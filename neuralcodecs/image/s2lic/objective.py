"""How ``ncodec train --codec s2lic`` trains: image crops, one random quality level per sample.

``--model-args '{"config": "cpu"}'`` picks a named configuration
(:mod:`neuralcodecs.image.s2lic.configs`: ``paper``, ``cpu`` or an ablation rung); other keys
override its fields.
"""

from __future__ import annotations

from ...codec import Objective
from ..variable_rate import random_level_loss, validate_levels
from .configs import model_args
from .model import LadderModel


def build_model(config: str = "cpu", **overrides) -> LadderModel:
    """A fresh :class:`LadderModel` of a named configuration."""
    return LadderModel(**model_args(config, **overrides))


def _export(*args, **kwargs) -> dict:
    from .export import export_from_checkpoint

    return export_from_checkpoint(*args, **kwargs)


def training_objective() -> Objective:
    return Objective(
        build=build_model,
        data="image_crops",
        loss=random_level_loss,
        aux_loss=lambda model: model.aux_loss(),
        is_aux_parameter=lambda name: name.endswith(".quantiles"),
        export=_export,
        validate=validate_levels,
    )
