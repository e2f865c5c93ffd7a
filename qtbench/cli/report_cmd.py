"""``qtbench report``: rebuild BENCHMARKS.md's generated sections from results/."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="rebuild the generated sections of BENCHMARKS.md from results/",
                       description="Replace the text between <!-- report:NAME:start --> and <!-- report:NAME:end "
                       "--> markers in BENCHMARKS.md (tables, figures, bench results) with what results/ holds: "
                       "results/tables/*.{md,json} (from `qtbench table`), results/figures/SWEEP_*.png (from "
                       "`qtbench plot`), results/bench/*.json (from `qtbench bench`). Text outside the markers "
                       "is never touched; missing markers are appended at the end.")
    p.add_argument("--file", default="BENCHMARKS.md", help="the file to update (default: ./BENCHMARKS.md)")
    p.add_argument("--results", default="results", help="results folder (default: ./results)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is out of date")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from qtbench.report.benchmarks_md import rebuild

    changed = rebuild(Path(args.file), Path(args.results), write=not args.check)
    if args.check:
        print(f"{args.file}: " + (f"out of date ({', '.join(changed)})" if changed else "up to date"))
        return 1 if changed else 0
    print(f"{args.file}: " + (f"rebuilt {', '.join(changed)}" if changed else "already up to date"))
    return 0
