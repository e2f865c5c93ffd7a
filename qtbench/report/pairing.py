"""Which baseline row a row is paired with when the baseline was trained under several settings.

A sweep may train Mean Teacher under the default loss weighting and again under the official weighting or
exposure (``sweeps/reward_faithfulness.yaml``). A row is then compared with the baseline row *trained the same
way*: of the baseline's rows whose labelled values all equal the row's, the most specific one. Tables
(``layout.py``, over table entries) and the crossing reading (``crossing.py``, over setting tuples) both ask
this one question, so it is answered here once.
"""

from __future__ import annotations

from typing import Optional, Sequence, TypeVar

T = TypeVar("T")


def same_setting_baseline(values: Sequence[Optional[str]],
                          candidates: Sequence[tuple[T, Sequence[Optional[str]]]]) -> Optional[T]:
    """The candidate trained the same way as ``values``: each candidate is ``(item, its values)`` on the same
    axes, ``None`` where the candidate does not label that axis (it runs the default, which fits any row).
    Of the candidates whose labelled values all equal the row's, the one with the most labelled values; ``None``
    when none fits. Ties keep the first candidate given, so callers pass them in a stable order."""
    best, best_n = None, -1
    for item, vals in candidates:
        if all(b is None or b == v for b, v in zip(vals, values)):
            n = sum(b is not None for b in vals)
            if n > best_n:
                best, best_n = item, n
    return best
