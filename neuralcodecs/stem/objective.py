"""How ``ncodec train --codec stem`` trains: latent pairs of training video, the rate alone
(:mod:`.training`), frozen into a weights file by ``ncodec export`` (:mod:`.weights`)."""

from __future__ import annotations

from ..codec import Objective
from .training import StemTrainingModel, make_data, pair_loss
from .weights import export_from_checkpoint


def training_objective() -> Objective:
    return Objective(
        build=StemTrainingModel,
        data="latent_pairs",
        loss=pair_loss,
        aux_loss=lambda model: model.aux_loss(),
        is_aux_parameter=lambda name: name.endswith(".quantiles"),
        export=export_from_checkpoint,
        make_data=make_data,
    )
