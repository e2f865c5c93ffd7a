"""A study end to end: 8 trials on 2 local workers, MLflow children, re-run continues, report, tuned config."""

import json
from pathlib import Path

import pytest
from conftest import read_summary, run_cli
from tune_helpers import CHEAP, TUNE, load_study, states, write_space

NAME = "t8"
ITERS = ("pl.iters=6", *CHEAP)


@pytest.fixture(scope="module")
def study8(tmp_path_factory):
    root = tmp_path_factory.mktemp("tune8")
    space = write_space(root)
    runs = root / "runs"
    args = (*TUNE, "--space", str(space), "--study", NAME, "--runs-dir", str(runs), "--workers", "2", *ITERS)
    out = run_cli(*args, "--n-trials", "8", timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    return root, runs, args, out


@pytest.mark.slow
def test_eight_trials_on_two_local_workers_finish(study8):
    _, runs, _, out = study8
    study = load_study(runs, NAME)
    c = states(study)
    assert c.get("COMPLETE", 0) + c.get("PRUNED", 0) == 8 and "RUNNING" not in c, c
    workers = {t.user_attrs["worker_pid"] for t in study.trials}
    assert len(workers) == 2, "both workers took trials"
    for t in study.trials:
        assert t.user_attrs["runs_dir"].startswith(str((runs / "tuning" / NAME / "trials").resolve()))
        if t.state.name == "COMPLETE":
            s = read_summary(Path(t.user_attrs["run_dir"]))
            assert t.value == s["metrics"]["student/val_psnr"]  # the val metric, never target-test
            assert t.intermediate_values, "val values were reported during training"
            assert max(t.intermediate_values) < 6
    assert "next: qtbench tune report" in out.stdout


def test_trials_are_mlflow_children_of_the_study_run(study8):
    from mlflow.tracking import MlflowClient

    _, runs, _, _ = study8
    client = MlflowClient(f"sqlite:///{runs.resolve()}/mlflow.db")
    exp = client.get_experiment_by_name("qtbench-dehaze")
    parents = client.search_runs([exp.experiment_id], "tags.`qtbench.kind` = 'tune-study'")
    assert len(parents) == 1 and parents[0].data.tags["qtbench.study"] == NAME
    parent = parents[0]
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_complete"] + \
        parent.data.metrics.get("trials_pruned", 0) == 8
    kids = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(kids) == 8
    study = load_study(runs, NAME)
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in kids}
    for t in study.trials:
        run = by_number[t.number]
        assert run.data.tags["optuna.state"] == t.state.name
        assert run.data.params["optuna.pl.w_pl"] == str(t.params["pl.w_pl"])
        hist = client.get_metric_history(run.info.run_id, "tune/intermediate")
        assert {m.step: m.value for m in hist} == pytest.approx(t.intermediate_values)
        if t.state.name == "COMPLETE":
            assert run.info.status == "FINISHED" and run.data.metrics["tune/value"] == pytest.approx(t.value)


@pytest.mark.slow
def test_rerun_adds_trials_to_the_same_study(study8):
    _, runs, args, _ = study8
    out = run_cli(*args, "--n-trials", "2", "--workers", "1", timeout=180)  # workers are not part of the study
    assert out.returncode == 0, out.stdout + out.stderr
    assert "continuing: 8 finished" in out.stdout
    c = states(load_study(runs, NAME))
    assert c.get("COMPLETE", 0) + c.get("PRUNED", 0) == 10, c


@pytest.mark.slow
def test_rerun_with_other_settings_is_refused(study8):
    _, _, args, _ = study8
    out = run_cli(*args, "pl.w_sup=0.5", "--n-trials", "1", timeout=120)
    assert out.returncode == 2 and "exists with different overrides" in out.stderr


@pytest.mark.slow
def test_report_and_tuned_config_reproduce_the_best_trial(study8, tmp_path):
    root, runs, _, _ = study8
    results = root / "results"
    out = run_cli("tune", "report", "--study", NAME, "--runs-dir", str(runs), "--results-dir", str(results))
    assert out.returncode == 0, out.stdout + out.stderr
    folder = results / "tuning" / NAME
    report = json.loads((folder / "report.json").read_text())
    assert report["tuning"]["split"] == "target-val" and report["test"]["split"] == "target-test"
    assert "student/target_psnr" in report["test"]["per_seed"]["0"]
    for png in ("history.png", "importances.png", "parallel.png"):
        assert (folder / png).stat().st_size > 1000, report["plots"]
    study = load_study(runs, NAME)
    best = study.best_trial
    assert report["tuning"]["best_value"] == best.value
    # the tuned file, run as an ordinary run in a fresh folder, gives the trial's value again
    run = run_cli("run", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--no-progress",
                  "--runs-dir", str(tmp_path / "again"), f"+tuned={folder / 'best.yaml'}")
    assert run.returncode == 0, run.stdout + run.stderr
    rd = Path([ln.split(": ", 1)[1] for ln in run.stdout.splitlines() if ln.startswith("run dir: ")][-1])
    s = read_summary(rd)
    assert s["metrics"]["student/val_psnr"] == best.value
    assert s["config_hash"] == best.user_attrs["config_hash"]
    # the test-split numbers of the report are the best trial's own, never seen by Optuna
    assert report["test"]["per_seed"]["0"]["student/target_psnr"] == s["metrics"]["student/target_psnr"]
