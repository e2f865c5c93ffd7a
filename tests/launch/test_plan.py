"""`qtbench plan` prices a cell's evaluation and set-up from finished runs, not only its PL loop."""

import json

import pytest

from qtbench.launch.plan import estimate, measured_rates


def _summary(root, method, name, wall, pl, base, cached, spi=0.5):
    rd = root / "dehaze" / method / name
    rd.mkdir(parents=True)
    (rd / "config.yaml").write_text("base:\n  iters: 100\n")
    (rd / "summary.json").write_text(json.dumps({"method": method, "scale": "cpu", "timing": {
        "s_per_iter": spi, "wall_s": wall, "pl_seconds": pl, "base_train_seconds": base, "base_cached": cached}}))


def _cell(method, seed):
    return {"method": method, "task": "dehaze", "seed": seed, "labels": {"method": method, "task": "dehaze", "seed": seed},
            "config": {"pl": {"iters": 10}, "base": {"iters": 100}, "backbone": {}, "task": {}}}


def test_evaluation_and_setup_are_priced_per_cell_from_finished_runs(tmp_path):
    _summary(tmp_path, "mt", "s0-a", wall=1000.0, pl=300.0, base=338.0, cached=False)  # 362 s outside PL and base
    _summary(tmp_path, "mt", "s1-b", wall=700.0, pl=300.0, base=338.0, cached=True)  # 400 s (the base was cached)
    _summary(tmp_path, "mt+qcond", "s0-c", wall=900.0, pl=200.0, base=5.0, cached=True)  # 700 s
    rates = measured_rates(tmp_path, bench=tmp_path / "none.json")
    assert rates.overhead[("mt", "cpu")] == pytest.approx(381.0) and rates.base["cpu"] == pytest.approx(3.38)
    est = estimate([_cell("mt", 0), _cell("mt", 1), _cell("mt+qcond", 0), _cell("srconly", 0)], "cpu", rates)
    assert est["methods"]["mt"]["eval_seconds"] == pytest.approx(2 * 381.0)
    assert est["methods"]["mt+qcond"]["eval_seconds"] == pytest.approx(700.0)
    assert est["methods"]["srconly"]["eval_seconds"] == pytest.approx(400.0)  # median over every run at cpu scale
    assert est["eval_seconds"] == pytest.approx(2 * 381.0 + 700.0 + 400.0)
    assert estimate([_cell("mt", 0)], "paper", rates)["eval_seconds"] is None  # nothing measured at that scale


def test_plan_says_what_is_left_when_cells_are_finished(tmp_path):
    from qtbench.launch.plan import report

    _summary(tmp_path, "mt", "s0-a", wall=1000.0, pl=300.0, base=338.0, cached=False)
    cells = [dict(_cell("mt", s), hash=f"h{s}", run_dir=str(tmp_path / "dehaze" / "mt" / f"s{s}-x")) for s in (0, 1)]
    done = tmp_path / "dehaze" / "mt" / "s0-x"
    done.mkdir()
    (done / "summary.json").write_text(json.dumps({"config_hash": "h0"}))
    text = report("x", tmp_path / "x.yaml", "cpu", {"cpu": cells}, measured_rates(tmp_path, tmp_path / "no.json"), 1)
    assert "evaluation and set-up 12.1 min" in text  # 2 cells x 362 s
    assert "left to run: 1 of 2 cells, ~11.8 min of compute" in text  # 10 x 0.5 s + 362 s + 100 x 3.38 s


def test_plan_says_when_every_row_is_measured_through_each_seed(tmp_path):
    from qtbench.launch.plan import report

    _summary(tmp_path, "mt", "s0-a", wall=1000.0, pl=300.0, base=338.0, cached=False)
    cells = [dict(_cell("mt", s), hash=f"h{s}", run_dir=str(tmp_path / "dehaze" / "mt" / f"s{s}-x")) for s in (0, 1)]
    text = report("x", tmp_path / "x.yaml", "cpu", {"cpu": cells}, measured_rates(tmp_path, tmp_path / "no.json"), 2)
    # one cell per seed, each 10 x 0.5 s + 362 s + its own base model 100 x 3.38 s = 705 s; 2 in parallel
    assert "every row is measured through seed 0 after ~5.9 min, seed 1 after ~11.8 min (wall)" in text


def test_speeds_come_from_the_latest_finished_runs(tmp_path):
    """Old slow runs (e.g. from an oversubscribed launch) must not price today's cells."""
    import os

    from qtbench.launch.plan import RECENT

    for i in range(RECENT + 3):
        _summary(tmp_path, "mt", f"s{i}-x", wall=1000.0, pl=300.0, base=338.0, cached=True, spi=3.0 if i < 3 else 0.25)
        os.utime(tmp_path / "dehaze" / "mt" / f"s{i}-x" / "summary.json", (1000 + i, 1000 + i))  # s0..s2 oldest
    spi, source = measured_rates(tmp_path, bench=tmp_path / "none.json").pl[("mt", "cpu")]
    assert spi == pytest.approx(0.25)
    assert source == f"latest {RECENT} of {RECENT + 3} finished runs"


def test_milestones_count_the_cells_that_go_first_to_train_later_seeds_bases(tmp_path):
    from qtbench.launch.plan import seed_milestones

    _summary(tmp_path, "mt", "s0-a", wall=1000.0, pl=300.0, base=338.0, cached=False)
    rates = measured_rates(tmp_path, tmp_path / "no.json")
    # two methods x two seeds; launch order: mt/s0, mt/s1 (bases first), srconly/s0, srconly/s1
    left = [dict(_cell(m, s), hash=f"{m}{s}") for m in ("mt", "srconly") for s in (0, 1)]
    (s0, t0), (s1, t1) = seed_milestones(left, "cpu", rates)
    # seed 0 done after 3 cells (mt/s0, mt/s1, srconly/s0) and 2 base models, seed 1 after all 4
    cell, base = 10 * 0.5 + 362.0, 100 * 3.38
    assert (s0, s1) == (0, 1) and t0 == pytest.approx(3 * cell + 2 * base) and t1 == pytest.approx(4 * cell + 2 * base)
