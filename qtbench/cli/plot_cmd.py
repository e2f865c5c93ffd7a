"""``qtbench plot SWEEP``: seaborn figures of a sweep's runs in MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

from qtbench.cli.table_cmd import add_store_arguments, resolve_uri


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="a sweep's figures (results/figures/SWEEP_*.png) from its runs in MLflow",
                       description="Ablation bars with 95% intervals, quality level vs output score and PSNR, "
                       "PL level histograms per method and training curves, from the sweep's runs in MLflow. "
                       "Figures without data (e.g. no level metrics) are skipped and said so.")
    add_store_arguments(p)
    p.add_argument("--metric", action="append", default=None, help="metric key(s) for the bars (default: the table's)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from qtbench.report.figures import plot_sweep
    from qtbench.report.tables import find_sweep

    spec = find_sweep(args.sweep)
    metrics = [m for item in args.metric or [] for m in item.split(",") if m.strip()] or None
    written, skipped = plot_sweep(spec, resolve_uri(args.runs_dir, args.tracking_uri),
                                  Path(args.results) / "figures", metrics, args.parent)
    for p in written:
        print(f"wrote {p}")
    for what in skipped:
        print(f"skipped {what}")
    return 0
