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
