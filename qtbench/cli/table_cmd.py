"""``qtbench table SWEEP``: the sweep's table from its finished runs in MLflow (layout: sweeps/README.md)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Optional

EPILOG = """examples:
  qtbench table ablation_components                       # results/tables/ablation_components.{md,tex,csv}
  qtbench table sweeps/plug_and_play.yaml --format md --metric delta/student-base/target_psnr
  qtbench table plug_and_play --tracking-uri http://127.0.0.1:5000

Rows, columns, labels and metrics come from the sweep file's `table:` block (sweeps/README.md); runs are
matched to the sweep's cells by their resolved-config hash. Rebuilding from the same store gives the same
bytes.
"""


def add_store_arguments(p: argparse.ArgumentParser) -> None:
    """``--runs-dir``, ``--tracking-uri``, ``--parent`` (table and plot)."""
    p.add_argument("sweep", metavar="SWEEP", help="sweep name (sweeps/NAME.yaml) or sweep file")
    p.add_argument("--runs-dir", default="runs", help="runs folder whose MLflow store to read (default: ./runs)")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, "
                   "else this runs folder's `qtbench tracking serve` server, else its SQLite file)")
    p.add_argument("--parent", default=None, help="the sweep's MLflow parent run to read (default: its latest)")
    p.add_argument("--results", default="results", help="results folder (default: ./results)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("table", help="a sweep's table (md/tex/csv) from its runs in MLflow", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Aggregate a sweep's finished runs over seeds (mean ± std, 95% bootstrap "
                       "interval, paired differences) and write results/tables/SWEEP.{md,tex,csv}.")
    add_store_arguments(p)
    p.add_argument("--format", default=None, help="comma-separated: md,tex,csv (default: the sweep's "
                   "table.formats, else all three)")
    p.add_argument("--metric", action="append", default=None,
                   help="metric key(s) to show instead of the table's (repeat or comma-separate)")
    p.set_defaults(handler=handle)


def resolve_uri(runs_dir: str, explicit: Optional[str]) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else the runs folder's server, else its SQLite file."""
    from qtbench.tracking.server import running_url

    if explicit:
        return explicit
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return env or running_url(Path(runs_dir)) or f"sqlite:///{Path(runs_dir).resolve()}/mlflow.db"


def handle(args: argparse.Namespace) -> int:
    from qtbench.report.tables import find_sweep, parse_formats, write_tables

    spec = find_sweep(args.sweep)
    fmts = parse_formats(args.format, spec.table.get("formats") or [])
    metrics = [m for item in args.metric or [] for m in item.split(",") if m.strip()] or None
    uri = resolve_uri(args.runs_dir, args.tracking_uri)
    paths = write_tables(spec, uri, Path(args.results) / "tables", fmts, metrics, args.parent)
    for p in paths:
        print(f"wrote {p}")
    return 0
