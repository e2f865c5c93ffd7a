"""``qtbench plan``: a sweep's cells, seeds and estimated compute per scale, before launching anything."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """examples:
  qtbench plan sweeps/ablation_components.yaml
  qtbench plan sweeps/plug_and_play.yaml --tasks dehaze --seeds 0,1 --launcher slurm launcher.array_parallelism=8

Speeds come from finished runs in --runs-dir (same method and scale), then results/bench/step.json.
"""


def register(sub: argparse._SubParsersAction) -> None:
    from qtbench.cli.sweep_cmd import add_launch_arguments

    p = sub.add_parser("plan", help="cells, seeds and estimated compute of a sweep file", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Expand a sweep file and estimate its compute per scale from measured seconds "
                       "per iteration. Nothing is launched or written.")
    p.add_argument("file", help="sweep file (sweeps/NAME.yaml)")
    p.add_argument("items", nargs="*", metavar="KEY=VALUE", help="overrides for every cell / launcher.KEY=VALUE")
    add_launch_arguments(p, default="local")
    p.add_argument("--scale", default=None, help="replace the sweep's scale")
    p.add_argument("--tasks", default=None, help="comma-separated subset of the sweep's tasks")
    p.add_argument("--seeds", default=None, help="comma-separated seeds replacing the sweep's")
    p.add_argument("--bench", default=str(Path("results/bench/step.json")), help="bench results file "
                   "(default results/bench/step.json)")
    p.set_defaults(handler=handle, kv_dest="items")


def handle(args: argparse.Namespace) -> int:
    from qtbench.cli.sweep_cmd import launcher_config, load_spec
    from qtbench.launch.config import split_overrides
    from qtbench.launch.plan import cells_per_scale, measured_rates, report
    from qtbench.launch.sweep import load_cells

    overrides, launch_ovs = split_overrides(args.items)
    spec = load_spec(args, overrides)
    lc = launcher_config(args, spec, launch_ovs)
    cells = load_cells(spec, Path(args.runs_dir), write_cache=False)
    parallel = 1 if lc.name == "debug" else int(lc.array_parallelism)
    per_scale = cells_per_scale(spec, cells, Path(args.runs_dir))
    print(report(spec.name, spec.path, spec.scale, per_scale, measured_rates(Path(args.runs_dir), Path(args.bench)),
                 min(parallel, len(cells))))
    return 0
