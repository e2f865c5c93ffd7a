"""submitit executors for the ``local`` and ``slurm`` launchers, and how a batch of runs is handed to them.

- ``slurm``: every run of a batch goes into one ``sbatch --array`` (``array_parallelism`` at once).
- ``local``: submitit's LocalExecutor has no parallelism cap, so runs are started in waves of
  ``array_parallelism`` processes and the calling command waits for them.
- ``debug``: no executor; :func:`run_debug` calls :class:`~qtbench.launch.job.RunJob` in this process
  (submitit's DebugExecutor would open pdb on the first failing run).
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import submitit
from omegaconf import DictConfig

from qtbench.launch import jobrecord
from qtbench.launch.job import RunJob

# callback(index, outcome, detail): outcome is "done" (detail: summary) or "failed" (detail: one line)
Report = Callable[[int, str, Any], None]


def make_executor(lc: DictConfig, folder: Path, job_name: str = "qtbench") -> submitit.Executor:
    """The submitit executor of launcher config ``lc`` writing its pickles and logs under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if lc.name == "slurm":
        ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=int(lc.max_num_timeout))
        params: dict[str, Any] = dict(
            job_name=job_name, time=int(lc.timeout_min), cpus_per_task=int(lc.cpus_per_task),
            array_parallelism=int(lc.array_parallelism), signal_delay_s=int(lc.signal_delay_s),
            setup=list(lc.setup), additional_parameters=dict(lc.extra),
        )
        if lc.gpus_per_node:
            params["gpus_per_node"] = int(lc.gpus_per_node)
        if lc.mem_gb:
            params["mem"] = f"{int(round(lc.mem_gb * 1024))}M"
        for key in ("partition", "account", "qos", "constraint"):
            if lc[key]:
                params[key] = str(lc[key])
        ex.update_parameters(**params)
        return ex
    if lc.name == "local":
        ex = submitit.LocalExecutor(folder=folder, max_num_timeout=int(lc.max_num_timeout))
        ex.update_parameters(timeout_min=int(lc.timeout_min), signal_delay_s=int(lc.signal_delay_s),
                             setup=list(lc.setup))
        return ex
    raise ValueError(f"launcher {lc.name!r} has no executor")


def _queued(job: submitit.Job, lc: DictConfig, extra: dict) -> dict[str, Any]:
    rec = {"state": "queued", "launcher": lc.name, "job_id": str(job.job_id), "stdout": str(job.paths.stdout),
           "stderr": str(job.paths.stderr), "submitted": time.time(), "error": None, **extra}
    if lc.name == "local":
        rec["controller_pid"] = int(job.job_id)  # the local "job id" is its controller's pid
    return rec


def submit_slurm(lc: DictConfig, folder: Path, configs: list[dict], run_dirs: list[Path],
                 extra: Optional[dict] = None, job_name: str = "qtbench") -> list[submitit.Job]:
    """Submit ``configs`` as one SLURM job array; write each run's ``job.json`` (state ``queued``)."""
    ex = make_executor(lc, folder, job_name)
    with ex.batch():
        jobs = [ex.submit(RunJob(), c) for c in configs]
    for job, rd in zip(jobs, run_dirs):
        jobrecord.update(rd, **_queued(job, lc, extra or {}))
    return jobs


def run_local(lc: DictConfig, folder: Path, configs: list[dict], run_dirs: list[Path], report: Report,
              extra: Optional[dict] = None, job_name: str = "qtbench", poll_s: float = 0.5) -> None:
    """Run ``configs`` as local subprocesses, ``array_parallelism`` at a time, and wait for all of them."""
    ex = make_executor(lc, folder, job_name)
    todo = list(range(len(configs)))
    running: dict[int, submitit.Job] = {}
    while todo or running:
        while todo and len(running) < int(lc.array_parallelism):
            i = todo.pop(0)
            job = ex.submit(RunJob(), configs[i])
            jobrecord.update(run_dirs[i], **_queued(job, lc, extra or {}))
            running[i] = job
        for i, job in list(running.items()):
            if job.done():
                del running[i]
                _collect(i, job, run_dirs[i], report)
        if running:
            time.sleep(poll_s)


def _collect(i: int, job: submitit.Job, run_dir: Path, report: Report) -> None:
    try:
        report(i, "done", job.result())
    except Exception as exc:  # noqa: BLE001 - a failed cell is reported, the others go on
        rec = jobrecord.read(run_dir) or {}
        if rec.get("state") != "failed":  # died before it could say so (killed, out of memory...)
            jobrecord.update(run_dir, state="failed", error=_last_line(exc))
        report(i, "failed", (jobrecord.read(run_dir) or {}).get("error") or _last_line(exc))


SQUEUE_PATIENCE_S = 600.0  # squeue failing this long in a row: stop waiting, report the jobs as lost


def wait_all(jobs: list[submitit.Job], run_dirs: list[Path], report: Report, poll_s: float = 2.0) -> None:
    """Wait for submitted SLURM jobs, reporting each as it ends.

    A job has ended when submitit's result pickle exists, or when SLURM no longer lists it (killed before it
    could write one). ``job.done()`` is not used: without accounting storage it calls ``sacct`` (which fails
    and warns) on every poll.
    """
    pending = dict(enumerate(jobs))
    blind_since = None  # when squeue started failing (None: it answers)
    while pending:
        alive = jobrecord.slurm_states(j.job_id for j in pending.values())
        # no answer is not "gone": keep waiting, unless SLURM stays silent for SQUEUE_PATIENCE_S
        blind_since = None if alive is not None else (blind_since or time.monotonic())
        lost = blind_since is not None and time.monotonic() - blind_since >= SQUEUE_PATIENCE_S
        for i, job in list(pending.items()):
            gone = lost or (alive is not None and job.job_id not in alive)
            if job.paths.result_pickle.exists() or gone:
                del pending[i]
                _collect_pickle(i, job, run_dirs[i], report)
        if pending:
            time.sleep(poll_s)


def _collect_pickle(i: int, job: submitit.Job, run_dir: Path, report: Report) -> None:
    from submitit.core.utils import pickle_load

    for _ in range(10):  # squeue may drop the job a moment before its result pickle lands
        if job.paths.result_pickle.exists():
            break
        time.sleep(0.5)
    try:
        outcome, value = pickle_load(job.paths.result_pickle)
    except (OSError, EOFError, ValueError):
        outcome, value = "error", f"job {job.job_id} ended without a result (killed, cancelled or out of memory?)"
    if outcome == "success":
        report(i, "done", value)
        return
    rec = jobrecord.read(run_dir) or {}
    if rec.get("state") != "failed":
        jobrecord.update(run_dir, state="failed", error=_last_line(Exception(str(value))))
    report(i, "failed", (jobrecord.read(run_dir) or {}).get("error") or _last_line(Exception(str(value))))


def run_debug(configs: list[dict], run_dirs: list[Path], report: Report, extra: Optional[dict] = None) -> None:
    """Run ``configs`` one after another in this process (the ``debug`` launcher)."""
    import os
    import socket

    for i, (cfg, rd) in enumerate(zip(configs, run_dirs)):
        jobrecord.update(rd, state="queued", launcher="debug", job_id=f"debug-{os.getpid()}", pid=os.getpid(),
                         host=socket.gethostname(), submitted=time.time(), error=None, **(extra or {}))
        try:
            report(i, "done", RunJob()(cfg))
        except Exception as exc:  # noqa: BLE001 - RunJob already recorded the failure in job.json
            report(i, "failed", _last_line(exc))


def _last_line(exc: BaseException) -> str:
    """The most telling line of an exception; submitit's FailedJobError carries the job's traceback."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    errors = [ln for ln in lines if "Error" in ln.split(":")[0] or "Exception" in ln.split(":")[0]]
    return (errors[-1] if errors else lines[-1])[:500] or "".join(traceback.format_exception_only(exc)).strip()
