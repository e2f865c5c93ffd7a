"""Stop requests that wait for a step boundary (preemption, time limits; docs/architecture.md §6-7).

A launcher's signal handler calls :func:`request` while the PL loop is :func:`armed`; the loop checks
:func:`requested` before each step, writes a full checkpoint and raises :class:`Preempted`. Saving at a
step boundary, never in the middle of one, is what lets the resumed job end with the same metrics as an
uninterrupted run. The engine knows nothing about submitit or SLURM; :mod:`qtbench.launch.job` does.
"""

from __future__ import annotations

_state = {"armed": False, "requested": False}


class Preempted(Exception):
    """The PL loop stopped on request after checkpointing step ``step``; the job should requeue."""

    def __init__(self, step: int) -> None:
        super().__init__(f"stopped on request after checkpointing PL step {step}")
        self.step = step


def arm() -> None:
    """The PL loop is running: from now on a stop request waits for the end of the current step."""
    _state["armed"] = True


def disarm() -> None:
    """The PL loop is over (or failed): stop requests can no longer be honoured at a step boundary."""
    _state["armed"] = False


def armed() -> bool:
    return _state["armed"]


def request() -> None:
    """Ask the running PL loop to checkpoint and stop before its next step."""
    _state["requested"] = True


def requested() -> bool:
    return _state["requested"]


def clear() -> None:
    """Forget any request (a new job in the same process)."""
    _state.update(armed=False, requested=False)
