"""The compressed-domain adapter: codec latents -> visual tokens for vision-language models.

- :mod:`.tokens`: :class:`VisualTokens` (tokens, mask, ``(t, y, x)`` positions).
- :mod:`.strategies`: the token-budget strategies (``all``, ``uniform``, ``dct``, ``kcenter``,
  ``tome``, ``rate``, ``keyframe``).
- :mod:`.projector`, :mod:`.train_projector`: a trainable projector per codec, distilled from
  the pixel-domain MobileNetV2.
- :mod:`.core`: :func:`tokens_from_latents`, :func:`tokens_from_file`.
- :mod:`.hf`: injection into Hugging Face LLaVA / LLaVA-OneVision / Qwen2-VL / Qwen2.5-VL
  (needs the ``vlm`` extra: ``transformers``).
"""

from .core import tokens_from_file, tokens_from_latents
from .strategies import STRATEGIES, get_strategy
from .tokens import VisualTokens

__all__ = ["VisualTokens", "tokens_from_latents", "tokens_from_file", "STRATEGIES", "get_strategy"]
