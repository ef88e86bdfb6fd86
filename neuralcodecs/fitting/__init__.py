"""The one fitting engine of the library (loop, schedules, best state, resumable state, progress).

Users: the overfitted image codec (:mod:`neuralcodecs.inr.overfit.fitting`), the implicit video
codecs (:mod:`neuralcodecs.inr.fitting`) and latent refinement of trained codecs
through :func:`refine` (:mod:`neuralcodecs.image.hyperprior_refine`, :mod:`neuralcodecs.image.s2lic.refine`,
:mod:`neuralcodecs.image.walloc.refine`).  Each supplies its model and loss.
"""

from .engine import FitOutcome, frozen_parameters, run_fit
from .optimizers import OptimizerPair, soap_and_adam
from .refinement import ladder_slope, refine
from .relaxations import sga_round, sga_temperature
from .schedules import cosine, linear, warmup_cosine

__all__ = ["FitOutcome", "frozen_parameters", "run_fit", "OptimizerPair", "soap_and_adam", "cosine", "linear", "warmup_cosine", "sga_round", "sga_temperature", "refine", "ladder_slope"]
