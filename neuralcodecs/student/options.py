"""Torch-free declarations of the ``student`` codec (the registry and ``ncodec list`` read them)."""

from __future__ import annotations

from ..codec import QualitySpec

#: the shipped model's rate points: one gain vector and one factorized prior per level
LEVELS = 5
QUALITY = QualitySpec.from_ladder(range(1, LEVELS + 1), default=3, unit="rate level")
#: the teacher the bottleneck was distilled from and whose tail reads it
TEACHER = "mobilenet_v2"
