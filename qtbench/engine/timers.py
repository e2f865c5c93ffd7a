"""Per-stage wall-clock timers (data, teacher, scoring, student, optimiser)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

STAGES = ("data", "teacher", "scoring", "student", "optimiser")


class StageTimer:
    """Accumulates seconds per named stage; ``with timer("teacher"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        for s in STAGES:
            self.seconds[s] = 0.0

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0

    def state_dict(self) -> dict[str, float]:
        return dict(self.seconds)

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.seconds.update(state)
