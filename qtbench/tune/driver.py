"""``qtbench tune``: validate everything, open (or continue) the study, fan out K workers, wait, summarise.

Order matters: the space, objective, pruner and the run config are all checked **before** the study or any
file exists, so a bad input leaves nothing behind. Shared state is prepared once before fan-out (the
MLflow parent run, the cached base model) so K workers do not race to create it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from qtbench.errors import UserError
from qtbench.tune import study as st
from qtbench.tune.algorithms import SAMPLERS, parse_pruner
from qtbench.tune.objective import make_objective
from qtbench.tune.space import check_against_config, describe, load_space
from qtbench.tune.space import overrides as to_overrides

# the driver re-reads the study this often while workers run (seconds): a journal read is cheap
POLL_S = 1.0


@dataclass
class TuneRequest:
    """What ``qtbench tune`` was asked (see ``qtbench tune --help`` for each field)."""

    method: str
    task: str
    space: str
    n_trials: int
    seed: int = 0
    scale: str = "cpu"
    overrides: list[str] = field(default_factory=list)
    launcher: str = "local"
    workers: int = 1
    storage: Optional[str] = None
    study: Optional[str] = None
    runs_dir: str = "runs"
    tracking_uri: Optional[str] = None
    metric: Optional[str] = None
    direction: Optional[str] = None
    pruner: str = "median"
    sampler: str = "tpe"
    report_points: int = st.DEFAULT_REPORT_POINTS
    heartbeat_interval: int = st.DEFAULT_HEARTBEAT_S
    grace_period: Optional[int] = None
    max_retry: int = st.DEFAULT_MAX_RETRY
    threads: Optional[int] = None
    slurm_params: dict[str, Any] = field(default_factory=dict)


def _check_numbers(r: TuneRequest) -> None:
    if r.n_trials < 1:
        raise UserError(f"--n-trials {r.n_trials}: must be >= 1")
    if r.workers < 1:
        raise UserError(f"--workers {r.workers}: must be >= 1")
    if r.heartbeat_interval < 1 or (r.grace_period is not None and r.grace_period <= r.heartbeat_interval):
        raise UserError("--heartbeat must be >= 1 s and --grace larger than it (a live trial beats every interval)")
    if r.report_points < 0 or r.max_retry < 0:
        raise UserError("--report-points and --max-retry must be >= 0")
    if r.sampler not in SAMPLERS:
        raise UserError(f"--sampler {r.sampler!r}: choose one of {', '.join(SAMPLERS)}")
    if r.launcher not in ("local", "slurm"):
        raise UserError(f"--launcher {r.launcher!r}: choose local or slurm")


def prepare(r: TuneRequest) -> tuple[st.StudySpec, Any]:
    """Validate the request and build the spec (writes nothing). Returns (spec, base run config)."""
    from qtbench.config.compose import compose_run
    from qtbench.paths import ensure_writable
    from qtbench.tracking.mlflow_tracker import default_tracking_uri
    from qtbench.tune.trial import check_trial_config

    _check_numbers(r)
    objective = make_objective(r.metric, r.direction)
    space = load_space(r.space)
    pruner, pruner_args = parse_pruner(r.pruner)
    ensure_writable(Path(r.runs_dir))
    name = st.safe_name(r.study) if r.study else st.study_name(r.method, r.task, Path(r.space).stem, r.scale)
    study_dir = (Path(r.runs_dir) / "tuning" / name).resolve()
    spec = st.StudySpec(
        name=name, study_dir=str(study_dir), storage=r.storage, method=r.method, task=r.task, seed=r.seed,
        scale=r.scale, overrides=list(r.overrides), space=space.to_dict(), metric=objective.metric,
        direction=objective.direction, pruner=pruner, pruner_args=pruner_args, sampler=r.sampler,
        report_points=r.report_points, heartbeat_interval=r.heartbeat_interval,
        grace_period=r.grace_period or 3 * r.heartbeat_interval, max_retry=r.max_retry,
        tracking_uri=r.tracking_uri or default_tracking_uri(Path(r.runs_dir)),
    )
    base = check_trial_config(spec)  # the study's run composes (method, task, overrides)
    spec.method = base.method  # canonical method text (aliases, bundle order): part of the study identity

    def compose(ovs: list[str]) -> Any:
        return compose_run(spec.method, spec.task, spec.seed, spec.scale, [*spec.overrides, *ovs])

    check_against_config(space, base, compose)
    return spec, base


def _warm_cache(base_cfg: Any) -> None:
    """Train (or load) the shared base model once, so K workers do not all train it at the same time."""
    from qtbench import registry
    from qtbench.engine.base_stage import get_base_model
    from qtbench.engine.build import resolve_device

    task = registry.tasks.get(base_cfg.task.name).obj(base_cfg.task)
    data = task.build(base_cfg.seed, progress=False)
    get_base_model(base_cfg, data.train, resolve_device(base_cfg.runtime.device), progress=False)


def _line(c: dict[str, int], target: int) -> str:
    parts = [f"{k.lower()} {v}" for k, v in sorted(c.items())]
    return f"  {st.finished(c)}/{target} finished ({', '.join(parts) or 'no trials yet'})"


def run(r: TuneRequest, out: Any = print) -> int:
    """Run (or continue) a study; returns the exit code (0: the target was reached)."""
    from omegaconf import OmegaConf

    from qtbench.tune import tracking
    from qtbench.tune.algorithms import make_pruner
    from qtbench.tune.workers import local_threads, start_workers

    spec, base = prepare(r)
    out(f"study {spec.name} ({spec.direction} {spec.metric} on target-val) in {spec.study_dir}")
    out(describe(load_space(r.space)))
    study = st.open_study(spec, pruner=make_pruner(spec.pruner, spec.pruner_args))
    spec.experiment = OmegaConf.select(base, "runtime.experiment", default=None) or f"qtbench-{spec.task}"
    params = {"study": spec.name, "method": spec.method, "task": spec.task, "seed": str(spec.seed),
              "scale": spec.scale, "metric": spec.metric, "direction": spec.direction,
              "overrides": " ".join(spec.overrides), "space": str(r.space), "pruner": spec.pruner}
    spec.parent_run_id = tracking.open_parent(spec.tracking_uri, spec.experiment, spec.name,
                                              study.user_attrs.get(st.PARENT_ATTR), params)
    study.set_user_attr(st.PARENT_ATTR, spec.parent_run_id)
    c = st.counts(study)
    spec.target = st.finished(c) + r.n_trials  # re-running adds N trials to what the study has
    spec.threads = r.threads if r.threads is not None else (local_threads(r.workers) if r.launcher == "local" else 0)
    if st.finished(c):
        out(f"continuing: {st.finished(c)} finished trial(s) so far; adding {r.n_trials}")
    _warm_cache(base)
    spec_path = spec.save(Path(spec.study_dir) / "workers" / f"spec-{int(time.time() * 1000)}-{os.getpid()}.json")
    handles = start_workers(r.launcher, spec_path, r.workers, Path(spec.study_dir) / "workers", r.slurm_params)
    out(f"{len(handles)} {r.launcher} worker(s): " + ", ".join(str(h.pid or h.job_id) for h in handles))
    shown = ""
    try:
        while any(h.poll() is None for h in handles):
            line = _line(st.counts(study), spec.target)
            if line != shown:
                out(line)
                shown = line
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        for h in handles:
            h.stop()  # SIGINT: running trials end as FAIL instead of waiting for their heartbeat to expire
        tracking.close_parent(spec.tracking_uri, spec.parent_run_id, {}, "KILLED")
        raise
    c = st.counts(study)
    out(_line(c, spec.target))
    ok = st.finished(c) >= spec.target
    best = study.best_trial if c.get("COMPLETE") else None
    totals = {f"trials_{k.lower()}": float(v) for k, v in c.items()}
    if best is not None:
        totals["best_value"] = float(best.value)
    tracking.close_parent(spec.tracking_uri, spec.parent_run_id, totals, "FINISHED" if ok else "FAILED")
    if best is not None:
        out(f"best: trial {best.number}, {spec.metric} = {best.value:.4f}: {' '.join(to_overrides(best.params))}")
    if not ok:
        logs = ", ".join(str(h.log) for h in handles if h.poll())
        out(f"the study did not reach {spec.target} finished trials; worker logs: {logs or 'see ' + spec.study_dir}")
        return 1
    out(f"next: qtbench tune report --study {spec.name}" + (f" --runs-dir {r.runs_dir}" if r.runs_dir != "runs" else ""))
    return 0
