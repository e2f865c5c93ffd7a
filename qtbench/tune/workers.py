"""Starting K tuning workers: local processes or a SLURM job array.

:func:`start_workers` is the one place that knows how workers are launched, so it can later be switched to
the shared launchers of :mod:`qtbench.launch` without touching the rest of the tuner. Every worker runs
:func:`qtbench.tune.worker.work` on the same spec file; they share nothing but the study's storage.

- ``local``: plain ``python -m qtbench.tune.worker`` subprocesses (no submitit controller in between, so the
  worker's pid is the process that runs trials and ``kill -9`` of it is exactly a dead worker).
- ``slurm``: one submitit job array of K workers (``sbatch`` must exist).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from qtbench.errors import UserError

LAUNCHERS = ("local", "slurm")
# a SLURM worker keeps taking trials until the study is done; if the time limit kills it mid-trial, the
# other workers retry that trial (heartbeat) and a re-run adds fresh workers. One day fits most queues.
DEFAULT_SLURM_TIMEOUT_MIN = 24 * 60


@dataclass
class WorkerHandle:
    """A started worker: ``poll()`` -> exit code or None while it runs."""

    index: int
    launcher: str
    log: Path
    pid: Optional[int] = None
    job_id: Optional[str] = None
    _proc: Any = field(default=None, repr=False)
    _job: Any = field(default=None, repr=False)

    def poll(self) -> Optional[int]:
        if self._proc is not None:
            return self._proc.poll()
        if not self._job.done():
            return None
        try:
            self._job.result()
            return 0
        except Exception:  # noqa: BLE001 - a failed SLURM worker; its log says why
            return 1

    def stop(self) -> None:
        """Ask the worker to stop (SIGINT: its running trial is marked FAIL instead of left RUNNING)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
        elif self._job is not None and not self._job.done():
            self._job.cancel(check=False)


def local_threads(k: int) -> int:
    """torch threads per local worker: the cores split between the K workers (oversubscription slows all)."""
    return max(1, (os.cpu_count() or 1) // max(1, k))


def start_workers(launcher: str, spec_path: Path, k: int, log_dir: Path,
                  slurm_params: Optional[dict[str, Any]] = None) -> list[WorkerHandle]:
    """Start ``k`` workers on the study spec at ``spec_path``.

    Args:
        launcher: ``local`` or ``slurm``.
        spec_path: the invocation's spec JSON (on storage every worker can read).
        k: number of workers.
        log_dir: where worker logs go (local: ``worker-<i>.log``; slurm: submitit's folder).
        slurm_params: extra submitit parameters (``slurm_partition``, ``timeout_min``, ``cpus_per_task``...).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    if launcher == "local":
        handles = []
        for i in range(k):
            log = log_dir / f"worker-{i}.log"
            with open(log, "ab") as fh:
                proc = subprocess.Popen([sys.executable, "-m", "qtbench.tune.worker", str(spec_path), str(i)],
                                        stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=dict(os.environ))
            handles.append(WorkerHandle(i, "local", log, pid=proc.pid, _proc=proc))
        return handles
    if launcher == "slurm":
        import shutil

        import submitit

        from qtbench.tune.worker import work

        if shutil.which("sbatch") is None:
            raise UserError("--launcher slurm: sbatch is not on PATH (use --launcher local here)")
        ex = submitit.AutoExecutor(folder=log_dir / "slurm", cluster="slurm")
        params = {"timeout_min": DEFAULT_SLURM_TIMEOUT_MIN, "name": "qtbench-tune", "slurm_array_parallelism": k}
        params.update(slurm_params or {})
        try:
            ex.update_parameters(**params)
        except (TypeError, ValueError) as exc:
            raise UserError(f"--slurm-param: {exc}") from None
        jobs = ex.map_array(work, [str(spec_path)] * k, list(range(k)))
        return [WorkerHandle(i, "slurm", Path(j.paths.stdout), job_id=str(j.job_id), _job=j)
                for i, j in enumerate(jobs)]
    raise UserError(f"--launcher {launcher!r}: choose one of {', '.join(LAUNCHERS)}")
