"""MLflow for tuning: one parent run per study, each trial's run a child of it.

A trial's run is the ordinary run that :func:`qtbench.runner.execute` creates (full config as params,
training metrics, summary artifacts); this module nests it under the study's parent run with the
``mlflow.parentRunId`` tag and adds what belongs to the trial: its Optuna number and parameters, its
intermediate values (logged by the monitor), its objective value and its final Optuna state.
Tracking problems never stop a trial: each helper logs a warning and carries on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Optional

log = logging.getLogger(__name__)

# Optuna state -> MLflow run status of the trial's run
_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def open_parent(uri: str, experiment: str, study: str, run_id: Optional[str], params: Mapping[str, str]) -> str:
    """Create the study's parent run, or set an existing one back to RUNNING (a re-run of the study).

    Args:
        uri: tracking URI shared with the trials.
        experiment: MLflow experiment of the trials' runs (the parent must be in it for the UI to nest them).
        study: study name (run name and ``qtbench.study`` tag).
        run_id: the parent run recorded in the study, if any.
        params: study settings logged once (method, task, space...).

    Returns:
        The parent run id.
    """
    from qtbench.tracking.mlflow_tracker import Tracker

    tags = {"qtbench.study": study, "qtbench.kind": "tune-study"}
    tracker = Tracker(uri, experiment, f"tune-{study}", run_id=run_id, tags=tags)
    tracker.log_params(params)
    return tracker.run_id


def close_parent(uri: str, run_id: str, metrics: Mapping[str, float], status: str = "FINISHED") -> None:
    """Log the study's totals on the parent run and mark it terminated."""
    try:
        from qtbench.tracking.mlflow_tracker import Tracker

        t = Tracker(uri, "", "", run_id=run_id)
        t.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        t.finish(status)
    except Exception as exc:  # noqa: BLE001 - tracking must not fail the study
        log.warning("could not close the MLflow parent run %s: %s", run_id, exc)


def adopt_child(uri: str, run_id: str, parent_id: Optional[str], study: str, number: int,
                params: Mapping[str, Any]) -> None:
    """Nest a trial's run under the study run; tag its trial number, log its parameters."""
    from mlflow.entities import Param, RunTag

    try:
        c = _client(uri)
        tags = {"qtbench.study": study, "optuna.trial_number": str(number), "optuna.state": "RUNNING",
                "mlflow.runName": f"{study}-t{number}"}
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        existing = c.get_run(run_id).data.params
        items = [Param(f"optuna.{k}", str(v)) for k, v in params.items() if f"optuna.{k}" not in existing]
        c.log_batch(run_id, params=items, tags=[RunTag(k, v) for k, v in tags.items()], synchronous=True)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not tag MLflow run %s as trial %s: %s", run_id, number, exc)


def mark_trial(uri: str, run_id: Optional[str], state: str, value: Optional[float] = None,
               error: Optional[str] = None) -> None:
    """Record a trial's final Optuna state (and value) on its run and set the matching run status."""
    if not run_id:
        return
    try:
        c = _client(uri)
        c.set_tag(run_id, "optuna.state", state)
        if error:
            c.set_tag(run_id, "optuna.error", error[:5000])
        if value is not None and not math.isnan(value):
            c.log_metric(run_id, "tune/value", float(value))
        if state in _STATUS:
            c.set_terminated(run_id, status=_STATUS[state])
    except Exception as exc:  # noqa: BLE001
        log.warning("could not mark MLflow run %s %s: %s", run_id, state, exc)
