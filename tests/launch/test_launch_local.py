"""Sweeps with the local launcher (real submitit subprocesses) and parallel jobs against a real MLflow server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

SWEEP = """\
name: {name}
scale: smoke
base: [pl.iters=4, eval.grid_images=1]
axes:
  methods: [{methods}]
  seeds: [0]
table: {{rows: method, metrics: [delta/student-base/target_psnr]}}
"""


def _sweep(tmp_path: Path, name: str, methods: str = "mt, srconly", base: str = "") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(SWEEP.format(name=name, methods=methods).replace("base: [", f"base: [{base}"))
    return p


@pytest.mark.slow
def test_local_sweep_skips_finished_cells_and_reruns_a_deleted_one(tmp_path):
    runs = tmp_path / "runs"
    f = _sweep(tmp_path, "loc")
    out = run_cli("sweep", str(f), "--runs-dir", str(runs), "--launcher", "local", timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "launching 2" in out.stdout and out.stdout.count("done    cell") == 2
    again = run_cli("sweep", str(f), "--runs-dir", str(runs))
    assert again.returncode == 0 and "nothing to launch" in again.stdout
    cells = json.loads((runs / "sweeps/loc/cells.json").read_text())["cells"]
    (Path(cells[1]["run_dir"]) / "summary.json").unlink()
    st = run_cli("sweep", "status", "loc", "--runs-dir", str(runs))
    assert "1 done" in st.stdout and "1 pending" in st.stdout and "checkpoint: resumes" in st.stdout
    rerun = run_cli("sweep", str(f), "--runs-dir", str(runs), "--launcher", "local", timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 done (skipped)" in rerun.stdout and "launching 1 " in rerun.stdout and "srconly" in rerun.stdout

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{runs.resolve()}/mlflow.db")
    exp = client.get_experiment_by_name("qtbench-sweep-loc")
    found = client.search_runs([exp.experiment_id])
    parent = [r for r in found if r.data.tags.get("qtbench.role") == "sweep"]
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id]
    assert len(parent) == 1 and len(children) == 2
    assert {r.info.status for r in found} == {"FINISHED"}


@pytest.mark.slow
def test_failed_cell_is_reported_with_its_log_and_retried(tmp_path):
    runs = tmp_path / "runs"
    f = tmp_path / "bad.yaml"
    f.write_text(SWEEP.format(name="bad", methods="mt").replace("base: [", "base: [pl.lr=1e6, pl.iters=40, "))
    out = run_cli("sweep", str(f), "--runs-dir", str(runs), "--launcher", "local", timeout=600)
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "diverged" in out.stdout.lower() and "log: " in out.stdout
    log = Path(out.stdout.split("log: ", 1)[1].split()[0])
    assert log.exists()
    st = run_cli("sweep", "status", "bad", "--runs-dir", str(runs))
    assert "1 failed" in st.stdout and str(log) in st.stdout
    again = run_cli("sweep", str(f), "--runs-dir", str(runs), "--launcher", "local", timeout=600)
    assert "1 failed before: retrying" in again.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_many(uri: str, k: int, n_metrics: int, n_steps: int) -> str:
    """One job: a run with ``n_metrics`` metrics at ``n_steps`` steps (by value to the job, see cloudpickle)."""
    from qtbench.tracking.mlflow_tracker import Tracker

    tr = Tracker(uri, "qtbench-concurrency", f"job{k}", tags={"job": str(k)})
    tr.log_params({f"p{i}": str(i * k) for i in range(20)})
    for step in range(n_steps):
        tr.log_metrics({f"m{i}": float(k * 1000 + step) for i in range(n_metrics)}, step=step)
    tr.finish()
    return tr.run_id


@pytest.fixture
def server(tmp_path):
    runs = tmp_path / "runs"
    port = _free_port()
    out = run_cli("tracking", "serve", "--detach", "--runs-dir", str(runs), "--port", str(port), timeout=180)
    assert out.returncode == 0, out.stderr
    yield runs, f"http://127.0.0.1:{port}"
    stop = run_cli("tracking", "stop", "--runs-dir", str(runs))
    assert stop.returncode == 0, stop.stderr


@pytest.mark.slow
def test_parallel_jobs_lose_nothing_on_a_tracking_server(server, tmp_path):
    import submitit
    from mlflow.tracking import MlflowClient

    import cloudpickle

    runs, url = server
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job processes cannot import this test file
    ex = submitit.LocalExecutor(folder=tmp_path / "jobs")
    ex.update_parameters(timeout_min=10)
    with ex.batch():
        jobs = [ex.submit(_log_many, url, k, 10, 15) for k in range(8)]  # 8 processes at once
    ids = [j.result() for j in jobs]
    client = MlflowClient(url)
    for k, rid in enumerate(ids):
        run = client.get_run(rid)
        assert run.info.status == "FINISHED" and len(run.data.params) == 20
        assert len(run.data.metrics) == 10
        hist = client.get_metric_history(rid, "m3")
        assert sorted(m.step for m in hist) == list(range(15)) and hist[0].value == k * 1000 + hist[0].step

    # two sweeps at once, their jobs pointed at the recorded server (no --tracking-uri needed)
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    procs = [subprocess.Popen([sys.executable, "-m", "qtbench.cli.main", "sweep", str(_sweep(tmp_path, n, m, b)),
                               "--runs-dir", str(runs), "--launcher", "local"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
             for n, m, b in (("para", "mt, srconly", ""), ("parb", "mt, oracle", "pl.w_pl=0.5, "))]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (so, se) in zip(procs, outs):
        assert p.returncode == 0, so + se
        assert url in so
    for name in ("para", "parb"):
        exp = client.get_experiment_by_name(f"qtbench-sweep-{name}")
        found = client.search_runs([exp.experiment_id])
        kids = [r for r in found if "mlflow.parentRunId" in r.data.tags]
        assert len(kids) == 2 and all("student/target_psnr" in r.data.metrics for r in kids)
        assert {r.info.status for r in found} == {"FINISHED"}


@pytest.mark.slow
def test_a_sweep_run_seed_by_seed_keeps_one_table(tmp_path):
    """--seeds naming a subset launches only those cells; the parent run (and so the table) keeps all."""
    runs = tmp_path / "runs"
    f = _sweep(tmp_path, "chunks", methods="srconly", base="base.iters=2, ").read_text().replace("seeds: [0]",
                                                                                                 "seeds: [0, 1]")
    (tmp_path / "chunks.yaml").write_text(f)
    out = run_cli("sweep", str(tmp_path / "chunks.yaml"), "--runs-dir", str(runs), "--launcher", "debug", "--seeds", "1",
                  timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "launching 1 " in out.stdout and "1 left for an invocation without --tasks/--seeds" in out.stdout
    table = run_cli("table", str(tmp_path / "chunks.yaml"), "--runs-dir", str(runs), "--results", str(tmp_path / "res"))
    assert table.returncode == 0, table.stderr
    assert "1 of 2 cells finished" in (tmp_path / "res/tables/chunks.md").read_text()
