"""The agreement figure (delta PSNR vs measured agreement, controls as bands) on a fake, in-memory store."""

from __future__ import annotations

import pytest

from qtbench.report.agreement_figure import agreement_figure, agreement_points, method_lines, paths, setting_axes
from qtbench.report.collect import Cell, RunRecord
from qtbench.report.figures import _pyplot

TABLE = {"rows": ["method", "iqa.agreement.alpha", "iqa.agreement.sigma"], "columns": "metric",
         "controls": ["mt", "srconly", "oracle"]}


def _cell(i, method, seed, metrics, alpha=None, sigma=None, status="FINISHED"):
    labels = {"method": method, "task": "dehaze", "seed": seed}
    if alpha is not None:
        labels.update({"iqa.agreement.alpha": alpha, "iqa.agreement.sigma": sigma})
    tags = {"qtbench.oracle_reward": "true"} if alpha else {}
    return Cell(i, labels, f"h{i}", RunRecord(f"r{i}", status, 0, 1, metrics, {}, tags))


def _store():
    cells, i = [], 0
    for method, slope in (("filter", 1.0), ("mt+qcond+pref", 3.0)):
        for alpha, sigma, rho in ((0.0, 0.0, 0.2), (0.5, 0.0, 0.6), (1.0, 0.0, 1.0), (1.0, 0.1, 0.5)):
            for seed in range(3):
                m = {"iqa/agreement_srcc/ensemble": rho + 0.01 * seed,
                     "delta/student-base/target_psnr": slope * (rho - 0.5) + 0.02 * seed}
                cells.append(_cell(i, method, seed, m, alpha, sigma))
                i += 1
    for method, gain in (("mt", 0.3), ("srconly", 0.1), ("oracle", 2.0)):
        for seed in range(3):
            cells.append(_cell(i, method, seed, {"delta/student-base/target_psnr": gain + 0.05 * seed}))
            i += 1
    cells.append(_cell(i, "filter", 9, {"delta/student-base/target_psnr": 5.0}, 0.0, 0.0, status="FAILED"))
    return cells


def test_points_group_methods_by_setting_and_controls_into_bands():
    lines, bands = agreement_points(_store(), TABLE)
    assert sorted(lines["dehaze"]) == ["filter", "mt+qcond+pref"]
    pref = lines["dehaze"]["mt+qcond+pref"]
    assert len(pref) == 4 and all(len(v) == 3 for v in pref.values())  # 4 settings x 3 seeds; failed run left out
    x, y, oracle = pref[("1.0", "0.1")][0]
    assert (x, y, oracle) == pytest.approx((0.5, 0.0, True))
    assert not pref[("0.0", "0.0")][0][2]  # the offline preset: not an oracle point
    assert sorted(bands["dehaze"]) == ["mt", "oracle", "srconly"]
    assert bands["dehaze"]["mt"] == pytest.approx([0.3, 0.35, 0.4])


def test_a_control_trained_another_way_is_a_band_of_its_own():
    """The faithfulness sweep's Mean Teacher under the official weighting is not pooled with the plain one."""
    table = {"rows": ["method", "iqa.agreement.alpha", "pl.w_sup"], "columns": "metric", "controls": ["mt"],
             "labels": {"2.5": "official weighting"}}
    cells = [Cell(0, {"method": "mt", "task": "dehaze", "seed": 0}, "a",
                  RunRecord("a", "FINISHED", 0, 1, {"delta/student-base/target_psnr": 0.1}, {}, {})),
             Cell(1, {"method": "mt", "task": "dehaze", "seed": 0, "pl.w_sup": 2.5}, "b",
                  RunRecord("b", "FINISHED", 0, 1, {"delta/student-base/target_psnr": 0.7}, {}, {}))]
    _, bands = agreement_points(cells, table)
    assert bands["dehaze"] == {"mt": [0.1], "mt (official weighting)": [0.7]}


def test_figure_is_written_and_skipped_without_agreement(tmp_path):
    plt = _pyplot()
    path = agreement_figure(plt, _store(), TABLE, tmp_path / "a.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_x = [c for c in _store() if "iqa/agreement_srcc/ensemble" not in c.run.metrics]
    assert agreement_figure(plt, no_x, TABLE, tmp_path / "b.png") is None and not (tmp_path / "b.png").exists()


def test_mixing_and_noise_settings_are_separate_lines_sharing_the_oracle_point():
    axes = setting_axes(TABLE)
    assert axes == ["iqa.agreement.alpha", "iqa.agreement.sigma"]
    settings = [("0.0", "0.0"), ("0.25", "0.0"), ("1.0", "0.0"), ("1.0", "0.05"), ("1.0", "0.1")]
    assert paths(settings, axes) == [("mixing", [("0.0", "0.0"), ("0.25", "0.0"), ("1.0", "0.0")]),
                                     ("noise", [("1.0", "0.0"), ("1.0", "0.05"), ("1.0", "0.1")])]
    # no noisy setting finished yet: the oracle point alone is no noise line
    assert paths(settings[:3], axes) == [("mixing", settings[:3])]
    # a table without the noise axis: one line through every setting
    assert paths([("a",), ("b",)], ["iqa.preset"]) == [("all", [("a",), ("b",)])]


def test_the_figure_draws_each_methods_mixing_and_noise_lines():
    lines, _ = agreement_points(_store(), TABLE)
    drawn = [(i, m, kind, len(pts)) for i, m, kind, pts in method_lines(lines["dehaze"], setting_axes(TABLE))]
    # 3 mixing settings (alpha 0, 0.5, 1) and the oracle with sigma 0 and 0.1; one colour per method
    assert drawn == [(0, "filter", "mixing", 3), (0, "filter", "noise", 2),
                     (1, "mt+qcond+pref", "mixing", 3), (1, "mt+qcond+pref", "noise", 2)]
    xs = [p[0] for p in method_lines(lines["dehaze"], setting_axes(TABLE))[0][3]]
    assert xs == sorted(xs)


def test_settings_on_another_axis_are_lines_of_their_own():
    """The faithfulness sweep: pref at the defaults and under the official weighting are two lines, each from the
    preset to the oracle, not one line zig-zagging between them."""
    keys = ["iqa.agreement.alpha", "pl.w_sup"]
    methods = {"pref": {("None", "None"): [(0.3, -1.0, False)], ("1.0", "None"): [(1.0, 0.5, True)],
                        ("0.0", "2.5"): [(0.3, -0.2, False)], ("1.0", "2.5"): [(1.0, 0.3, True)]}}
    drawn = {kind: [p[1] for p in pts] for _, _, kind, pts in method_lines(methods, keys, {"2.5": "official"})}
    assert drawn == {"all": [-1.0, 0.5], "official": [-0.2, 0.3]}
