"""Per-stage wall-clock timers (data, teacher, scoring, student, optimiser)."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Iterator

STAGES = ("data", "teacher", "scoring", "student", "optimiser")


class StageTimer:
    """Accumulates seconds per named stage; ``with timer("teacher"): ...``."""

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        # sync: e.g. torch.cuda.synchronize, so asynchronous GPU work is charged to the stage that queued it
        # (the bench passes it on CUDA; runs leave it None and pay nothing)
        self.sync = sync
        self.seconds: dict[str, float] = defaultdict(float)
        for s in STAGES:
            self.seconds[s] = 0.0

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        if self.sync is not None:
            self.sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.sync is not None:
                self.sync()
            self.seconds[stage] += time.perf_counter() - t0

    def state_dict(self) -> dict[str, float]:
        return dict(self.seconds)

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.seconds.update(state)
