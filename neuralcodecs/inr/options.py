"""Quality and options of the overfitted video codecs (no torch here: the registry and the CLI read them).

* quality = **model size in millions of parameters** (what HNeRV's papers sweep for their
  rate-distortion curves); ``ncodec encode --size 0.3M`` is the same as ``--quality 0.3``;
* ``effort`` = fitting epochs (passes over the clip): ``fast`` / ``medium`` / ``best``;
* ``fit_state`` = a file where fitting saves its state every few hundred steps; an interrupted
  encode given the same file (and the same clip and settings) resumes from it;
* ``recipe`` (``nerv``, ``nirvana``) = ``paper`` for the published configuration and training,
  ``cpu`` for the reduced one tuned here.
"""

from __future__ import annotations

import re

from ..codec import CodecOption, QualitySpec
from ..errors import CodecArgumentError

SIZE_UNIT = "million parameters"
MAX_PARAMETERS = 64_000_000
MODEL_SIZE_QUALITY = QualitySpec(0.005, MAX_PARAMETERS / 1e6, 0.3, 0.001, (0.1, 0.2, 0.4), unit=SIZE_UNIT)
EFFORT_EPOCHS = {"fast": 60, "medium": 200, "best": 600}
EFFORT_OPTION = CodecOption(
    "effort", str, "medium",
    "fitting epochs (passes over the clip): fast 60, medium 200 (default), best 600",
    choices=tuple(EFFORT_EPOCHS),
    costs=tuple((effort, epochs, "epochs") for effort, epochs in EFFORT_EPOCHS.items()),
)
FIT_STATE_OPTION = CodecOption(
    "fit_state", str, "",
    "file where fitting saves its state; an interrupted encode given it again resumes",
)
PRUNE_OPTION = CodecOption("prune", float, 0.0, "nerv: fraction of weights pruned by magnitude after fitting, then fine-tuned",
                           minimum=0.0, maximum=0.9)
RECIPE_OPTION = CodecOption(
    "recipe", str, "cpu",
    "paper: the published configuration and training (nerv: widths halving down to 96, a 512-wide stem, "
    "40 encoding levels, 0.7 L1 + 0.3 (1 - SSIM) at lr 5e-4; nirvana: 32x32 patches of 16 channels, every "
    "parameter trained quantization-aware); cpu (default): the reduced one tuned on this project's CPU",
    choices=("cpu", "paper"),
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmM])\s*$")


#: the papers' named sizes (1280x720 Bunny): NeRV-S/M/L (Chen 2021, Table 1), HNeRV 0.35M..3M (Chen 2023)
PAPER_SIZES = {"nerv-s": 3.2, "nerv-m": 6.3, "nerv-l": 12.5, "hnerv-0.35m": 0.35, "hnerv-0.75m": 0.75,
               "hnerv-1.5m": 1.5, "hnerv-3m": 3.0}


def parse_model_size(text: str) -> float:
    """``"0.3M"``, ``"300k"`` or a paper's name (``"NeRV-S"``, :data:`PAPER_SIZES`) -> millions of
    parameters; :class:`CodecArgumentError` otherwise."""
    named = PAPER_SIZES.get(str(text).strip().lower())
    if named is not None:
        return named
    match = _SIZE.match(str(text))
    if not match:
        raise CodecArgumentError(f"a model size is a number of parameters such as 0.3M or 300k, or one of "
                                 f"{', '.join(PAPER_SIZES)}; got {text!r}")
    value = float(match.group(1)) * (1e-3 if match.group(2) in "kK" else 1.0)
    return round(value, 6)


def looks_like_model_size(text) -> bool:
    return isinstance(text, str) and (bool(_SIZE.match(text)) or text.strip().lower() in PAPER_SIZES)
