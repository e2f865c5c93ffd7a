"""``qtbench run --launcher local|slurm``: one run as a submitit job, waited for like an in-process run."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from qtbench.config.compose import run_dir
from qtbench.errors import UserError
from qtbench.launch import executor, jobrecord
from qtbench.launch.config import threads_per_run


def submit_and_wait(cfg: DictConfig, lc: DictConfig) -> dict:
    """Submit ``cfg`` with launcher ``lc`` (logs in ``<run_dir>/submitit``) and return its summary.

    Raises:
        UserError: the job failed; the message carries its last error line and log path.
    """
    rd = run_dir(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    # the job may start in another working directory (sbatch --chdir, another node): absolute paths only
    config["runtime"]["runs_dir"] = str(Path(cfg.runtime.runs_dir).resolve())
    if cfg.runtime.tracking_uri is None and os.environ.get("MLFLOW_TRACKING_URI"):
        config["runtime"]["tracking_uri"] = os.environ["MLFLOW_TRACKING_URI"]
    config["runtime"]["progress"] = False
    if not cfg.runtime.threads:
        config["runtime"]["threads"] = threads_per_run(lc)
    rd.mkdir(parents=True, exist_ok=True)
    out: dict = {}

    def report(_: int, outcome: str, detail) -> None:
        out[outcome] = detail

    folder = rd / "submitit"
    if lc.name == "slurm":
        jobs = executor.submit_slurm(lc, folder, [config], [rd], job_name=f"qt-{cfg.method}")
        print(f"submitted SLURM job {jobs[0].job_id}; log {jobs[0].paths.stdout}", flush=True)
        executor.wait_all(jobs, [rd], report)
    else:
        executor.run_local(lc, folder, [config], [rd], report)
    if "done" in out:
        return out["done"]
    log = (jobrecord.read(rd) or {}).get("stderr")
    raise UserError(f"the {lc.name} job failed: {out.get('failed')}" + (f" (log: {log})" if log else ""))
