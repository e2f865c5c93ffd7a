"""``qtbench plot``: seaborn figures of a sweep's runs in MLflow (Agg backend, no display needed).

- ``SWEEP_bars.png``: each table metric per row (hue: the column axis), 95 % bootstrap interval over seeds;
- ``SWEEP_levels.png``: quality level asked of the student vs its output score and PSNR (monotonicity), from the
  ``levels/score_i`` and ``levels/psnr_i`` metrics of runs with ``qcond``;
- ``SWEEP_pl_levels.png``: histogram of the quality levels given to pseudo-labels, per row, from the runs'
  ``summary.json`` artifact (the per-PL combined scores are not logged, their levels are);
- ``SWEEP_curves.png``: training curves (``loss/total``, ``trajectory/student/target_psnr``) from metric histories;
- ``SWEEP_agreement.png``: delta target-test PSNR vs the reward agreement each run measured, one line per method,
  controls as bands (:mod:`qtbench.report.agreement_figure`, docs/agreement.md).
A figure without data is skipped and reported, not an error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from qtbench.report.agreement_figure import agreement_figure
from qtbench.report.collect import Cell, collect, metric_history, run_summary
from qtbench.report.figure_io import save
from qtbench.report.layout import METRIC, entry_text, parse_metrics, show

CURVES = ("loss/total", "trajectory/student/target_psnr")
BOOT = {"errorbar": ("ci", 95), "n_boot": 1000, "seed": 0}  # fixed seed: same figure from the same store


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: clusters and CI have no display
    import matplotlib.pyplot as plt

    return plt


def _row_axes(table: dict) -> list[str]:
    """The table's row axes; a table with one row per metric draws one line or bar per method."""
    axes = table.get("rows") or "method"
    axes = axes if isinstance(axes, list) else [axes]
    return ["method"] if axes == [METRIC] else axes


def _row_label(c: Cell, table: dict) -> str:
    labels = {str(k): v for k, v in (table.get("labels") or {}).items()}
    return entry_text(c, _row_axes(table), labels)


def _legend_title(ax, axes: list[str]) -> None:
    """Title a plot's legend with the axes its hue stands for (seaborn would write "row" or "column")."""
    legend = ax.get_legend()
    if legend is not None:
        legend.set_title(" / ".join(axes))


def _col_axes(table: dict) -> list[str]:
    axes = table.get("columns") or METRIC
    return axes if isinstance(axes, list) else [axes]


def _col_label(c: Cell, table: dict) -> Optional[str]:
    axes = _col_axes(table)
    if axes == [METRIC]:
        return None
    labels = {str(k): v for k, v in (table.get("labels") or {}).items()}
    if len(axes) == 1:  # the legend title names the axis
        return show(c.labels.get(axes[0]), labels)
    return " / ".join(f"{a}={show(c.labels.get(a), labels)}" for a in axes)


def _by_column(df) -> list:
    """``[(column label or None, rows)]``: one facet per value of the table's column axis (tasks are not averaged)."""
    if "column" not in df or df["column"].isna().all():
        return [(None, df)]
    return [(col, df[df["column"] == col]) for col in dict.fromkeys(df["column"])]


def _titled(text: str, col: Optional[str]) -> str:
    return f"{col}: {text}" if col else text


def bars(plt, sns, cells: list[Cell], table: dict, metrics, path: Path) -> Optional[Path]:
    import pandas as pd

    from qtbench.report.aggregate import metric_value

    rows = [{"row": _row_label(c, table), "column": _col_label(c, table), "metric": m.label,
             "value": metric_value(c.run.metrics, m.key, m.paired)} for c in cells for m in metrics]
    df = pd.DataFrame([r for r in rows if r["value"] is not None])
    if df.empty:
        return None
    present = [m for m in metrics if m.label in set(df["metric"])]
    hue = "column" if df["column"].notna().any() else None
    # horizontal bars: row labels ("w/o score injection (qcond, hence pref, crop)") stay readable
    n_bars = df["row"].nunique() * (df["column"].nunique() if hue else 1)
    fig, axes = plt.subplots(len(present), 1, figsize=(9, (1.2 + 0.32 * n_bars) * len(present)), squeeze=False,
                             layout="constrained")
    for ax, m in zip(axes[:, 0], present):
        sub = df[df["metric"] == m.label]
        sns.barplot(data=sub, y="row", x="value", hue=hue, ax=ax, orient="h", **BOOT)
        ax.set_title(f"{m.label} ({'higher' if m.higher_better else 'lower'} is better; 95 % CI over seeds)")
        ax.set_ylabel("")
        ax.set_xlabel(m.label)
        if hue:
            _legend_title(ax, _col_axes(table))
        if m.signed:
            ax.axvline(0, color="k", lw=0.8)
    return save(plt, fig, path)


def levels(plt, sns, cells: list[Cell], table: dict, path: Path) -> Optional[Path]:
    import pandas as pd

    pat = re.compile(r"^levels/(score|psnr)_(\d+)$")
    rows = []
    for c in cells:
        for key, v in c.run.metrics.items():
            m = pat.match(key)
            if m:
                rows.append({"row": _row_label(c, table), "column": _col_label(c, table), "what": m.group(1),
                             "level": int(m.group(2)), "value": v})
    if not rows:
        return None
    facets = _by_column(pd.DataFrame(rows))
    fig, axes = plt.subplots(len(facets), 2, figsize=(10, 3.6 * len(facets)), squeeze=False, layout="constrained")
    for (col, df), pair in zip(facets, axes):
        for ax, what, ylab in zip(pair, ("score", "psnr"), ("ensemble score of the output", "PSNR (dB)")):
            sns.lineplot(data=df[df["what"] == what], x="level", y="value", hue="row", marker="o", ax=ax, **BOOT)
            _legend_title(ax, _row_axes(table))
            ax.set_xlabel("quality level asked of the student")
            ax.set_ylabel(ylab)
            if col:
                ax.set_title(col)
    fig.suptitle("Quality level vs output (monotone if conditioning works)")
    return save(plt, fig, path)


def pl_levels(plt, sns, cells: list[Cell], table: dict, uri: str, path: Path) -> Optional[Path]:
    import pandas as pd

    rows = []
    for c in cells:
        hist = ((run_summary(uri, c.run.run_id) or {}).get("levels") or {}).get("pl_level_histogram")
        total = sum(hist or [])
        for level, n in enumerate(hist or []):
            rows.append({"row": _row_label(c, table), "column": _col_label(c, table), "level": level,
                         "fraction": n / total if total else 0.0})
    if not rows:
        return None
    facets = _by_column(pd.DataFrame(rows))
    fig, axes = plt.subplots(len(facets), 1, figsize=(8, 3.4 * len(facets)), squeeze=False, layout="constrained")
    for (col, df), ax in zip(facets, axes[:, 0]):
        sns.barplot(data=df, x="level", y="fraction", hue="row", ax=ax, **BOOT)
        _legend_title(ax, _row_axes(table))
        ax.set_title(_titled("Quality levels given to pseudo-labels during training (fraction; 95 % CI over seeds)",
                             col))
    return save(plt, fig, path)


def curves(plt, sns, cells: list[Cell], table: dict, uri: str, path: Path) -> Optional[Path]:
    import pandas as pd

    rows = [{"row": _row_label(c, table), "column": _col_label(c, table), "key": key, "step": step, "value": v}
            for c in cells for key in CURVES for step, v in metric_history(uri, c.run.run_id, key)]
    if not rows:
        return None
    facets = _by_column(pd.DataFrame(rows))
    keys = [k for k in CURVES if any(k in set(df["key"]) for _, df in facets)]
    fig, axes = plt.subplots(len(facets), len(keys), figsize=(5 * len(keys), 3.4 * len(facets)), squeeze=False,
                             layout="constrained")
    for (col, df), line in zip(facets, axes):
        for ax, key in zip(line, keys):
            sns.lineplot(data=df[df["key"] == key], x="step", y="value", hue="row", ax=ax, **BOOT)
            _legend_title(ax, _row_axes(table))
            ax.set_title(_titled(key, col))
            ax.set_xlabel("PL iteration")
    return save(plt, fig, path)


def plot_sweep(spec, uri: str, out_dir: Path, metrics: Optional[list[str]] = None,
               parent: Optional[str] = None) -> tuple[list[Path], list[str]]:
    """Write the sweep's figures to ``out_dir/NAME_*.png``; return (written, skipped with the reason)."""
    import seaborn as sns

    plt = _pyplot()
    runs = collect(spec.name, uri, parent)
    cells = runs.done()
    table = spec.table or {}
    specs = parse_metrics(table, metrics) if (table.get("metrics") or metrics) else []
    out = Path(out_dir)
    jobs = {
        "bars": lambda p: bars(plt, sns, cells, table, specs, p) if specs else None,
        "levels": lambda p: levels(plt, sns, cells, table, p),
        "pl_levels": lambda p: pl_levels(plt, sns, cells, table, uri, p),
        "curves": lambda p: curves(plt, sns, cells, table, uri, p),
        "agreement": lambda p: agreement_figure(plt, cells, table, p),
    }
    why = {"bars": "no table metric in the finished runs", "levels": "no levels/ metrics (runs without qcond)",
           "pl_levels": "no PL level histogram in the runs' summaries", "curves": "no metric histories",
           "agreement": "no run measured reward agreement (iqa/agreement_srcc/ensemble)"}
    written, skipped = [], []
    for kind, job in jobs.items():
        path = job(out / f"{spec.name}_{kind}.png")
        if path is None:
            skipped.append(f"{spec.name}_{kind}.png: {why[kind]}")
        else:
            written.append(path)
    return written, skipped
