"""Table layout and rendering without MLflow: every sweep file's `table:` block renders in md/tex/csv from
synthetic runs, with ranking, missing and failed cells, and axis columns (ablation_levels)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qtbench.launch.sweep_file import load_sweep
from qtbench.report import render_csv, render_md, render_tex
from qtbench.report.benchmarks_md import replace_section
from qtbench.report.collect import Cell, RunRecord, SweepRuns
from qtbench.report.layout import build, parse_metrics

SWEEPS = sorted((Path(__file__).resolve().parents[2] / "sweeps").glob("*.yaml"))


def _runs(spec, status=lambda i, c: "FINISHED") -> SweepRuns:
    cells = []
    for i, c in enumerate(spec.cells):
        labels = dict(c.labels)
        metrics = {m.key: 0.01 * (i % 7) + 0.001 * c.seed for m in parse_metrics(spec.table)}
        metrics.update({"base/target_ssim": 0.5, "student/target_ssim": 0.6})
        st = status(i, c)
        run = None if st is None else RunRecord(f"r{i}", st, i, i + 1, metrics, {}, {})
        cells.append(Cell(i, labels, f"h{i}", run))
    return SweepRuns(spec.name, "sqlite:///x", "p", cells)


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_every_sweep_table_renders(path):
    spec = load_sweep(path)
    # the first cell is missing, the second failed: the table still renders and says so
    runs = _runs(spec, lambda i, c: None if i == 0 else "FAILED" if i == 1 else "FINISHED")
    table = build(runs, spec.table, spec.name, parse_metrics(spec.table))
    assert table.blocks and table.failed
    md = render_md.render(table, "Method")
    assert "1 failed" in md and "—" not in md.split("Failed runs")[1].split("\n")[0]
    assert render_tex.render(table, "Method").count(r"\toprule") >= len(table.blocks)
    assert render_csv.render(table, "Method").count("\n") == 1 + sum(len(b.cells) for b in table.blocks)
    assert any(b.marks for b in table.blocks)


def test_axis_columns_give_one_block_per_metric_ranked_block_wide():
    spec = load_sweep(next(p for p in SWEEPS if p.stem == "ablation_levels"))
    table = build(_runs(spec), spec.table, spec.name, parse_metrics(spec.table))
    assert [b.title for b in table.blocks] == ["ΔPSNR (dB) ↑", "ρ(level, score) ↑"]
    block = table.blocks[0]
    assert [r.label for r in block.rows] == ["2", "4", "8", "16"]
    assert [c.label for c in block.columns] == ["default", "4", "5", "6"]
    assert list(block.marks.values()).count("best") >= 1 and len(block.cells) == 7  # 7 zipped combinations


def test_ties_share_the_mark_and_controls_are_not_ranked():
    spec = load_sweep(next(p for p in SWEEPS if p.stem == "plug_and_play"))
    runs = _runs(spec)
    for c in runs.cells:  # every method equal, controls far better
        for k in c.run.metrics:
            c.run.metrics[k] = 9.0 if c.labels["method"] in ("srconly", "oracle") else 1.0
    table = build(runs, spec.table, spec.name, parse_metrics(spec.table))
    block = table.blocks[0]
    controls = [i for i, r in enumerate(block.rows) if r.control]
    assert [block.rows[i].label for i in controls] == ["srconly", "oracle"]
    assert all(block.marks.get((ri, 0)) == "best" for ri in range(len(block.rows)) if ri not in controls)
    assert not any(pos[0] in controls for pos in block.marks)


def test_replace_section_keeps_everything_outside_the_markers():
    text = "a\n<!-- report:tables:start -->\nold\n<!-- report:tables:end -->\nb\n"
    assert replace_section(text, "tables", "new\n") == "a\n<!-- report:tables:start -->\nnew\n<!-- report:tables:end -->\nb\n"
    appended = replace_section("a\n", "bench", "x\n")
    assert appended.startswith("a\n\n## ") and appended.endswith("<!-- report:bench:start -->\nx\n<!-- report:bench:end -->\n")


@pytest.mark.slow
def test_list_valued_rows_and_columns_have_labels():
    """Shipped tables never show a raw override list (``[{name:piqe,...}]``) as a row or column header."""
    for path in SWEEPS:
        spec = load_sweep(path)
        table = build(_runs(spec), spec.table, spec.name, parse_metrics(spec.table))
        for block in table.blocks:
            raw = [e.label for e in (*block.rows, *block.columns) if e.label.startswith(("[", "{"))]
            assert not raw, f"{path.name}: add table.labels for {raw}"
    spec = load_sweep(next(p for p in SWEEPS if p.stem == "ablation_iqa"))
    table = build(_runs(spec), spec.table, spec.name, parse_metrics(spec.table))
    assert [r.label for r in table.blocks[0].rows][:2] == ["low-level only", "semantic only"]
    assert table.baseline == "mt (no IQA)"


def test_host_baseline_pairs_each_framework_with_its_own_add_on_row():
    """plug_and_play's `baseline: host`: colabator+qualiteacher - colabator, seed by seed (hand-computed)."""
    spec = load_sweep(next(p for p in SWEEPS if p.stem == "plug_and_play"))
    runs = _runs(spec)
    key = "delta/student-base/target_psnr"
    host_values = {"mt": 0.0, "filter": 1.0, "semiuir": 2.0, "colabator": 3.0}
    for c in runs.cells:
        m = c.labels["method"]
        host, _, addons = m.partition("+")
        # F: host value + seed; F+qualiteacher: host value + 2 x seed + 0.5, so the paired gap is seed + 0.5
        c.run.metrics[key] = host_values.get(host, 9.0) + (2 * c.seed + 0.5 if addons else c.seed)
    table = build(runs, spec.table, spec.name, parse_metrics(spec.table))
    block = table.blocks[0]
    col = next(ci for ci, e in enumerate(block.columns) if e.metric.key == key)
    label_of = {r.label: ri for ri, r in enumerate(block.rows)}
    for host in host_values:
        vs = block.vs[(label_of[f"{host}+qualiteacher"], col)]
        assert vs.mean == pytest.approx(0.5 + 2.0)  # mean of seed + 0.5 over seeds 0..4
        assert (label_of[host], col) not in block.vs  # hosts and controls have no partner
    assert (label_of["oracle"], col) not in block.vs
    assert "without the add-ons" in table.baseline


def test_bench_provenance_names_the_gpu_and_member_gaps(tmp_path):
    import json

    from qtbench.report import bench_md

    member = {"weight": 0.4, "batched_s": 0.01, "looped_s": 0.1, "max_abs_diff": 6e-8}
    d = {"bench": "scoring", "machine": {"cpu": "Xeon", "cores": 16, "threads": 0, "torch_threads": 16,
                                         "device": "cuda", "gpu": "NVIDIA H100 80GB HBM3"},
         "results": {"rows": {"offline/score": {"what": "scores", "images": 24, "batched_s": 0.02, "looped_s": 0.3,
                                                "speedup": 15.0, "max_abs_diff": 1e-7,
                                                "members": {"piqe": member}}}}}
    path = tmp_path / "h100_scoring.json"
    path.write_text(json.dumps(d))
    text = "\n".join(bench_md.render_file(path, tmp_path))
    assert "GPU NVIDIA H100 80GB HBM3 (CUDA); host Xeon, 16 cores, 16 thread(s)" in text
    assert "| &nbsp;&nbsp;piqe (w 0.4) | 0.010 | 0.100 | 10.00x | 6.0e-08 |" in text


def test_figures_facet_by_the_column_axis_instead_of_averaging_over_it():
    import pandas as pd

    from qtbench.report.figures import _by_column

    df = pd.DataFrame({"row": ["mt", "mt", "qt"], "column": ["dehaze", "derain", "dehaze"], "value": [1.0, 2.0, 3.0]})
    facets = _by_column(df)
    assert [c for c, _ in facets] == ["dehaze", "derain"]
    assert list(facets[0][1]["value"]) == [1.0, 3.0] and list(facets[1][1]["value"]) == [2.0]
    assert [c for c, _ in _by_column(df.assign(column=None))] == [None]  # columns: metric -> one panel


def test_a_failed_baseline_run_is_a_missing_pair_not_an_unmeasured_metric():
    from qtbench.report.aggregate import versus

    def cell(i, seed, status, metrics):
        return Cell(i, {"seed": seed}, f"h{i}", RunRecord(f"r{i}", status, 0, 1, metrics, {}, {}))

    rows = [cell(0, 0, "FINISHED", {"m": 1.0}), cell(1, 1, "FINISHED", {"m": 2.0})]
    base = [cell(2, 0, "FINISHED", {"m": 0.5}), cell(3, 1, "FAILED", {})]
    agg = versus(rows, base, "m")
    assert agg.found == 1 and agg.unmeasured == 0 and not agg.not_measured
    no_metric = [cell(4, 0, "FINISHED", {}), cell(5, 1, "FINISHED", {})]  # the baseline never reports it
    agg = versus(rows, no_metric, "m")
    assert agg.found == 0 and agg.unmeasured == 2 and agg.not_measured


def test_an_include_control_beside_a_two_axis_grid_is_named_once():
    """pref_hacking's rows are two grid axes; its `include: mt+qcond` control has neither and reads as one name."""
    from qtbench.report.figures import _row_label

    spec = load_sweep(next(p for p in SWEEPS if p.stem == "pref_hacking"))
    runs = _runs(spec)
    table = build(runs, spec.table, spec.name, parse_metrics(spec.table))
    labels = [r.label for r in table.blocks[0].rows]
    assert labels[0] == "True / False" and labels[-1] == "mt+qcond (no preference loss)"
    control = next(c for c in runs.cells if c.labels["method"] == "mt+qcond")
    assert _row_label(control, spec.table) == "mt+qcond (no preference loss)"


def test_includes_that_override_an_axis_get_their_own_row():
    """reward_faithfulness includes each method at its default setting under the offline and the oracle reward:
    two rows, labelled on the overridden axis and "default" on the others, not one row mixing both."""
    spec = load_sweep(next(p for p in SWEEPS if p.stem == "reward_faithfulness"))
    table = build(_runs(spec), spec.table, spec.name, parse_metrics(spec.table))
    labels = [e.label for e in table.blocks[0].rows]
    assert "mt+qcond+pref / 1.0 / default / default" in labels and "mt+qcond+pref" in labels
    # grid rows, four includes, the mt control plain and under the official weighting and exposure
    assert len(labels) == len(set(labels)) == 8 + 4 + 3
    assert "mt / default / w_sup 2.5 + PL sum (official weighting) / default" in labels


def test_each_row_is_compared_with_the_baseline_row_trained_the_same_way():
    """reward_faithfulness has Mean Teacher plain, under the official weighting and under the official exposure:
    an official-weighting row is paired with the official-weighting Mean Teacher, a default row with the plain
    one (hand-made gains: plain mt 0.1, weighted mt 0.4, every other run 1.0)."""
    spec = load_sweep(next(p for p in SWEEPS if p.stem == "reward_faithfulness"))
    runs = _runs(spec)
    for c in runs.cells:
        mt = c.labels["method"] == "mt"
        c.run.metrics["delta/student-base/target_psnr"] = (0.4 if "pl.w_sup" in c.labels else 0.1) if mt else 1.0
    table = build(runs, spec.table, spec.name, parse_metrics(spec.table))
    block = table.blocks[0]
    col = next(i for i, c in enumerate(block.columns) if c.metric.key == "delta/student-base/target_psnr")
    vs = {block.rows[ri].label: agg.mean for (ri, ci), agg in block.vs.items() if ci == col}
    assert vs["mt+qcond+pref / 0.0 / w_sup 2.5 + PL sum (official weighting) / 500"] == pytest.approx(0.6)
    assert vs["mt+qcond+pref"] == pytest.approx(0.9)
    assert "trained the same way" in table.baseline


def test_an_oracle_mixing_row_is_marked_before_any_of_its_seeds_lands():
    """Rows are marked [ORACLE reward] from the runs' tags; a row none of whose cells has run yet is marked from
    its alpha label, so a half-finished table never shows an unmarked oracle row."""
    spec = load_sweep(next(p for p in SWEEPS if p.stem == "reward_agreement"))
    pending = {i for i, c in enumerate(spec.cells) if dict(c.labels).get("method") == "colabator"}
    runs = _runs(spec, lambda i, c: None if i in pending else "FINISHED")
    for c in runs.cells:
        if c.run is not None and float(c.labels.get("iqa.agreement.alpha") or 0) > 0:
            c.run.tags["qtbench.oracle_reward"] = "true"
    rows = build(runs, spec.table, spec.name, parse_metrics(spec.table)).blocks[0].rows
    colabator = {r.label: r.oracle for r in rows if r.label.startswith("colabator")}
    assert colabator and all(v == ("[ORACLE reward]" in k) for k, v in colabator.items())
    assert [k for k, v in colabator.items() if not v] == ["colabator / 0.0 / 0.0"]
