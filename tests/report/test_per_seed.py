"""The seed-by-seed view under a Markdown table (`table.per_seed`): values by seed, paired differences against
the baseline by seed, `—` for a seed without a finished run; and the sweep file refuses a key the table lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtbench.errors import UserError
from qtbench.launch.sweep_file import load_sweep
from qtbench.report import render_md
from qtbench.report.collect import Cell, RunRecord, SweepRuns
from qtbench.report.layout import build, parse_metrics

SWEEP = """
name: seeds_view
axes:
  methods: [mt, mt+qcond]
  tasks: [dehaze]
  seeds: [0, 1, 2]
table:
  rows: method
  metrics:
    - {key: delta/student-base/target_psnr, label: dPSNR, digits: 2}
  baseline: mt
  per_seed: delta/student-base/target_psnr
"""
# hand-made values: mt +0.10/-0.20/+0.30, qcond +0.50/+0.25 (seed 2 unfinished)
VALUES = {("mt", 0): 0.10, ("mt", 1): -0.20, ("mt", 2): 0.30, ("mt+qcond", 0): 0.50, ("mt+qcond", 1): 0.25}


def _spec(tmp_path: Path, text: str = SWEEP):
    p = tmp_path / "seeds_view.yaml"
    p.write_text(text)
    return load_sweep(p)


def test_values_and_paired_differences_are_listed_seed_by_seed(tmp_path):
    spec = _spec(tmp_path)
    cells = []
    for i, c in enumerate(spec.cells):
        v = VALUES.get((dict(c.labels)["method"], c.seed))
        run = None if v is None else RunRecord(f"r{i}", "FINISHED", i, i + 1, {"delta/student-base/target_psnr": v},
                                                {}, {})
        cells.append(Cell(i, dict(c.labels), f"h{i}", run))
    table = build(SweepRuns(spec.name, "sqlite:///x", "p", cells), spec.table, spec.name, parse_metrics(spec.table))
    md = render_md.render(table, "Method")
    assert "| Method | s0 | s1 | s2 |" in md
    assert "| mt | +0.10 | -0.20 | +0.30 |" in md
    assert "| mt+qcond | +0.50 | +0.25 | — |" in md
    # against mt of the same seed: +0.40, +0.45 (seed 2 has no pair)
    vs = md.split("paired difference against mt")[1]
    assert "| mt+qcond | +0.40 | +0.45 | — |" in vs and "| mt |" not in vs


def test_a_per_seed_key_outside_the_table_metrics_is_refused(tmp_path):
    with pytest.raises(UserError, match="per_seed.*not one of the table's metrics"):
        _spec(tmp_path, SWEEP.replace("per_seed: delta/student-base/target_psnr", "per_seed: student/target_psnr"))


def test_without_per_seed_the_table_has_no_seed_view(tmp_path):
    spec = _spec(tmp_path, SWEEP.replace("  per_seed: delta/student-base/target_psnr\n", ""))
    cells = [Cell(i, dict(c.labels), f"h{i}", RunRecord(f"r{i}", "FINISHED", i, i + 1,
                                                         {"delta/student-base/target_psnr": 0.1}, {}, {}))
             for i, c in enumerate(spec.cells)]
    table = build(SweepRuns(spec.name, "sqlite:///x", "p", cells), spec.table, spec.name, parse_metrics(spec.table))
    assert "Per seed" not in render_md.render(table, "Method")


def test_a_pair_from_two_cpu_models_is_marked(tmp_path):
    """Seed 0 of mt+qcond ran on another CPU model than mt's seed 0: its difference gets the mark and the legend."""
    spec = _spec(tmp_path)
    cells = []
    for i, c in enumerate(spec.cells):
        labels = dict(c.labels)
        v = VALUES.get((labels["method"], c.seed))
        cpu = "AMD EPYC" if (labels["method"], c.seed) == ("mt+qcond", 0) else "Intel Xeon"
        run = None if v is None else RunRecord(f"r{i}", "FINISHED", i, i + 1, {"delta/student-base/target_psnr": v},
                                                {}, {"cpu": cpu})
        cells.append(Cell(i, labels, f"h{i}", run))
    table = build(SweepRuns(spec.name, "sqlite:///x", "p", cells), spec.table, spec.name, parse_metrics(spec.table))
    md = render_md.render(table, "Method")
    assert "| mt+qcond | +0.40† | +0.45 | — |" in md and "different CPU models" in md
    assert "+0.50†" not in md  # values themselves are not pairs


def test_a_pair_with_one_untagged_run_is_marked_unknown(tmp_path):
    """mt's seed 1 predates the `cpu` tag, mt+qcond's seed 1 names its CPU: that pair is `?`, not a clean pair;
    seed 0, where both name the same CPU, has no mark. The CSV lists the seed too."""
    from qtbench.report import render_csv

    spec = _spec(tmp_path)
    cells = []
    for i, c in enumerate(spec.cells):
        labels = dict(c.labels)
        v = VALUES.get((labels["method"], c.seed))
        tags = {} if (labels["method"], c.seed) == ("mt", 1) else {"cpu": "AMD EPYC"}
        run = None if v is None else RunRecord(f"r{i}", "FINISHED", i, i + 1, {"delta/student-base/target_psnr": v},
                                                {}, tags)
        cells.append(Cell(i, labels, f"h{i}", run))
    table = build(SweepRuns(spec.name, "sqlite:///x", "p", cells), spec.table, spec.name, parse_metrics(spec.table))
    md = render_md.render(table, "Method")
    assert "| mt+qcond | +0.40 | +0.45? | — |" in md and "predates the `cpu` tag" in md
    assert "†" not in md.split("Per seed")[1]
    csv = render_csv.render(table, "Method")
    assert csv.splitlines()[0].endswith(",vs_machine_unknown_seeds") and csv.rstrip().splitlines()[-1].endswith(",1")
