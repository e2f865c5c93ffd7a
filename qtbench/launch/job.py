"""The callable every launcher submits: one run, preemption-safe (submitit's checkpoint protocol).

On SLURM, submitit installs a SIGUSR2 handler that calls :meth:`RunJob.checkpoint`, requeues the job
and exits. Called in the middle of a PL step that would checkpoint a half-updated model, so
:class:`RunJob` wraps it: while the PL loop runs, the signal only *requests* a stop
(:mod:`qtbench.engine.interrupt`); the loop writes a full checkpoint at the next step boundary and
raises ``Preempted``; only then is submitit's handler run (checkpoint -> ``scontrol requeue`` -> exit).
The requeued job calls :class:`RunJob` again with the same config: ``execute`` finds the checkpoint
and its MLflow run id, and continues the same run from the same step.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Any, Callable, Optional

import submitit
from omegaconf import OmegaConf

from qtbench.launch import jobrecord
from qtbench.launch.runlock import run_lock


def _defer_preemption() -> Optional[Callable[[], None]]:
    """Route submitit's preemption signal through a step-boundary stop; return the hand-over to submitit.

    Returns None outside a submitit job (in-process runs have no handler to defer).
    """
    from qtbench.engine import interrupt

    sig = submitit.JobEnvironment._usr_sig()
    original = signal.getsignal(sig)
    if not callable(original):
        return None

    def handler(signum, frame) -> None:
        if interrupt.armed():  # inside the PL loop: finish this step, checkpoint, then requeue
            if not interrupt.requested():
                print(f"qtbench: signal {signum}: checkpointing at the end of this PL step, then requeueing",
                      flush=True)
            interrupt.request()
        else:  # data, base model or evaluation: nothing worth saving mid-way; requeue now
            original(signum, frame)

    signal.signal(sig, handler)
    return lambda: original(sig, None)


def _job_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {"pid": os.getpid(), "host": socket.gethostname()}
    try:
        env = submitit.JobEnvironment()
        fields.update(job_id=env.job_id, stdout=str(env.paths.stdout), stderr=str(env.paths.stderr))
        if env.cluster == "slurm":
            fields["restarts"] = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    except RuntimeError:  # not inside a submitit job (debug launcher)
        pass
    return fields


class RunJob(submitit.helpers.Checkpointable):
    """Run one resolved config (a plain container, frozen at submission) and return its summary.

    ``checkpoint`` (inherited) resubmits the same call; the run's own checkpoint carries the state.
    """

    def __call__(self, config: dict) -> dict:
        from qtbench.config.compose import literal_config, run_dir
        from qtbench.engine import interrupt
        from qtbench.runner import execute

        cfg = literal_config(config)  # resolved at submission: a '${' in a path stays literal
        OmegaConf.set_readonly(cfg, True)
        rd = run_dir(cfg)
        with run_lock(rd):
            interrupt.clear()
            hand_over = _defer_preemption()
            jobrecord.update(rd, state="running", error=None, **_job_fields())
            try:
                summary = execute(cfg)
            except interrupt.Preempted as exc:
                jobrecord.update(rd, state="requeued", step=exc.step)
                if hand_over is None:
                    raise
                try:
                    hand_over()  # submitit: checkpoint() -> requeue -> sys.exit
                except Exception as err:  # noqa: BLE001 - e.g. timed out too many times: not requeued
                    jobrecord.update(rd, state="failed", error=_one_line(err))
                    raise
                raise
            except Exception as exc:
                jobrecord.update(rd, state="failed", error=_one_line(exc))
                raise
            finally:
                interrupt.disarm()
            jobrecord.update(rd, state="done", error=None)
            return summary


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
