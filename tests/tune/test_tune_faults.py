"""Pruned trials stop training early; a worker killed with SIGKILL mid-trial does not stop the study."""

import pytest
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli
from tune_helpers import CHEAP, TUNE, load_study, states, write_space


@pytest.mark.slow
def test_pruned_trials_stop_training_early(tmp_path):
    runs = tmp_path / "runs"
    # a threshold no PSNR can reach: every trial must be pruned at its first val report
    out = run_cli(*TUNE, "--space", str(write_space(tmp_path)), "--study", "p", "--runs-dir", str(runs),
                  "--n-trials", "2", "--pruner", "threshold:lower=1000", "pl.iters=10", "pl.log_every=1", *CHEAP,
                  timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    study = load_study(runs, "p")
    assert states(study) == {"PRUNED": 2}
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{runs.resolve()}/mlflow.db")
    for t in study.trials:
        assert list(t.intermediate_values) == [2], "pruned at the first report (step 2 of 10)"
        trial_runs = Path(t.user_attrs["runs_dir"])
        assert not list(trial_runs.rglob("summary.json")), "a pruned trial never reaches its evaluation"
        run = client.get_run(t.user_attrs["mlflow_run_id"])
        assert run.info.status == "KILLED" and run.data.tags["optuna.state"] == "PRUNED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss/total")]
        assert max(steps) == 2, "training stopped at the pruning step, not at the last PL step (10)"


def _running_trial_with_report(journal_dir: Path, name: str, deadline: float):
    """Wait for a trial that is RUNNING and has reported (i.e. is mid-training); return it."""
    from optuna.trial import TrialState

    while time.time() < deadline:
        if (journal_dir / "journal.log").exists():
            for t in load_study(journal_dir.parent.parent, name).get_trials(states=(TrialState.RUNNING,)):
                if t.intermediate_values and "worker_pid" in t.user_attrs:
                    return t
        time.sleep(0.2)
    raise AssertionError("no trial reached mid-training in time")


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_trial_still_completes_the_study(tmp_path):
    runs = tmp_path / "runs"
    args = [*TUNE, "--space", str(write_space(tmp_path)), "--study", "k", "--runs-dir", str(runs), "--n-trials", "8",
            "--workers", "2", "--heartbeat", "1", "--grace", "3", "--report-points", "8", "pl.iters=16", *CHEAP]
    log = open(tmp_path / "tune.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "qtbench.cli.main", *args], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ))
    try:
        victim = _running_trial_with_report(runs / "tuning" / "k", "k", time.time() + 180)
        os.kill(victim.user_attrs["worker_pid"], signal.SIGKILL)
        assert proc.wait(timeout=240) == 0, (tmp_path / "tune.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    study = load_study(runs, "k")
    c = states(study)
    assert c.get("COMPLETE", 0) + c.get("PRUNED", 0) == 8 and "RUNNING" not in c and "WAITING" not in c, c
    dead = study.trials[victim.number]
    assert dead.state.name == "FAIL"
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].params == dead.params
    assert retries[0].state.name in ("COMPLETE", "PRUNED")
    from mlflow.tracking import MlflowClient

    run = MlflowClient(f"sqlite:///{runs.resolve()}/mlflow.db").get_run(dead.user_attrs["mlflow_run_id"])
    assert run.info.status == "FAILED", "the dead worker's MLflow run is not left RUNNING"
