"""Tracker against a real MLflow SQLite store; flatten and run_tags."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no background network attempts in tests

from qtbench.errors import UserError
from qtbench.tracking.mlflow_tracker import (
    MAX_PARAM_VALUE_LEN,
    TRUNCATED_MARKER,
    Tracker,
    default_tracking_uri,
    flatten,
    run_tags,
    sanitize_key,
)

# SQLAlchemy 2.1 deprecation inside MLflow's store (docs/install.md §7): not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    # one database for the module: creating and migrating a SQLite store costs ~2 s
    runs = tmp_path_factory.mktemp("runs")
    return f"sqlite:///{runs}/mlflow.db"


@pytest.fixture(scope="module")
def client(store):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store)


def test_default_tracking_uri(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_tracking_uri(Path("runs")) == f"sqlite:///{tmp_path.resolve()}/runs/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5599")
    assert default_tracking_uri(Path("runs")) == "http://127.0.0.1:5599"


def test_flatten_nested() -> None:
    cfg = {
        "task": {"name": "dehaze", "crop": 64},
        "iqa": {"members": ["piqe", "entropy"], "w": (0.5, 0.5)},
        "seed": 3,
        "empty": {},
        "none": None,
        "path": Path("/x"),
    }
    assert flatten(cfg) == {
        "task.name": "dehaze",
        "task.crop": "64",
        "iqa.members": '["piqe", "entropy"]',
        "iqa.w": "[0.5, 0.5]",
        "seed": "3",
        "empty": "{}",
        "none": "None",
        "path": "/x",
    }
    assert flatten({"a": {"b": 1}}, prefix="cfg") == {"cfg.a.b": "1"}


def test_flatten_omegaconf() -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"a": {"b": [1, {"c": 2}]}, "d": 0.1})
    assert flatten(cfg) == {"a.b": '[1, {"c": 2}]', "d": "0.1"}


def test_run_tags_keys() -> None:
    tags = run_tags("abc123")
    for key in ("git_commit", "git_dirty", "host", "cpu", "python", "config_hash"):
        assert key in tags
    for pkg in ("qtbench", "torch", "torchvision", "pyiqa", "mlflow", "numpy"):
        assert tags[f"version.{pkg}"] not in ("", "not installed")
    assert tags["config_hash"] == "abc123"
    assert tags["git_dirty"] in ("true", "false", "unknown")
    assert all(isinstance(v, str) for v in tags.values())


def test_sanitize_key() -> None:
    assert sanitize_key("train/loss") == "train/loss"
    assert sanitize_key("psnr[target-test]") == "psnr_target-test_"
    assert sanitize_key("/a//b/./c") == "a/b/c"
    assert sanitize_key("../x") == "__/x"


@pytest.mark.slow
def test_log_and_read_back(store, client, tmp_path) -> None:
    tr = Tracker(store, "qtbench-test", "run-a", tags=run_tags("h1"))
    tr.log_params(flatten({"task": {"name": "dehaze"}, "lr": 5e-5}))
    many = {f"p{i:03d}": str(i) for i in range(250)}  # > 100: several batches
    tr.log_params(many)
    tr.log_params({"long": "x" * 7000})
    for step in range(3):
        tr.log_metrics({"train/loss": 1.0 / (step + 1), "psnr": 20.0 + step}, step=step)
    f = tmp_path / "summary.json"
    f.write_text('{"ok": true}')
    tr.log_artifact(f)
    tr.log_artifact(f, artifact_path="extra")
    tr.log_dict({"a": 1}, "config/resolved.json")
    tr.finish()
    tr.finish()  # idempotent

    [run] = client.search_runs([tr.experiment_id], filter_string=f"attributes.run_id = '{tr.run_id}'")
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "run-a"
    assert run.data.params["task.name"] == "dehaze"
    assert run.data.params["p249"] == "249"
    assert len(run.data.params["long"]) == MAX_PARAM_VALUE_LEN
    assert run.data.params["long"].endswith(TRUNCATED_MARKER)
    assert run.data.tags["config_hash"] == "h1"
    hist = client.get_metric_history(tr.run_id, "train/loss")
    assert [(m.step, m.value) for m in sorted(hist, key=lambda m: m.step)] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert run.data.metrics["psnr"] == 22.0

    # artifacts live under <db folder>/mlartifacts, not in the working directory
    db_dir = Path(store[len("sqlite:///") :]).parent
    assert run.info.artifact_uri.startswith((db_dir / "mlartifacts").as_uri())
    names = {a.path for a in client.list_artifacts(tr.run_id)}
    assert {"summary.json", "extra", "config"} <= names
    local = client.download_artifacts(tr.run_id, "config/resolved.json", str(tmp_path / "dl"))
    assert json.loads(Path(local).read_text()) == {"a": 1}


def test_resume_appends_to_same_run(store, client) -> None:
    first = Tracker(store, "qtbench-test", "run-b")
    first.log_params({"seed": "1"})
    first.log_metrics({"loss": 3.0}, step=0)
    first.log_metrics({"loss": 2.0}, step=1)
    first.finish("KILLED")  # preempted

    resumed = Tracker(store, "qtbench-test", "ignored", run_id=first.run_id, tags={"resumed": "1"})
    assert resumed.run_id == first.run_id
    assert client.get_run(first.run_id).info.status == "RUNNING"
    resumed.log_params({"seed": "1"})  # same value: skipped, no error
    with pytest.raises(ValueError, match="seed"):
        resumed.log_params({"seed": "2"})
    resumed.log_metrics({"loss": 1.0}, step=2)
    resumed.finish()

    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["resumed"] == "1"
    assert [m.value for m in sorted(client.get_metric_history(first.run_id, "loss"), key=lambda m: m.step)] == [
        3.0,
        2.0,
        1.0,
    ]


def test_resume_unknown_run_is_user_error(store) -> None:
    with pytest.raises(UserError, match="cannot resume"):
        Tracker(store, "qtbench-test", "x", run_id="0" * 32)


def test_two_trackers_coexist_and_context_manager(store, client) -> None:
    with pytest.raises(RuntimeError), Tracker(store, "qtbench-a", "one") as a, Tracker(store, "qtbench-b", "two") as b:
        a.log_metrics({"m": 1.0})
        b.log_metrics({"m": 2.0})
        raise RuntimeError("boom")
    assert client.get_run(a.run_id).info.status == "FAILED"
    assert client.get_run(b.run_id).info.status == "FAILED"
    assert client.get_run(a.run_id).data.metrics["m"] == 1.0
    assert a.experiment_id != b.experiment_id


@pytest.mark.slow
def test_parallel_first_use_of_one_sqlite_store(tmp_path):
    """Several processes opening a fresh store at once: none fails on schema creation."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    code = (
        "import sys; from qtbench.tracking.mlflow_tracker import Tracker; "
        f"t = Tracker({uri!r}, 'exp', 'r' + sys.argv[1]); t.log_metrics({{'m': 1.0}}); t.finish()"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(i)], stderr=subprocess.PIPE, text=True) for i in range(3)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    from mlflow.tracking import MlflowClient

    exp = MlflowClient(uri).get_experiment_by_name("exp")
    assert len(MlflowClient(uri).search_runs([exp.experiment_id])) == 3
