"""A real one-node SLURM cluster (.ci/slurm-setup.sh): a sweep as one job array, and preemption + requeue."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_summary, run_cli

if shutil.which("sbatch") is None and os.environ.get("QTBENCH_REQUIRE_SLURM"):
    raise RuntimeError("QTBENCH_REQUIRE_SLURM is set but sbatch is not on PATH: run .ci/slurm-setup.sh")
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(shutil.which("sbatch") is None,
                       reason="no SLURM here (sbatch not on PATH); .ci/slurm-setup.sh starts a one-node cluster"),
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]
# one CPU and 2 GB per task so that two array tasks share the 2-core test node
SMALL = ("launcher.cpus_per_task=1", "launcher.mem_gb=2", "launcher.signal_delay_s=30")


def test_sweep_is_one_job_array_and_reinvoking_launches_nothing(tmp_path):
    f = tmp_path / "arr.yaml"
    f.write_text("name: arr\nscale: smoke\nbase: [pl.iters=4, eval.grid_images=1]\n"
                 "axes:\n  methods: [mt, srconly]\n  seeds: [0, 1]\n")
    runs = tmp_path / "runs"
    out = run_cli("sweep", str(f), "--launcher", "slurm", "--wait", "--runs-dir", str(runs), *SMALL,
                  "launcher.array_parallelism=2", timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "submitted SLURM job array" in out.stdout and out.stdout.count("done    cell") == 4
    cells = json.loads((runs / "sweeps/arr/cells.json").read_text())["cells"]
    jobs = [json.loads((Path(c["run_dir"]) / "job.json").read_text())["job_id"] for c in cells]
    assert len({j.split("_")[0] for j in jobs}) == 1 and all("_" in j for j in jobs)  # one sbatch, 4 array tasks
    again = run_cli("sweep", str(f), "--launcher", "slurm", "--runs-dir", str(runs))
    assert again.returncode == 0 and "nothing to launch" in again.stdout and "submitted" not in again.stdout
    st = run_cli("sweep", "status", "arr", "--runs-dir", str(runs))
    assert "4 done" in st.stdout


def _skip_requeue_delay(job_id: str, patience_s: float = 60) -> None:
    """Start a requeued job now instead of after SLURM's requeue delay (a BeginTime ~a minute ahead).

    The job writes "requeued" before it asks SLURM to requeue it, so wait until SLURM holds it as PENDING:
    an update sent while it is still running or completing is overwritten by the requeue.
    """
    deadline, left_running = time.time() + patience_s, False
    while time.time() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True,
                               check=False).stdout.strip()
        if state == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=False)
            return
        left_running = left_running or state != "RUNNING"
        if state == "RUNNING" and left_running:  # already restarted
            return
        time.sleep(0.2)


def test_preempted_job_requeues_and_ends_with_the_uninterrupted_metrics(tmp_path):
    args = ["run", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--no-progress",
            "pl.iters=300", "pl.checkpoint_every=50", "runtime.threads=1"]
    ref = run_cli(*args, "--runs-dir", str(tmp_path / "ref"), timeout=600)
    assert ref.returncode == 0, ref.stderr
    runs = tmp_path / "slurm"
    proc = subprocess.Popen([sys.executable, "-m", "qtbench.cli.main", *args, "--runs-dir", str(runs),
                             "--launcher", "slurm", *SMALL], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ))
    deadline = time.time() + 300
    ckpts: list[Path] = []
    while not ckpts and time.time() < deadline and proc.poll() is None:
        ckpts = list(runs.glob("dehaze/mt/*/checkpoint.pt"))  # training is under way
        time.sleep(0.2)
    assert ckpts, "the SLURM job never checkpointed"
    rd = ckpts[0].parent
    job_id = json.loads((rd / "job.json").read_text())["job_id"]
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True)  # what SLURM sends on preemption
    deadline = time.time() + 60
    while json.loads((rd / "job.json").read_text())["state"] != "requeued" and time.time() < deadline:
        time.sleep(0.2)
    rec = json.loads((rd / "job.json").read_text())
    assert rec["state"] == "requeued" and 0 < rec["step"] < 300
    _skip_requeue_delay(job_id)
    so, se = proc.communicate(timeout=600)
    assert proc.returncode == 0, so + se
    rec = json.loads((rd / "job.json").read_text())
    assert rec["state"] == "done" and rec["restarts"] >= 1
    got, want = read_summary(rd), read_summary(Path(str(rd).replace(str(runs), str(tmp_path / "ref"))))
    assert got["metrics"] == want["metrics"]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{runs.resolve()}/mlflow.db")
    found = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.run_id for r in found] == [got["mlflow_run_id"]]  # the same MLflow run, resumed
    assert found[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(got["mlflow_run_id"], "loss/total")]
    assert sorted(steps) == sorted(set(steps))  # no step logged twice across the requeue
