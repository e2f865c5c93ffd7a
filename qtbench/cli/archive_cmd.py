"""``qtbench archive``: a sweep's finished runs as JSON in the repository, and back into a runs folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from qtbench.errors import UserError

EPILOG = """examples:
  qtbench archive export classic_reward --runs-dir /scratch/runs     # -> results/archive/classic_reward/
  git add results/archive/classic_reward && git commit -m "classic_reward: seeds 0-2 finished"
  # another machine or session:
  qtbench archive import results/archive/classic_reward --runs-dir runs
  qtbench sweep sweeps/classic_reward.yaml --runs-dir runs           # imported cells count as done
  qtbench table classic_reward --runs-dir runs                       # the same table, from the imported runs

A record holds the run's MLflow params, tags and full metric histories, its summary.json and config.yaml:
what tables, plots and the sweep's done/pending bookkeeping need. Checkpoints are not archived, so score runs
(`qtbench eval --checkpoint ... --log`) before exporting them. Importing twice adds nothing.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("archive", help="carry a sweep's finished runs between machines as JSON (export | import)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Export a sweep's finished runs from an MLflow store to plain JSON files (one per "
                       "run) that can be committed, or import such files into another runs folder and store, so a "
                       "sweep can go on, and its tables be rebuilt, on another machine or in another session.")
    p.add_argument("action", choices=("export", "import"))
    p.add_argument("target", metavar="SWEEP|DIR", help="export: the sweep's name; import: an archive folder")
    p.add_argument("--runs-dir", default="runs", help="runs folder: export reads its store, import writes run "
                   "folders and runs into it (default: ./runs)")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else "
                   "this runs folder's `qtbench tracking serve` server, else its SQLite file)")
    p.add_argument("--to", default=None, help="export: archive folder (default: results/archive/SWEEP)")
    p.add_argument("--parent", default=None, help="export: the sweep's parent run to read (default: its latest)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from qtbench.cli.table_cmd import resolve_uri
    from qtbench.names import plain_name
    from qtbench.paths import ensure_writable
    from qtbench.tracking import archive

    uri = resolve_uri(args.runs_dir, args.tracking_uri)
    if args.action == "export":
        name = plain_name(args.target, "sweep name")
        dest = Path(args.to) if args.to else Path("results") / "archive" / name
        ensure_writable(dest, "--to")
        res = archive.export_sweep(name, uri, dest, args.parent,
                                   progress=lambda it: tqdm(list(it), desc="exporting", unit="run", leave=False))
        print(f"exported {len(res.written)} finished or failed runs of sweep {name} to {dest}"
              + (f"; {len(res.skipped)} cells running or missing (not exported)" if res.skipped else ""))
        return 0
    if args.to or args.parent:
        raise UserError("--to and --parent are options of `qtbench archive export`, not of import")
    src = Path(args.target)
    if not src.is_dir():
        raise UserError(f"archive folder {src} does not exist: pass a folder made by `qtbench archive export`, "
                        "e.g. results/archive/SWEEP")
    ensure_writable(Path(args.runs_dir))
    res = archive.import_archive(src, Path(args.runs_dir), uri,
                                 progress=lambda it: tqdm(list(it), desc="importing", unit="run", leave=False))
    print(f"imported {len(res.written)} runs from {src} into {args.runs_dir} ({uri})"
          + (f"; {len(res.skipped)} already there" if res.skipped else ""))
    return 0
