"""``qtbench sweep``: run a sweep file's cells (skipping finished ones), or show their status."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

from qtbench.errors import UserError

EPILOG = """examples:
  qtbench sweep sweeps/ablation_components.yaml --dry-run           # the cells, their status, what would run
  qtbench sweep sweeps/ablation_components.yaml --launcher slurm launcher.partition=gpu launcher.gpus_per_node=1
  qtbench sweep sweeps/plug_and_play.yaml --scale smoke --tasks dehaze --seeds 0 pl.iters=4
  qtbench sweep status ablation_components                           # done / running / failed / pending per cell
  qtbench sweep status reward_agreement --rows                       # seeds done per table row
  qtbench sweep sweeps/reward_agreement.yaml --cells 153             # one cell now (indices from --dry-run)

A cell's identity is the hash of its resolved config: a finished cell is never recomputed, an interrupted
one resumes from its checkpoint, a failed one is retried on the next invocation. KEY=VALUE items are added
to every cell's overrides, except launcher.KEY=VALUE, which set the launcher (`conf/launcher/*.yaml`).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run the cells of a sweep file (or `sweep status NAME`)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Expand a sweep file into runs and launch the unfinished ones (debug: in this "
                       "process; local: subprocesses; slurm: one job array). `qtbench sweep status NAME` prints "
                       "done / running / failed / pending per cell.")
    p.add_argument("file", metavar="FILE|status", help="sweep file (sweeps/NAME.yaml), or `status`")
    p.add_argument("items", nargs="*", metavar="NAME|KEY=VALUE",
                   help="after `status`: the sweep name; otherwise overrides for every cell / launcher.KEY=VALUE")
    add_launch_arguments(p, default="local")
    p.add_argument("--dry-run", action="store_true", help="print the cells and what would be launched; write nothing")
    p.add_argument("--wait", action="store_true", help="slurm: wait for the job array and report each cell "
                   "(local and debug always wait)")
    p.add_argument("--scale", default=None, help="replace the sweep's scale (smoke | cpu | paper)")
    p.add_argument("--tasks", default=None, help="comma-separated subset of the sweep's tasks")
    p.add_argument("--seeds", default=None, help="comma-separated seeds replacing the sweep's")
    p.add_argument("--cells", default=None, help="comma-separated cell indices (as --dry-run lists them) to launch "
                   "now; the sweep, its parent run and its table keep every cell")
    p.add_argument("--order", default="seeds", choices=("seeds", "file"),
                   help="launch order of the unfinished cells: seeds (default: the lowest seed of every row before "
                   "any row's next seed, so a sweep stopped early leaves every row measured) or file (the order "
                   "--dry-run lists); either way one cell per task and seed goes first, to train that seed's base "
                   "model once (parallel jobs would otherwise train the same one)")
    p.add_argument("--rows", action="store_true", help="with `status`: one line per table row (seeds together): "
                   "seeds done, and the cells not done by status")
    p.set_defaults(handler=handle, kv_dest="items")


def add_launch_arguments(p: argparse.ArgumentParser, default: str) -> None:
    """``--launcher``, ``--runs-dir`` and ``--tracking-uri`` (sweep and plan)."""
    p.add_argument("--launcher", default=default, help=f"debug | local | slurm (default: {default}); "
                   "settings: launcher.KEY=VALUE")
    p.add_argument("--runs-dir", default="runs", help="run folders, sweep state and MLflow store (default: ./runs)")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI for the jobs (default: "
                   "$MLFLOW_TRACKING_URI, else this runs folder's `qtbench tracking serve` server, else its SQLite file)")


def _ints(text: str | None, flag: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{flag} {text!r}: expected comma-separated integers, e.g. 0,1,2") from None


def load_spec(args: argparse.Namespace, overrides: list[str]):
    """The sweep file with the command line's --scale/--tasks/--seeds/KEY=VALUE applied."""
    from qtbench.config.compose import SCALES
    from qtbench.launch.sweep_file import load_sweep, with_overrides

    spec = load_sweep(args.file)
    if args.scale is not None and args.scale not in SCALES:
        raise UserError(f"unknown scale {args.scale!r}; choose one of {', '.join(SCALES)}")
    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    spec = with_overrides(spec, args.scale, tasks, _ints(args.seeds, "--seeds"), overrides)
    cells = _ints(getattr(args, "cells", None), "--cells")
    if cells is not None:
        bad = sorted(set(cells) - set(range(len(spec.cells))))
        if bad:
            raise UserError(f"--cells {args.cells}: no cell {', '.join(map(str, bad))} in this sweep (it has cells "
                            f"0..{len(spec.cells) - 1}; `qtbench sweep {args.file} --dry-run` lists them)")
        spec = dataclasses.replace(spec, launch_cells=frozenset(cells))
    return dataclasses.replace(spec, launch_order=getattr(args, "order", "seeds"))


def launcher_config(args: argparse.Namespace, spec, launch_overrides: list[str]):
    """The launcher config: the sweep file's ``launcher:`` defaults, then the command line's."""
    from qtbench.config.override_text import override_value
    from qtbench.launch.config import LauncherConfig, compose_launcher

    known = set(LauncherConfig.__dataclass_fields__)
    file_ovs = [f"launcher.{k}={override_value(v)}" for k, v in (spec.launcher if spec else {}).items()]
    for ov in file_ovs:
        if ov.split("=", 1)[0].split(".", 1)[1] not in known:
            raise UserError(f"{spec.where('launcher', ov.split('=', 1)[0].split('.', 1)[1])}: unknown launcher "
                            f"setting {ov.split('=', 1)[0]!r}")
    return compose_launcher(args.launcher, [*file_ovs, *launch_overrides])


def handle(args: argparse.Namespace) -> int:
    if args.file == "status":
        return status(args)
    if args.rows:
        raise UserError(f"--rows shows a sweep's progress: `qtbench sweep status {Path(args.file).stem} --rows`")
    from qtbench.launch.config import split_overrides
    from qtbench.launch.sweep import run_sweep

    overrides, launch_ovs = split_overrides(args.items)
    spec = load_spec(args, overrides)
    lc = launcher_config(args, spec, launch_ovs)
    runs = Path(args.runs_dir)
    if args.dry_run:
        return dry_run(spec, runs, lc)
    from qtbench.paths import ensure_writable

    ensure_writable(runs)
    res = run_sweep(spec, runs, lc, args.tracking_uri, wait=args.wait, command=command_line())
    if res.failed:
        print(f"{len(res.failed)} of {len(res.launched)} launched cells failed; they are retried on the next "
              f"invocation (`qtbench sweep status {spec.name}` lists them)")
        return 1
    return 0


def _cells_from_file(item: str, name: str, runs: Path, folder: Path) -> list[dict]:
    """The cells of a sweep no `qtbench sweep` has run in this runs folder yet (e.g. its finished runs came in
    by `qtbench archive import`): expanded from its file, ``item`` itself or ``sweeps/NAME.yaml``, writing nothing."""
    from qtbench.launch.sweep import load_cells
    from qtbench.launch.sweep_file import load_sweep

    path = Path(item) if item.endswith((".yaml", ".yml")) else Path("sweeps") / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.name for p in folder.parent.glob("*") if (p / "cells.json").exists())
        raise UserError(f"no sweep {name!r} in {folder.parent} (known: {', '.join(known) or 'none'}) and no "
                        f"sweep file {path}; name the file (`qtbench sweep status sweeps/{name}.yaml`) or run "
                        "`qtbench sweep FILE` first")
    print(f"(cells expanded from {path} at its own scale: no `qtbench sweep` has run it in {runs} yet)")
    return load_cells(load_sweep(str(path)), runs, write_cache=False)


def command_line() -> str:
    """This invocation as a shell command, named ``qtbench`` however it was started (``python -m ...``)."""
    return shlex.join(["qtbench", *sys.argv[1:]])


def dry_run(spec, runs: Path, lc) -> int:
    from qtbench.launch import sweep_state
    from qtbench.launch.sweep import launchable, load_cells, print_cells

    cells = load_cells(spec, runs, write_cache=False)
    statuses = sweep_state.cell_statuses(cells)
    print_cells(cells, statuses)
    counts = {s: sum(st.status == s for st in statuses) for s in sweep_state.STATUSES}
    order = [c["index"] for c, _ in launchable(spec, cells, statuses)]
    todo = len(order)
    how = {"slurm": f"one SLURM job array of {todo} tasks, at most {lc.array_parallelism} at once",
           "local": f"{todo} local processes, {lc.array_parallelism} at once",
           "debug": f"{todo} runs one after another in this process"}[lc.name]
    print(f"sweep {spec.name} ({spec.path}, {spec.scale} scale): {len(cells)} cells; "
          + ", ".join(f"{n} {s}" for s, n in counts.items()) + f"; would launch {how} (dry run: nothing written)")
    if order:
        shown = ", ".join(map(str, order[:24])) + (f", ... ({len(order) - 24} more)" if len(order) > 24 else "")
        print(f"launch order (--order {spec.launch_order}): cells {shown}")
    return 0


def status(args: argparse.Namespace) -> int:
    from qtbench.launch import sweep_state
    from qtbench.launch.sweep import print_cells, print_rows

    if len(args.items) != 1:
        raise UserError("usage: qtbench sweep status NAME (the sweep's name or its file)")
    name = Path(args.items[0]).stem if args.items[0].endswith((".yaml", ".yml")) else args.items[0]
    folder = sweep_state.sweep_dir(Path(args.runs_dir), name)
    try:
        cells = json.loads((folder / "cells.json").read_text())["cells"]
    except (OSError, ValueError, KeyError):
        cells = _cells_from_file(args.items[0], name, Path(args.runs_dir), folder)
    statuses = sweep_state.cell_statuses(cells)
    (print_rows if args.rows else print_cells)(cells, statuses)
    counts = {s: sum(st.status == s for st in statuses) for s in sweep_state.STATUSES}
    print(f"sweep {name}: {len(cells)} cells; " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0
