"""One Optuna trial = one ordinary qtbench run with the trial's values as overrides.

Each trial gets its own runs folder (``<study_dir>/trials/tNNNN``): two trials that draw the same values
(a categorical space, a retried trial) never share a run folder or resume each other's checkpoint while
another worker is writing it. The base model and fitted IQA members come from the shared cache.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from qtbench.errors import TrainingDiverged, UserError
from qtbench.tune.objective import Objective
from qtbench.tune.space import overrides, space_from_dict
from qtbench.tune.study import StudySpec


def compose_trial(spec: StudySpec, values: dict[str, Any], runs_dir: str) -> Any:
    """The run config of a trial: the study's run + the trial's values (+ where it runs and logs)."""
    from qtbench.config.compose import compose_run

    ovs = [*spec.overrides, *overrides(values), "runtime.progress=false"]
    if spec.threads:
        ovs.append(f"runtime.threads={spec.threads}")
    return compose_run(spec.method, spec.task, spec.seed, spec.scale, ovs, runs_dir=runs_dir,
                       tracking_uri=spec.tracking_uri)


def base_config(spec: StudySpec) -> Any:
    """The study's run without tuned values (space checks, cache warm-up, the parent run's experiment)."""
    return compose_trial(spec, {}, str(Path(spec.study_dir) / "trials"))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class TrialObjective:
    """``trial -> value`` for ``study.optimize``: compose, run with a val monitor, read the objective."""

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self.space = space_from_dict(spec.space, source=spec.name)
        self.objective = Objective(spec.metric, spec.direction)

    def __call__(self, trial: Any) -> float:
        import optuna

        from qtbench.runner import execute
        from qtbench.tune import tracking
        from qtbench.tune.monitor import ValMonitor, report_steps

        spec = self.spec
        values = self.space.suggest(trial)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("worker_pid", os.getpid())
        runs_dir = Path(spec.study_dir) / "trials" / f"t{trial.number:04d}"
        trial.set_user_attr("runs_dir", str(runs_dir))
        cfg = compose_trial(spec, values, str(runs_dir))

        def on_start(run_id: str) -> None:
            trial.set_user_attr("mlflow_run_id", run_id)
            tracking.adopt_child(spec.tracking_uri, run_id, spec.parent_run_id, spec.name, trial.number, values)

        def on_report(step: int, value: float) -> None:
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"val {value:.4f} at PL step {step}")

        watched = self.objective.monitored
        steps = report_steps(cfg.pl.iters, spec.report_points) if watched else []
        model, measure = watched or ("student", "psnr")
        monitor = ValMonitor(steps, model, measure, on_report, on_start)
        try:
            summary = execute(cfg, monitor=monitor)
        except optuna.TrialPruned:
            tracking.mark_trial(spec.tracking_uri, monitor.run_id, "PRUNED")
            raise
        except BaseException as exc:
            trial.set_user_attr("error", _one_line(exc))
            trial.set_user_attr("diverged", isinstance(exc, TrainingDiverged))
            tracking.mark_trial(spec.tracking_uri, monitor.run_id, "FAIL", error=_one_line(exc))
            raise
        value = self.objective.value(summary)
        trial.set_user_attr("run_dir", summary["run_dir"])
        trial.set_user_attr("config_hash", summary["config_hash"])
        trial.set_user_attr("mlflow_run_id", summary["mlflow_run_id"])
        tracking.mark_trial(spec.tracking_uri, summary["mlflow_run_id"], "COMPLETE", value=value)
        return value


def check_trial_config(spec: StudySpec) -> Any:
    """Compose the study's base run once (raises UserError early); returns it."""
    try:
        return base_config(spec)
    except UserError as exc:
        raise UserError(f"the study's run does not compose: {exc}") from None
