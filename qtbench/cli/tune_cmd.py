"""``qtbench tune``: loss-weight tuning with Optuna; ``qtbench tune report``: its best setting, test result, plots."""

from __future__ import annotations

import argparse
import sys

from qtbench.errors import UserError

EPILOG = """examples:
  qtbench tune --method mt+qualiteacher --task dehaze --space sweeps/spaces/loss_weights.yaml --n-trials 40 \\
      --workers 2                                   # 2 local worker processes, journal file in runs/tuning/
  qtbench tune --method mt+qualiteacher --task dehaze --space sweeps/spaces/loss_weights.yaml --n-trials 200 \\
      --launcher slurm --workers 16 --slurm-param slurm_partition=gpu --slurm-param gpus_per_node=1
  qtbench tune report --study mt+qualiteacher-dehaze-loss_weights-cpu
  qtbench run --method mt+qualiteacher --task dehaze --tuned results/tuning/NAME/best.yaml

The objective is a target-VAL metric (default student/val_psnr); target-test is only read by `tune report`.
--n-trials N adds N finished (complete or pruned) trials to the study: re-running the same command continues
it. A worker killed mid-trial is detected by its missing heartbeat; its trial is failed and retried.
Space files: float/int/categorical/log ranges over any config key (see sweeps/spaces/loss_weights.yaml).
"""


def register(sub: argparse._SubParsersAction) -> None:
    from qtbench.cli.run_cmd import add_run_arguments
    from qtbench.tune import study as st
    from qtbench.tune.algorithms import DEFAULT_PRUNER, PRUNERS

    p = sub.add_parser("tune", help="tune loss weights with Optuna (and `tune report`)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Run or continue an Optuna study over config keys, on target-val, with pruning, "
                       "K workers and a resumable NFS-safe journal; `qtbench tune report --study NAME` writes the "
                       "best setting as a config file, its target-test result and plots.")
    add_run_arguments(p)
    p.add_argument("--space", help="search-space YAML (e.g. sweeps/spaces/loss_weights.yaml)")
    p.add_argument("--n-trials", type=int, default=None, help="finished trials to add to the study")
    if not any("--launcher" in a.option_strings for a in p._actions):  # in case run's arguments gain it
        p.add_argument("--launcher", default="local", help="local (worker processes, default) | slurm (a job array)")
    p.set_defaults(launcher="local")  # tuning fans out; the in-process `debug` launcher of run does not apply
    p.add_argument("--workers", type=int, default=1, help="parallel workers (default 1)")
    p.add_argument("--storage", default=None, help="Optuna RDB URL (default: journal file "
                   "<runs-dir>/tuning/<study>/journal.log, safe on NFS)")
    p.add_argument("--study", default=None, help="study name (default: METHOD-TASK-SPACE-SCALE)")
    p.add_argument("--metric", default=None, help="summary metric on target-val (default student/val_psnr)")
    p.add_argument("--direction", default=None, help="maximize | minimize (implied for PSNR/SSIM)")
    p.add_argument("--pruner", default=DEFAULT_PRUNER, help=f"{' | '.join(PRUNERS)}, optionally NAME:key=value,... "
                   "(Optuna's arguments, e.g. median:n_startup_trials=2); default median")
    p.add_argument("--sampler", default="tpe", help="tpe (default) | random")
    p.add_argument("--report-points", type=int, default=st.DEFAULT_REPORT_POINTS,
                   help=f"val reports per trial for the pruner (default {st.DEFAULT_REPORT_POINTS}; 0: no pruning)")
    p.add_argument("--heartbeat", type=int, default=st.DEFAULT_HEARTBEAT_S,
                   help=f"seconds between a running trial's heartbeats (default {st.DEFAULT_HEARTBEAT_S})")
    p.add_argument("--grace", type=int, default=None, help="seconds without heartbeat before a trial is failed "
                   "and retried (default 3x --heartbeat)")
    p.add_argument("--max-retry", type=int, default=st.DEFAULT_MAX_RETRY,
                   help=f"retries of a trial whose worker died (default {st.DEFAULT_MAX_RETRY})")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: local: cores / "
                   "workers; slurm: torch's default)")
    p.add_argument("--slurm-param", action="append", default=[], metavar="KEY=VALUE",
                   help="submitit parameter for --launcher slurm (repeatable), e.g. slurm_partition=gpu")
    p.add_argument("--results-dir", default="results", help="tune report: where results/tuning/<study>/ goes")
    p.add_argument("--test-seeds", default="", help="tune report: extra seeds (e.g. 1,2) to test the best setting on")
    p.set_defaults(handler=handle)


def _kv(items: list[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        key, eq, val = item.partition("=")
        if not eq or not key:
            raise UserError(f"--slurm-param {item!r} must look like KEY=VALUE")
        out[key] = yaml.safe_load(val)
    return out


def _report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from qtbench.tracking.mlflow_tracker import default_tracking_uri
    from qtbench.tune.report import make_report, render_markdown
    from qtbench.tune.study import safe_name

    if not args.study or len(args.overrides) > 1:
        raise UserError("usage: qtbench tune report --study NAME [--runs-dir DIR] [--storage URL] [--results-dir DIR]")
    try:
        seeds = tuple(int(s) for s in args.test_seeds.split(",") if s.strip())
    except ValueError:
        raise UserError(f"--test-seeds {args.test_seeds!r}: a comma-separated list of integers") from None
    name = safe_name(args.study)
    runs = Path(args.runs_dir or "runs")
    report = make_report(name, (runs / "tuning" / name).resolve(), args.storage,
                         Path(args.results_dir) / "tuning" / name,
                         args.tracking_uri or default_tracking_uri(runs), seeds)
    print(render_markdown(report))
    print(f"written: {Path(args.results_dir) / 'tuning' / name}/ (report.json, report.md, best.yaml, plots)")
    return 0


def handle(args: argparse.Namespace) -> int:
    from qtbench.tune.driver import TuneRequest, run

    if args.overrides and args.overrides[0] == "report":
        return _report(args)
    if not args.space or args.n_trials is None:
        raise UserError("qtbench tune needs --space FILE and --n-trials N (or: qtbench tune report --study NAME)")
    overrides = list(args.overrides)  # trials never show progress bars: --no-progress changes nothing here
    if getattr(args, "tuned", None):
        raise UserError("--tuned applies to qtbench run, not to tune (put fixed values in the overrides)")
    req = TuneRequest(
        method=args.method, task=args.task, space=args.space, n_trials=args.n_trials, seed=args.seed,
        scale=args.scale, overrides=overrides, launcher=args.launcher, workers=args.workers, storage=args.storage,
        study=args.study, runs_dir=args.runs_dir or "runs", tracking_uri=args.tracking_uri, metric=args.metric,
        direction=args.direction, pruner=args.pruner, sampler=args.sampler, report_points=args.report_points,
        heartbeat_interval=args.heartbeat, grace_period=args.grace, max_retry=args.max_retry, threads=args.threads,
        slurm_params=_kv(args.slurm_param),
    )
    code = run(req, out=lambda s: print(s, flush=True))
    sys.stdout.flush()
    return code
