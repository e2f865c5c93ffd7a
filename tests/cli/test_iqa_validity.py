"""`qtbench iqa validity` end to end at smoke scale: rank agreement and gradient alignment of the offline preset."""

from __future__ import annotations

import json
import math

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_validity_reports_rho_and_gradient_alignment(tmp_path):
    out = tmp_path / "validity"
    r = run_cli("iqa", "validity", "--task", "dehaze", "--preset", "offline", "--scale", "smoke", "--out", str(out),
                "--no-progress", "--alphas", "0.5", "--sigmas", "0.1", "runtime.threads=1")
    assert r.returncode == 0, r.stderr
    res = json.loads((out / "dehaze.json").read_text())
    (preset,) = res["presets"]
    grad = preset["grad"]
    # the offline reward's only gradient is degprob's (niqe_fit and piqe enter as constants)
    assert sorted(grad["members"]) == ["degprob"]
    assert -1.0 <= grad["ensemble"] <= 1.0 and grad["ensemble"] == pytest.approx(grad["members"]["degprob"], abs=1e-3)
    assert grad["oracle"] == pytest.approx(1.0, abs=1e-6)  # PSNR rises fastest along clean - x
    assert grad["ensemble"] <= grad["mixed"]["0.5"] <= 1.0  # mixing in the oracle turns the gradient toward it
    assert all(math.isfinite(v) for v in preset["members"].values())
    md = (out / "dehaze.md").read_text()
    assert "| preset | score | rho | grad cos |" in md and "| offline | niqe_fit |" in md and "| none |" in md


@pytest.mark.slow  # a subprocess: the fast tier launches none
def test_validity_bad_input_is_one_line_exit_2(tmp_path):
    r = run_cli("iqa", "validity", "--alphas", "1.5", "--out", str(tmp_path / "v"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


@pytest.mark.slow
def test_validity_of_a_trained_student(tmp_path):
    """--checkpoint scores the run's student at its inference level, on the run's own task, seed and data."""
    from pathlib import Path

    from qtbench.config.compose import compose_run
    from qtbench.runner import execute

    tiny = ["task.data.image_size=64", "task.data.source_realisations=1", "task.data.unlabelled_realisations=1",
            "base.iters=4", "pl.iters=2", "pl.trajectory_points=1", "runtime.progress=false", "runtime.threads=1",
            "addons.qcond.diag_max_images=1", "iqa.degprob.iters=4", "iqa.niqe_fit.calib_crops=4"]
    s = execute(compose_run("mt+qcond", "dehaze", seed=1, scale="smoke", overrides=tiny, runs_dir=str(tmp_path / "runs")))
    run_dir, out = Path(s["run_dir"]), tmp_path / "validity"
    r = run_cli("iqa", "validity", "--checkpoint", str(run_dir), "--out", str(out), "--no-progress",
                "--alphas", "0.5", "--sigmas", "0.1")
    assert r.returncode == 0, r.stderr
    stem = f"dehaze_mt+qcond_{run_dir.name}"
    res = json.loads((out / f"{stem}.json").read_text())
    assert res["seed"] == 1 and res["scale"] == "smoke" and res["run"] == str(run_dir)
    assert res["model"] == f"mt+qcond student (level {s['inference_level']})" and res["n_candidates"] > 0
    assert "mt+qcond student" in (out / f"{stem}.md").read_text()
    assert not (out / "dehaze.json").exists()  # the base model's table of the task is not overwritten

    bad = run_cli("iqa", "validity", "--checkpoint", str(run_dir), "--task", "derain", "--out", str(tmp_path / "v2"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert "--task" in bad.stderr and not (tmp_path / "v2").exists()
