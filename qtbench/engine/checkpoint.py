"""Full-state checkpoints (docs/architecture.md §6), written atomically.

A checkpoint holds everything needed to continue bit-for-bit on CPU: student, teacher, optimiser,
scheduler, step, RNG states (python, numpy, torch, and the run's own generators), framework and
add-on state, timers, the trajectory so far and the MLflow run id.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qtbench import atomic

CHECKPOINT = "checkpoint.pt"


def global_rng_state() -> dict[str, Any]:
    """Python, numpy (legacy global) and torch global RNG states, and CUDA's when CUDA has been used."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`global_rng_state` (CUDA's only where it was saved and the same GPUs are visible)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")  # absent in checkpoints of CPU-only runs
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save(run_dir: Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` (plus global RNG states) to ``run_dir/checkpoint.pt``."""
    state = dict(state, global_rng=global_rng_state())
    return atomic.torch_save(Path(run_dir) / CHECKPOINT, state)


def load(run_dir: Path) -> dict[str, Any] | None:
    """The checkpoint of ``run_dir``, or None when there is none."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
