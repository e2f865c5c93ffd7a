"""Add metrics to a finished run: ``qtbench eval --data real|test --log``.

Why: a table often needs a metric the runs did not compute, e.g. an NR metric that was *not* a training
reward (the offline ensemble rewards NIQE and PIQE, so PIQE cannot judge reward hacking). Re-scoring a
finished run's student is seconds; retraining it is minutes. The means are logged into the run's own
MLflow run, under the names a run would have used (``student/real_entropy``, ``input/target_entropy``),
so ``qtbench table`` finds them; a JSON copy goes into the run folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from qtbench.errors import UserError

SET_PREFIX = {"real": "real", "test": "target"}  # --data value -> metric name part (runner's naming)


def metric_names(data: str, means: dict[str, dict[str, float]], nr_names: list[str]) -> dict[str, float]:
    """``{row}/{set}_{metric}`` -> value for the NR metrics of every row (``input``, ``student``, ...)."""
    prefix = SET_PREFIX[data]
    # rows are "input" and e.g. "student@7" (the level asked): logged as the runner names them, student/...
    return {f"{row.split('@')[0]}/{prefix}_{m}": float(vals[m]) for row, vals in means.items() for m in nr_names}


def check_log_args(data: str, all_levels: bool) -> None:
    """UserError unless ``--log`` can apply: the run's own set (``real`` | ``test``) at one level."""
    if data not in SET_PREFIX or all_levels:
        raise UserError("--log adds metrics to the run itself: use it with --data real or --data test, one level")


def log_to_run(trained: Any, data: str, means: dict[str, dict[str, float]], nr_names: list[str]) -> dict[str, float]:
    """Log the NR means of ``qtbench eval`` into ``trained``'s MLflow run; returns what was logged.

    Raises:
        UserError: :func:`check_log_args` fails (a folder, several levels), or the run folder has no finished
            summary / MLflow run id.
    """
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from qtbench import atomic
    from qtbench.tracking.mlflow_tracker import default_tracking_uri

    check_log_args(data, all_levels=len(means) != 2)  # rows: the input and one model at one level
    summary_path = trained.run_dir / "summary.json"
    if not summary_path.is_file():
        raise UserError(f"{trained.run_dir} has no summary.json: --log adds metrics to finished runs only")
    run_id = json.loads(summary_path.read_text()).get("mlflow_run_id")
    if not run_id:
        raise UserError(f"{summary_path} names no mlflow_run_id; this run was not tracked")
    rt = trained.cfg.runtime
    uri = rt.tracking_uri or default_tracking_uri(Path(rt.runs_dir))
    logged = metric_names(data, means, nr_names)
    now = int(time.time() * 1000)
    client = MlflowClient(uri)
    try:
        client.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - unreachable store or unknown id: say which
        raise UserError(f"cannot open MLflow run {run_id} at {uri}: {type(exc).__name__}; pass the run folder of "
                        "a tracked run (or set MLFLOW_TRACKING_URI to its store)") from None
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in logged.items()])
    atomic.write_json(trained.run_dir / f"eval-{data}.json", {"metrics": logged, "tracking_uri": uri, "run_id": run_id})
    return logged
