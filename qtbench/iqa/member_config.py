"""One ensemble member's config (docs/method.md §3.1), torch-free.

Its own module so that the presets (:mod:`qtbench.iqa.presets`) and the ``iqa`` config section
(:mod:`qtbench.iqa.config`, which checks preset names) both build on it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass
class MemberConfig:
    """One ensemble member (docs/method.md §3.1).

    Args:
        name: a registered member (``niqe_fit``, ``degprob``) or any pyiqa NR metric name (``piqe``, ``musiq``...).
        weight: weight in the combined score (docs/method.md §3.2); must be >= 0.
        lo, hi: raw score range used for normalisation (None: the member's own range).
        lower_better: direction of the raw score (None: the member's own metadata).
        clamp: clip the normalised score to [0, 1] (the official code does not clip MUSIQ; BRISQUE only from below).
        floor: clip the *raw* score from below before normalising (official BRISQUE: ``max(raw, 0)``); None = no floor.
    """

    name: str = "piqe"
    weight: float = 1.0
    lo: Optional[float] = None
    hi: Optional[float] = None
    lower_better: Optional[bool] = None
    clamp: bool = False
    floor: Optional[float] = None
