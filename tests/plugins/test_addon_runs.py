"""QualiTeacher add-ons through the runner at smoke scale, with the real (offline) IQA ensemble."""

import json
from pathlib import Path

import pytest
from resume_helpers import uninterrupted_and_resumed
from conftest import read_summary, run_cli

SMOKE = ("--task", "dehaze", "--scale", "smoke", "--no-progress")


def _run_dir(stdout: str) -> Path:
    return Path([ln.split(": ", 1)[1] for ln in stdout.splitlines() if ln.startswith("run dir: ")][-1])


@pytest.fixture(scope="module")
def qt_run(tmp_path_factory):
    out = run_cli("run", "--method", "mt+qualiteacher", *SMOKE, "--runs-dir", str(tmp_path_factory.mktemp("runs")))
    assert out.returncode == 0, out.stderr
    return out, read_summary(_run_dir(out.stdout))


@pytest.mark.slow
def test_full_method_writes_level_diagnostics(qt_run):
    out, s = qt_run
    assert s["iqa_preset"] == "offline"
    assert "piqe" in s["reward_metrics"]  # an ensemble member that is also an evaluation metric
    lv = s["levels"]
    assert lv["levels"] == list(range(8)) and len(lv["psnr"]) == len(lv["score"]) == 8
    assert sum(lv["pl_level_histogram"]) > 0
    for key in ("levels/spearman_rho", "levels/psnr@7", "levels/score@0", "levels/top_minus_teacher_psnr"):
        assert key in s["metrics"]
    assert s["inference_level"] == 7
    assert s["addons"]["bank"]["keys_stored"] > 0 and s["addons"]["gate"]["drop_rate"] == 0.0
    assert "quality levels" in out.stdout and "piqe*" in out.stdout and "Spearman rho" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mt+qcond", "mt+qualiteacher-pref", "mt+qcond+pref+crop"])
def test_variants_run(method, tmp_path):
    out = run_cli("run", "--method", method, *SMOKE, "--runs-dir", str(tmp_path), "pl.iters=5",
                  "addons.qcond.diag_max_images=1")
    assert out.returncode == 0, out.stderr
    s = read_summary(_run_dir(out.stdout))
    assert s["levels"] is not None and s["iqa_preset"] == "offline"


@pytest.mark.slow
def test_pref_without_qcond_fails_clearly(tmp_path):
    out = run_cli("run", "--method", "mt+pref", *SMOKE, "--runs-dir", str(tmp_path))
    assert out.returncode != 0
    assert "add-on 'pref' requires 'qcond'" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_interrupted_run_resumes_bit_identically(tmp_path, monkeypatch):
    """Bank, gate percentiles, level histogram and the add-ons' generators all live in the checkpoint."""
    overrides = ["pl.iters=8", "pl.checkpoint_every=4", "addons.pref.start=0.0", "addons.crop.start=0.0",
                 "addons.gate.mode=calibrated", "addons.gate.min_history=4", "runtime.progress=false",
                 "addons.qcond.diag_max_images=1"]
    ref, resumed = uninterrupted_and_resumed("mt+qualiteacher", overrides, 6, tmp_path, monkeypatch)
    assert json.dumps(resumed["metrics"], sort_keys=True) == json.dumps(ref["metrics"], sort_keys=True)
    assert resumed["addons"] == ref["addons"]
