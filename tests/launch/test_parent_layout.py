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


def test_a_sweep_with_nothing_left_to_launch_still_takes_the_new_labels(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    folder = tmp_path / "sweeps" / "t"
    folder.mkdir(parents=True)
    parent = sweep_state.parent_run(uri, "t", folder, _cells("default"), tmp_path / "t.yaml", {"rows": "method"})
    # unchanged labels: nothing to store (and mlflow is not needed for that answer)
    assert not sweep_state.relabel_parent(folder, uri, "t", _cells("default"), {"rows": "method"})
    assert sweep_state.relabel_parent(folder, uri, "t", _cells("1.0"), {"rows": "method"})
    assert _stored_labels(uri, parent, tmp_path / "c")["alpha"] == "1.0"
    assert not sweep_state.relabel_parent(folder, uri, "t", _cells("1.0"), {"rows": "method"})  # stored once
    # another set of cells (identities) is another parent's business
    other = [dict(_cells("1.0")[0], hash="b" * 64)]
    assert not sweep_state.relabel_parent(folder, uri, "t", other, {"rows": "method"})
