"""Where each method crosses the baseline on the mixing path: hand-computed crossings on an in-memory store."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtbench.launch.sweep_file import load_sweep
from qtbench.report.collect import Cell, RunRecord, SweepRuns
from qtbench.report.crossing import PathPoint, crossings, read_path, render_md
from qtbench.report.layout import build, parse_metrics
from qtbench.report.tables import render

TABLE = {"rows": ["method", "iqa.agreement.alpha", "iqa.agreement.sigma"], "columns": "metric", "baseline": "mt"}
MT = {0: 0.1, 1: 0.2}  # the baseline's gain over the base, per seed


def _cell(i, method, seed, y, x=None, alpha=None, sigma=0.0, status="FINISHED"):
    labels = {"method": method, "task": "dehaze", "seed": seed}
    metrics = {"delta/student-base/target_psnr": y}
    if alpha is not None:
        labels.update({"iqa.agreement.alpha": alpha, "iqa.agreement.sigma": sigma})
        metrics["iqa/agreement_srcc/ensemble"] = x
    return Cell(i, labels, f"h{i}", RunRecord(f"r{i}", status, 0, 1, metrics, {}, {}))


def _store(pref_gain_vs_mt=(-1.0, -0.2, 0.6)):
    """pref: gains against mt of -1.0, -0.2, +0.6 dB at alpha 0, 0.5, 1 (rho 0.3, 0.8, 1.0), both seeds."""
    cells = [_cell(i, "mt", s, g) for i, (s, g) in enumerate(MT.items())]
    for alpha, rho, d in zip((0.0, 0.5, 1.0), (0.3, 0.8, 1.0), pref_gain_vs_mt):
        for s in MT:
            cells.append(_cell(len(cells), "mt+qcond+pref", s, MT[s] + d, rho, alpha))
    # the noise path and a failed run must not move the reading
    cells.append(_cell(len(cells), "mt+qcond+pref", 0, -9.0, 0.5, 1.0, sigma=0.1))
    cells.append(_cell(len(cells), "mt+qcond+pref", 1, 9.0, 0.8, 0.5, status="FAILED"))
    # qcond: level with mt at the preset already; filter: one seed without a baseline run
    for alpha in (0.0, 1.0):
        cells.append(_cell(len(cells), "mt+qcond", 0, MT[0] + 0.01, 0.3, alpha))
    cells.append(_cell(len(cells), "filter", 7, -0.5, 0.2, 0.0))
    cells.append(_cell(len(cells), "filter", 7, -0.4, 1.0, 1.0))
    return cells


def test_crossing_is_interpolated_between_the_settings_around_it():
    by_method = {c.method: c for c in crossings(_store(), TABLE)}
    pref = by_method["mt+qcond+pref"]
    assert pref.kind == "crosses" and pref.seeds == 2 and pref.between == (0.5, 1.0)
    # -0.2 at alpha 0.5 and +0.6 at alpha 1: a quarter of the way, alpha 0.625, rho 0.8 + 0.25 * 0.2 = 0.85
    assert (pref.alpha, pref.rho) == pytest.approx((0.625, 0.85))
    assert [p.gain for p in pref.points] == pytest.approx([-1.0, -0.2, 0.6])
    assert by_method["mt+qcond"].kind == "above"
    assert "filter" not in by_method  # seed 7 has no mt run: nothing paired


def test_rows_that_differ_on_another_axis_are_separate_paths_and_default_rows_sit_at_the_preset():
    """The faithfulness sweep: the same method under the official weighting and at the defaults, whose offline
    row carries no alpha label (it runs the preset, alpha 0) and whose oracle row names alpha 1."""
    table = {"rows": ["method", "iqa.agreement.alpha", "pl.w_sup"], "columns": "metric", "baseline": "mt",
             "controls": ["mt"], "labels": {"2.5": "official weighting"}}

    def cell(i, seed, y, alpha, w_sup=None, x=0.3, oracle=False):
        labels = {"method": "pref", "task": "dehaze", "seed": seed,
                  **({"iqa.agreement.alpha": alpha} if alpha is not None else {}),
                  **({"pl.w_sup": w_sup} if w_sup is not None else {})}
        tags = {"qtbench.oracle_reward": "true"} if oracle else {}
        return Cell(i, labels, f"h{i}", RunRecord(f"r{i}", "FINISHED", 0, 1, {
            "delta/student-base/target_psnr": y, "iqa/agreement_srcc/ensemble": x}, {}, tags))

    cells = [Cell(0, {"method": "mt", "task": "dehaze", "seed": 0}, "m",
                  RunRecord("m", "FINISHED", 0, 1, {"delta/student-base/target_psnr": 0.0}, {}, {}))]
    cells += [cell(1, 0, -1.0, None), cell(2, 0, 0.5, 1.0, x=1.0, oracle=True),  # defaults: -1.0 -> +0.5
              cell(3, 0, -0.2, 0.0, 2.5), cell(4, 0, 0.2, 1.0, 2.5, x=1.0, oracle=True),  # official: -0.2 -> +0.2
              cell(5, 0, 9.0, None, x=1.0, oracle=True)]  # an oracle row without its alpha: not placed
    paths = {c.setting: c for c in crossings(cells, table)}
    assert sorted(paths) == ["", "official weighting"]
    assert paths[""].alpha == pytest.approx(1.0 / 1.5) and [p.gain for p in paths[""].points] == [-1.0, 0.5]
    assert paths["official weighting"].alpha == pytest.approx(0.5)
    text = "\n".join(render_md(list(paths.values()), "mt"))
    assert "- dehaze, `pref`: crosses between α 0 and 1" in text
    assert "- dehaze, `pref` (official weighting): crosses between α 0 and 1" in text


def test_a_path_is_paired_with_the_baseline_trained_the_same_way():
    """Mean Teacher under the official weighting as well: the official-weighting path is read against it (hand
    computed: -0.2 - 0.3 = -0.5 at alpha 0, +0.2 - 0.3 = -0.1 at alpha 1, below it throughout), the default path
    against the plain Mean Teacher (0.0), and a baseline row trained otherwise pairs with neither."""
    table = {"rows": ["method", "iqa.agreement.alpha", "pl.w_sup", "pl.iters"], "columns": "metric",
             "baseline": "mt", "controls": ["mt"], "labels": {"2.5": "official weighting"}}

    def cell(i, method, y, alpha=None, w_sup=None, iters=None, x=0.3):
        labels = {"method": method, "task": "dehaze", "seed": 0,
                  **({"iqa.agreement.alpha": alpha} if alpha is not None else {}),
                  **({"pl.w_sup": w_sup} if w_sup is not None else {}),
                  **({"pl.iters": iters} if iters is not None else {})}
        metrics = {"delta/student-base/target_psnr": y}
        if method != "mt":
            metrics["iqa/agreement_srcc/ensemble"] = x
        return Cell(i, labels, f"h{i}", RunRecord(f"r{i}", "FINISHED", 0, 1, metrics, {}, {}))

    cells = [cell(0, "mt", 0.0), cell(1, "mt", 0.3, w_sup=2.5), cell(2, "mt", 5.0, iters=2000),
             cell(3, "pref", -1.0, 0.0, 1.0, 500), cell(4, "pref", 0.5, 1.0, 1.0, 500, x=1.0),
             cell(5, "pref", -0.2, 0.0, 2.5, 500), cell(6, "pref", 0.2, 1.0, 2.5, 500, x=1.0)]
    paths = {c.setting: c for c in crossings(cells, table)}
    official = paths["official weighting, pl.iters=500"]
    assert official.baseline_setting == "official weighting" and official.kind == "below"
    assert [p.gain for p in official.points] == pytest.approx([-0.5, -0.1])
    default = paths["pl.w_sup=1.0, pl.iters=500"]
    assert default.baseline_setting == "" and [p.gain for p in default.points] == pytest.approx([-1.0, 0.5])
    assert "[against mt (official weighting)]" in "\n".join(render_md([official], "mt"))


def test_paths_that_never_cross_or_are_too_short():
    pts = [PathPoint(0.0, 0.3, -1.0, 5), PathPoint(1.0, 1.0, -0.1, 3)]
    assert read_path("t", "m", pts).kind == "below"
    assert read_path("t", "m", pts[:1]).kind == "thin"
    # a dip after a crossing is not a second crossing: the first one is read
    c = read_path("t", "m", [PathPoint(0.0, 0.2, -0.4, 5), PathPoint(0.5, 0.6, 0.4, 2), PathPoint(1.0, 1.0, -0.1, 1)])
    assert c.kind == "crosses" and c.alpha == pytest.approx(0.25) and c.seeds == 2


def test_no_reading_without_an_alpha_axis_or_a_baseline():
    assert crossings(_store(), {**TABLE, "rows": ["method"]}) == []
    assert crossings(_store(), {k: v for k, v in TABLE.items() if k != "baseline"}) == []


def test_markdown_names_the_crossing_and_the_seeds_it_rests_on():
    md = "\n".join(render_md(crossings(_store(), TABLE), "mt"))
    assert "`mt+qcond+pref`: crosses between α 0.5 and 1 (interpolated α ≈ 0.62, measured ρ ≈ 0.85; on 2 seeds)" in md
    assert "α 0.5: -0.20 dB at ρ 0.80 (2 seeds)" in md and "not a result" in md
    assert render_md([], "mt") == []
    below = read_path("dehaze", "filter", [PathPoint(0.0, 0.3, -1.0, 5), PathPoint(1.0, 1.0, -0.03, 3)])
    assert "below mt at every measured setting (closest -0.03 dB, at α 1)" in render_md([below], "mt")[2]


def test_the_agreement_sweeps_md_table_carries_the_reading_and_other_formats_do_not():
    spec = load_sweep(Path(__file__).resolve().parents[2] / "sweeps" / "reward_agreement.yaml")
    gain = {("mt", None): 0.0}
    cells = []
    for i, c in enumerate(spec.cells):
        labels = dict(c.labels)
        alpha = labels.get("iqa.agreement.alpha")
        y = gain.get((labels["method"], alpha), -0.5 + float(alpha or 0))  # crosses at alpha 0.5 everywhere
        m = {"delta/student-base/target_psnr": y, "iqa/agreement_srcc/ensemble": 0.2 + 0.8 * float(alpha or 0)}
        cells.append(Cell(i, labels, f"h{i}", RunRecord(f"r{i}", "FINISHED", i, i + 1, m, {}, {})))
    runs = SweepRuns(spec.name, "sqlite:///x", "p", cells)
    table = build(runs, spec.table, spec.name, parse_metrics(spec.table))
    md = render("md", table, "Method", spec.table, runs)
    assert md.count("(interpolated α ≈ 0.50, measured ρ ≈ 0.60; on 5 seeds)") == 6  # the six IQA-driven methods
    assert "crosses" not in render("csv", table, "Method", spec.table, runs)
