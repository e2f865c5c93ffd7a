"""Finished runs of a sweep, read from MLflow (never from logs or run folders).

The sweep's parent run (tag ``qtbench.role=sweep``) carries the expanded cells as its ``sweep.json`` artifact:
each cell's labels (method, task, seed, grid/zip values) and identity hash. Child runs are matched to cells by
their ``config_hash`` tag, so a cell finished in an earlier invocation (under another parent, or by
``qtbench run`` in another experiment) is still found.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from qtbench.errors import UserError

# MLflow run status -> cell status in tables
_STATUS = {"FINISHED": "done", "FAILED": "failed", "KILLED": "failed", "RUNNING": "running", "SCHEDULED": "running"}
PAGE = 1000


@dataclass
class RunRecord:
    """What a table needs of one MLflow run."""

    run_id: str
    status: str  # MLflow status: FINISHED, FAILED, KILLED, RUNNING
    start_time: int
    end_time: Optional[int]
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]


@dataclass
class Cell:
    """One expected cell of the sweep and the run found for it (None: missing)."""

    index: int
    labels: dict[str, Any]
    hash: str
    run: Optional[RunRecord] = None

    @property
    def status(self) -> str:
        """done / failed / running / missing."""
        return "missing" if self.run is None else _STATUS.get(self.run.status, "failed")

    @property
    def seed(self) -> int:
        return int(self.labels["seed"])


@dataclass
class SweepRuns:
    """The cells of one sweep with their runs, and where they came from."""

    name: str
    tracking_uri: str
    parent_run_id: str
    cells: list[Cell]
    parent_tags: dict[str, str] = field(default_factory=dict)

    def done(self) -> list[Cell]:
        return [c for c in self.cells if c.status == "done"]


def store_exists(uri: str) -> bool:
    """False for a ``sqlite:///`` URI whose file is absent (MLflow would silently create an empty one)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):].split("?", 1)[0]).is_file()
    return True


def client_for(uri: str):
    """An MlflowClient on ``uri``; UserError when the store does not exist."""
    if not store_exists(uri):
        raise UserError(f"no MLflow store at {uri}: run the sweep first, or pass --tracking-uri / --runs-dir")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no progress bars in table output
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _record(run) -> RunRecord:
    return RunRecord(run.info.run_id, run.info.status, int(run.info.start_time or 0), run.info.end_time,
                     dict(run.data.metrics), dict(run.data.params), dict(run.data.tags))


def _search(client, experiment_ids: list[str], filter_string: str = "") -> list:
    out, token = [], None
    while True:
        page = client.search_runs(experiment_ids, filter_string, max_results=PAGE, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def parent_run(client, name: str, parent_id: Optional[str] = None):
    """The sweep's parent run: ``parent_id``, else the most recently started one (ties: run id)."""
    if parent_id:
        return client.get_run(parent_id)
    exp = client.get_experiment_by_name(f"qtbench-sweep-{name}")  # = launch.sweep_state.experiment_name
    runs = _search(client, [exp.experiment_id], "tags.`qtbench.role` = 'sweep'") if exp is not None else []
    runs = [r for r in runs if r.data.tags.get("qtbench.sweep") == name]
    if not runs:
        raise UserError(f"no runs of sweep {name!r} in {client.tracking_uri}: run `qtbench sweep` first "
                        "(or point --tracking-uri / --runs-dir at its store)")
    return max(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def runs_by_hash(client, wanted: Optional[set[str]] = None) -> dict[str, list]:
    """Every run (not sweep parents) of every experiment, grouped by its ``config_hash`` tag.

    Args:
        client: an MlflowClient.
        wanted: keep only these hashes (default: all).
    """
    by_hash: dict[str, list] = {}
    exps = [e.experiment_id for e in client.search_experiments()]
    for i in range(0, len(exps), 50):  # search_runs accepts a bounded list of experiments
        for r in _search(client, exps[i:i + 50], "tags.config_hash != ''"):
            h = r.data.tags.get("config_hash")
            if (wanted is None or h in wanted) and r.data.tags.get("qtbench.role") != "sweep":
                by_hash.setdefault(h, []).append(r)
    return by_hash


def _parent_cells(client, run) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run.info.run_id, "sweep.json", tmp)
            return json.loads(Path(path).read_text())["cells"]
        except Exception as exc:  # noqa: BLE001 - any store/artifact failure is one user-facing line
            raise UserError(f"sweep parent run {run.info.run_id} has no readable sweep.json artifact ({exc})") from None


def _best(runs: list) -> Any:
    """A finished run if there is one (the latest), else the latest attempt (a failed or running one)."""
    finished = [r for r in runs if r.info.status == "FINISHED"]
    pool = finished or runs
    return max(pool, key=lambda r: (r.info.end_time or 0, r.info.start_time or 0, r.info.run_id))


def collect(name: str, uri: str, parent_id: Optional[str] = None) -> SweepRuns:
    """The cells of sweep ``name`` (as its latest parent run lists them) and their runs.

    Args:
        name: the sweep's name (``name:`` of the sweep file).
        uri: MLflow tracking URI.
        parent_id: a specific parent run (default: the latest one of this sweep).

    Raises:
        UserError: no store, no parent run, or no child run found at all.
    """
    client = client_for(uri)
    parent = parent_run(client, name, parent_id)
    cells = [Cell(int(c["index"]), dict(c["labels"]), c["hash"]) for c in _parent_cells(client, parent)]
    by_hash = runs_by_hash(client, {c.hash for c in cells})
    for c in cells:
        if c.hash in by_hash:
            c.run = _record(_best(by_hash[c.hash]))
    if not any(c.run for c in cells):
        raise UserError(f"sweep {name!r}: none of its {len(cells)} cells has a run in {uri} yet")
    return SweepRuns(name, uri, parent.info.run_id, cells, dict(parent.data.tags))


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """``[(step, value)]`` of one metric of one run, sorted by step (training curves)."""
    client = client_for(uri)
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def run_summary(uri: str, run_id: str) -> Optional[dict]:
    """The run's ``summary.json`` artifact (None when it has none): level histograms, per-image scores."""
    client = client_for(uri)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return json.loads(Path(client.download_artifacts(run_id, "summary.json", tmp)).read_text())
        except Exception:  # noqa: BLE001 - a run without the artifact simply has no such figure
            return None
