"""Full-state checkpoints (docs/architecture.md §6), written atomically.

A checkpoint holds everything needed to continue bit-for-bit on CPU: student, teacher, optimiser,
scheduler, step, RNG states (python, numpy, torch, and the run's own generators), framework and
add-on state, timers, the trajectory so far and the MLflow run id.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qtbench import atomic
from qtbench.errors import UserError
from qtbench.safe_load import DamagedFile, load_torch

CHECKPOINT = "checkpoint.pt"


def global_rng_state() -> dict[str, Any]:
    """Python, numpy (legacy global) and torch global RNG states, and CUDA's when CUDA has been used."""
    state = {"python": random.getstate(), "numpy": _numpy_state_plain(np.random.get_state()),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`global_rng_state` (CUDA's only where it was saved and the same GPUs are visible)."""
    random.setstate(state["python"])
    np.random.set_state(_numpy_state_array(state["numpy"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")  # absent in checkpoints of CPU-only runs
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _numpy_state_plain(state: tuple) -> tuple:
    """numpy's legacy RNG state with its key array as a uint32-valued int64 tensor: loadable with
    ``weights_only=True`` and no numpy allowlist."""
    name, keys, pos, has_gauss, cached = state
    return (name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached))


def _numpy_state_array(state: tuple) -> tuple:
    """The inverse of :func:`_numpy_state_plain`; a state saved as numpy's own tuple (earlier builds) passes."""
    name, keys, pos, has_gauss, cached = state
    if isinstance(keys, torch.Tensor):
        keys = keys.numpy().astype(np.uint32)
    return (name, keys, pos, has_gauss, cached)


def save(run_dir: Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` (plus global RNG states) to ``run_dir/checkpoint.pt``."""
    state = dict(state, global_rng=global_rng_state())
    return atomic.torch_save(Path(run_dir) / CHECKPOINT, state)


def load(run_dir: Path) -> dict[str, Any] | None:
    """The checkpoint of ``run_dir``, or None when there is none.

    Loaded with :func:`qtbench.safe_load.load_torch` (no code runs). A truncated or damaged checkpoint is moved
    aside to ``checkpoint.pt.corrupt-<time>`` and reported (UserError) with the remedy.
    """
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        return None
    try:
        state = load_torch(path, "checkpoint")
    except DamagedFile as exc:
        aside = path.with_name(f"{CHECKPOINT}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        path.replace(aside)
        raise UserError(f"{exc}; it was moved aside to {aside.name}: rerun the same command with --force to start "
                        "this run over") from None
    if not isinstance(state, dict) or "step" not in state:
        raise UserError(f"{path} is not a qtbench checkpoint (no training state in it); rerun with --force to "
                        "start this run over")
    return state
