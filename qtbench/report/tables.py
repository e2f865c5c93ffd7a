"""``qtbench table``: a sweep's runs in MLflow -> ``results/tables/NAME.{md,tex,csv}`` (+ ``NAME.json``).

Files are byte-for-byte reproducible from the same store: fixed bootstrap seed, cells in sweep order, fixed
decimals, no timestamps. ``NAME.json`` holds the provenance BENCHMARKS.md shows (commits, hosts, seeds, scale,
date of the last finished run, commands); it is derived from the store too, so it is just as stable.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

from qtbench import atomic
from qtbench.errors import UserError
from qtbench.report import render_csv, render_md, render_tex
from qtbench.report.collect import SweepRuns, collect
from qtbench.report.layout import METRIC, Table, build, parse_metrics
from qtbench.tracking.archive import IMPORTED_FROM

FORMATS = {"md": render_md.render, "tex": render_tex.render, "csv": render_csv.render}
SWEEPS_DIR = Path("sweeps")


def find_sweep(arg: str, sweeps_dir: Path = SWEEPS_DIR):
    """The sweep file named by ``arg`` (a path, or a name in ``sweeps/``), parsed and checked."""
    from qtbench.launch.sweep_file import load_sweep

    p = Path(arg)
    if not p.is_file():
        p = Path(sweeps_dir) / f"{arg}.yaml"
    if not p.is_file():
        known = sorted(f.stem for f in Path(sweeps_dir).glob("*.yaml"))
        raise UserError(f"unknown sweep {arg!r}: no file {arg} or {p} (known: {', '.join(known) or 'none'})")
    return load_sweep(p)


def parse_formats(text: Optional[str], default: list[str]) -> list[str]:
    """``md,tex,csv`` -> list (checked)."""
    fmts = [f.strip() for f in text.split(",") if f.strip()] if text else list(default or FORMATS)
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise UserError(f"--format {text!r}: choose from {', '.join(FORMATS)} (comma-separated)")
    return fmts


def corner(table_block: dict) -> str:
    """Header of the row-label column: the rows axis, capitalised."""
    rows = table_block.get("rows") or "method"
    rows = rows if isinstance(rows, list) else [rows]
    text = " / ".join(str(r) for r in rows)
    return text[:1].upper() + text[1:] if rows[0] in ("method", "task", METRIC) else text


def sweep_command(spec) -> str:
    """The run command a sweep file documents (its ``# Command:`` comment), else the plain one."""
    for line in spec.path.read_text().splitlines():
        if line.lstrip("# ").lower().startswith("command:"):
            return line.split(":", 1)[1].strip()
    return f"qtbench sweep {spec.path}"


def provenance(spec, runs: SweepRuns, metrics: list[str], fmts: list[str]) -> dict:
    """Where the numbers come from, from the runs' own tags (no clock, no machine-local paths)."""
    done = [c.run for c in runs.done()]
    tags = lambda key: sorted({r.tags.get(key, "unknown") for r in done})  # noqa: E731
    last = max((r.end_time or 0 for r in done), default=0)
    table_cmd = f"qtbench table {spec.name} --format {','.join(fmts)}"
    if metrics:
        table_cmd += " " + " ".join(f"--metric {m}" for m in metrics)
    return {
        "sweep": spec.name,
        "file": spec.path.as_posix(),
        "title": str(spec.table.get("title") or spec.name),
        "scale": sorted({r.tags.get("qtbench.scale", "unknown") for r in done}),
        "tasks": sorted({str(c.labels.get("task")) for c in runs.cells}),
        "seeds": sorted({c.seed for c in runs.cells}),
        "cells": len(runs.cells),
        "finished": len(done),
        "failed": sum(c.status == "failed" for c in runs.cells),
        "git_commits": tags("git_commit"),
        "git_dirty": tags("git_dirty"),
        "hosts": tags("host"),
        "cpus": tags("cpu"),
        "torch": tags("version.torch"),
        "last_run_finished": dt.datetime.fromtimestamp(last / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        # the sweep's parent run in the store where it ran, kept through archive export/import, so a table rebuilt
        # from an imported archive has the same provenance bytes
        "parent_run_id": runs.parent_tags.get(IMPORTED_FROM) or runs.parent_run_id,
        "commands": {"sweep": runs.parent_tags.get("qtbench.command") or sweep_command(spec),
                     "table": table_cmd, "plot": f"qtbench plot {spec.name}"},
    }


def make_table(spec, uri: str, metrics: Optional[list[str]] = None, parent: Optional[str] = None
               ) -> tuple[Table, SweepRuns]:
    """Collect the sweep's runs and lay them out (no files written)."""
    if not spec.table:
        raise UserError(f"{spec.path}: no table: block; add one (rows, columns, metrics; see sweeps/README.md)")
    runs = collect(spec.name, uri, parent)
    return build(runs, spec.table, spec.name, parse_metrics(spec.table, metrics)), runs


def render(fmt: str, table: Table, head: str, table_block: dict, runs: SweepRuns) -> str:
    """One table file; the Markdown one of a reward-agreement sweep also says where each method crosses the
    baseline (:mod:`qtbench.report.crossing`)."""
    text = FORMATS[fmt](table, head)
    if fmt == "md":
        from qtbench.report.crossing import crossings, render_md as crossing_md

        lines = crossing_md(crossings(runs.cells, table_block), str(table_block.get("baseline")))
        text += "\n" + "\n".join(lines) if lines else ""
    return text


def write_tables(spec, uri: str, out_dir: Path, fmts: list[str], metrics: Optional[list[str]] = None,
                 parent: Optional[str] = None) -> list[Path]:
    """Write ``out_dir/NAME.<fmt>`` for each format and ``NAME.json``; return the paths written."""
    table, runs = make_table(spec, uri, metrics, parent)
    head = corner(spec.table)
    out_dir = Path(out_dir)
    paths = [atomic.write_text(out_dir / f"{spec.name}.{f}", render(f, table, head, spec.table, runs)) for f in fmts]
    paths.append(atomic.write_json(out_dir / f"{spec.name}.json", provenance(spec, runs, metrics or [], fmts)))
    return paths
