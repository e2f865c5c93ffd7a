"""The sweep's parent run keeps its cells' current labels: re-invoking a sweep whose file relabelled a cell (same
identities) stores the new labels, which `qtbench table` reads (a real MLflow SQLite store)."""

from __future__ import annotations

import json

from qtbench.launch import sweep_state


def _cells(label: str) -> list[dict]:
    return [{"index": 0, "hash": "a" * 64, "method": "mt", "task": "dehaze", "seed": 0, "config": {"x": 1},
             "labels": {"method": "mt", "task": "dehaze", "seed": 0, "alpha": label}}]


def _stored_labels(uri: str, run_id: str, tmp_path) -> dict:
    from mlflow.tracking import MlflowClient

    path = MlflowClient(uri).download_artifacts(run_id, "sweep.json", str(tmp_path))
    return json.loads(open(path).read())["cells"][0]["labels"]


def test_reusing_the_parent_stores_the_files_current_labels(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    folder = tmp_path / "sweeps" / "t"
    folder.mkdir(parents=True)
    first = sweep_state.parent_run(uri, "t", folder, _cells("default"), tmp_path / "t.yaml", {"rows": "method"})
    assert _stored_labels(uri, first, tmp_path / "a") == {"method": "mt", "task": "dehaze", "seed": 0, "alpha": "default"}
    again = sweep_state.parent_run(uri, "t", folder, _cells("1.0"), tmp_path / "t.yaml", {"rows": "method"})
    assert again == first  # same identities: the same parent run
    assert _stored_labels(uri, again, tmp_path / "b")["alpha"] == "1.0"
    assert "config" not in json.loads(open(next((tmp_path / "b").rglob("sweep.json"))).read())["cells"][0]
