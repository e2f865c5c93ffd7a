"""``qtbench bench`` at smoke scale via the CLI: valid JSON with the expected keys, batched == looped scores.

No timing is asserted (docs/architecture.md §8): the numbers are measured by hand and recorded in BENCHMARKS.md.
"""

import json
import shutil

import pytest
import torch
from conftest import run_cli
from iqa_fakes import Brightness, OffsetBrightness

from qtbench.report import bench_md

PROVENANCE = {"bench", "machine", "torch", "git", "date", "command", "settings", "results", "wall_s"}


def _load(path):
    data = json.loads(path.read_text())
    assert PROVENANCE <= set(data)
    assert {"cpu", "cores", "threads", "load_start", "load_end"} <= set(data["machine"])
    assert data["machine"]["threads"] == 1 and data["command"].startswith("qtbench bench ")
    return data


@pytest.mark.slow
def test_bench_scoring_quick(tmp_path):
    out = run_cli("bench", "--which", "scoring", "--scale", "smoke", "--quick", "--out", str(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr
    assert "speedup" in out.stdout
    res = _load(tmp_path / "scoring.json")["results"]
    assert res["agree"] and res["tolerance"] == 1e-5
    assert set(res["rows"]) == {"offline/score", "offline/score_official", "offline/block_mask",
                                "offline+musiq_random/score"}
    for row in res["rows"].values():
        assert row["agree"] and row["max_abs_diff"] <= 1e-5
        assert row["batched_s"] > 0 and row["looped_s"] > 0 and row["speedup"] > 0
        assert row["images"] == res["candidates"]["batch"] * res["candidates"]["k"]
    assert set(res["rows"]["offline/score"]["members"]) == {"niqe_fit", "piqe", "degprob"}
    # each member's own batched-vs-looped gap is recorded, so a disagreement names its member
    assert all(m["max_abs_diff"] <= 1e-5 for m in res["rows"]["offline/score"]["members"].values())
    assert "musiq" in res["rows"]["offline+musiq_random/score"]["members"]
    assert not (tmp_path / "step.json").exists()


@pytest.mark.slow
def test_bench_step_quick(tmp_path):
    out = run_cli("bench", "--which", "step", "--scale", "smoke", "--quick", "--no-musiq", "--out", str(tmp_path),
                  timeout=600)
    assert out.returncode == 0, out.stderr
    res = _load(tmp_path / "step.json")["results"]
    expected = ["mt", "mt+qualiteacher", "mt+qcond", "mt+maug", "mt+bank", "mt+gate", "mt+qcond+pref", "mt+qcond+crop"]
    assert res["methods"] == expected
    for m in expected:
        row = res["rows"][m]
        assert m in out.stdout
        assert row["s_per_iter"] > 0 and row["steps"] == 2  # --quick: 1 step x 2 rounds
        assert set(row["stages_s_per_iter"]) == {"data", "teacher", "scoring", "student", "optimiser"}
        assert len(row["raw_s"]) == 2 and len(row["ratio_per_round"]) == 2
    assert res["rows"]["mt"]["ratio_to_mt"] == pytest.approx(1.0)
    assert res["rows"]["mt"]["preset"] is None and res["rows"]["mt+qualiteacher"]["preset"] == "offline"
    # timed steps are past the start of pref and crop, so their losses are part of the measured step
    assert res["start_step"] > 0 and res["start"] == "cold"  # --quick starts cold
    assert "loss/pref" in res["rows"]["mt+qualiteacher"]["last_step_metrics"]
    assert "loss/crop" in res["rows"]["mt+qcond+crop"]["last_step_metrics"]


@pytest.mark.slow
def test_bench_step_from_the_schedule(tmp_path):
    """--start schedule: each variant runs its own PL schedule from step 0 to the timed step (a filled bank)."""
    counts = {}
    for start in ("schedule", "cold"):
        out = run_cli("bench", "--which", "step", "--scale", "smoke", "--quick", "--start", start, "--no-musiq",
                      "--methods", "mt,mt+maug+bank,mt+qcond+crop", "--out", str(tmp_path / start), timeout=600)
        assert out.returncode == 0, out.stderr
        data = _load(tmp_path / start / "step.json")
        res = data["results"]
        assert res["start"] == start and f"--start {start}" in data["command"]
        assert res["start_step"] == 2  # crop starts at 0.2 x the 10 smoke PL steps; every variant is timed there
        counts[start] = res["rows"]["mt+maug+bank"]["last_step_metrics"]["bank/keys"]
    assert "schedule run from step 0" in "\n".join(bench_md._step(res | {"start": "schedule"}))
    assert counts["schedule"] > counts["cold"]  # two more steps of crops went into the bank


@pytest.mark.parametrize("launcher", ["local", pytest.param("slurm", marks=[
    pytest.mark.slurm, pytest.mark.skipif(shutil.which("sbatch") is None, reason="no SLURM here (sbatch not on PATH)")])])
@pytest.mark.slow
def test_bench_sweep_small(tmp_path, launcher):
    """10 cells, 1 repeat: the JSON, the fast skip path (no mlflow/torch import), the parent closed in the background."""
    from qtbench.report.bench_md import render_file

    out = run_cli("bench", "--which", "sweep", "--sweep-cells", "10", "--sweep-repeats", "1", "--sweep-launcher",
                  launcher, "--out", str(tmp_path), timeout=600)
    assert out.returncode == 0, out.stderr
    data = _load(tmp_path / "sweep.json")
    assert "--which sweep --sweep-cells 10 --sweep-repeats 1" in data["command"] and "--methods" not in data["command"]
    res = data["results"]
    assert res["cells"] == 10 and res["launcher"] == launcher and res["submit"]["mode"] == launcher
    skip = res["skip"]
    assert res["submit"]["seconds"] > 0 and len(skip["raw_s"]) == len(skip["parent_closed_raw_s"]) == 1
    assert not skip["imports_mlflow"] and not skip["imports_torch"]
    assert skip["parent_status_after"] == "FINISHED" and None not in skip["background_close_s"]
    assert set(res["pass"]) == set(res["ratio_to_target"]) == {"submit", "skip", "skip_parent_closed"}
    assert res["ratio_to_target"]["skip"] == pytest.approx(skip["seconds"] / 2.0)
    if launcher == "slurm":
        assert res["submit"]["tasks"] == 10 and res["submit"]["cancelled"]
    else:
        assert res["submit"]["pickled_jobs"] == 10
    assert "expand + submit" in out.stdout and not (tmp_path / "scoring.json").exists()
    md = "\n".join(render_file(tmp_path / "sweep.json", tmp_path))
    assert f"| expand + submit 10 cells ({launcher}) |" in md and "imports mlflow: False" in md


class _FlakyMember(Brightness):
    """Brightness with a NaN for images darker than 0.2: exercises the ensemble's fallback."""

    clamp = True

    def raw(self, images):
        r = super().raw(images)
        return torch.where(images.mean(dim=(1, 2, 3)) < 0.2, torch.full_like(r, float("nan")), r)


def test_looped_scores_and_mask_match_batched():
    """The loop's Python-float normalisation (floor, flip, clamp, NaN fallback) equals the ensemble's."""
    from qtbench.bench.scoring import looped_block_mask, looped_scores
    from qtbench.iqa.ensemble import Ensemble

    ens = Ensemble({"a": _FlakyMember(), "b": OffsetBrightness()}, {"a": 0.7, "b": 0.3}, "custom", fallback=0.5)
    x = torch.rand(6, 3, 20, 24)
    x[0] *= 0.1  # NaN -> fallback for member a
    x[1] = 0.2  # OffsetBrightness raw -10 -> floor 0
    s = ens.score(x)
    combined, per = looped_scores(ens, x)
    assert torch.allclose(s.combined, torch.tensor(combined), atol=1e-6)
    assert per["a"][0] == 0.5
    for k in per:
        assert torch.allclose(s.members[k], torch.tensor(per[k]), atol=1e-6)
    assert torch.allclose(ens.block_mask(x, 8), looped_block_mask(ens, x, 8), atol=1e-6)


@pytest.mark.parametrize("args, needle", [
    (["--scale", "paper"], "add --device cuda"),
    (["--device", "cuda", "--scale", "smoke"], "no CUDA GPU"),
])
@pytest.mark.slow
def test_paper_scale_and_cuda_without_a_gpu_fail_in_one_line(tmp_path, args, needle):
    if torch.cuda.is_available() and "--device" in args:
        pytest.skip("this machine has a GPU")
    out = run_cli("bench", "--which", "step", *args, "--out", str(tmp_path))
    assert out.returncode == 2 and needle in out.stderr and "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir())


def test_stage_timer_syncs_around_each_stage_when_asked():
    from qtbench.engine.timers import StageTimer

    calls = []
    timer = StageTimer(sync=lambda: calls.append(1))
    with timer("teacher"):
        assert len(calls) == 1  # queued work of earlier stages is waited for before the clock starts
    assert len(calls) == 2 and timer.seconds["teacher"] >= 0
    plain = StageTimer()
    with plain("student"):
        pass
    assert plain.sync is None
