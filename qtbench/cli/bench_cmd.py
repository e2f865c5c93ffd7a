"""``qtbench bench``: measured costs, written to ``results/bench/*.json`` (docs/architecture.md §8)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from qtbench.errors import UserError

BENCHES = ("scoring", "step", "sweep")
DESCRIPTION = """Measure, in one process, what QualiTeacher costs on this machine.

scoring  One PL step's candidates (pl.batch_target crops x the maug views, real teacher outputs: 8 x 3 of
         64 px at cpu scale) scored by the IQA ensemble batched (one call per member) and by an
         image-at-a-time loop with .item() like the official code. Checks that both give the same scores
         (within 1e-5) and reports the speedup, per member too; also the block-wise trust mask (loop over
         images x tiles x members), and the whole-image scores with a random-weights MUSIQ member added
         (pyiqa pretrained=False: the paper preset's cost, offline).
step     Seconds per PL iteration of mt, mt+qualiteacher and each add-on that runs alone on mt, every
         trainer built once from the run's own pieces. All are timed from the same step, where pref and
         crop are on (0.2 of the schedule), reached by running each one's schedule from step 0 untimed
         (--start schedule: banks filled as in a run; --start cold: fresh trainers put there). Then a
         warm-up and alternating timed rounds (load drifts cancel in the ratios to mt); seconds per stage
         (data/teacher/scoring/student/optimiser); then mt+qualiteacher once more with the random MUSIQ
         member in the ensemble (always cold).
sweep    Client-side seconds of a 100-cell sweep, each a fresh `qtbench sweep` process timed end to end:
         expand + submit (a real, held SLURM job array cancelled at once when sbatch is here; else the
         local executor's job pickles, no job started), and a re-invocation skipping 100 finished cells
         (median of 3). Targets: under 10 s and under 2 s.

Results (machine, load average, versions, commit, command, settings, raw timings, ratios) go to
OUT/scoring.json, OUT/step.json and OUT/sweep.json, written atomically; a table is printed. Tests never assert timings:
measure here and record the numbers in BENCHMARKS.md."""

EPILOG = """examples:
  qtbench bench                                   # both benches, cpu scale (~5 min on a loaded 2-core box)
  qtbench bench --which scoring --rounds 20
  qtbench bench --which sweep                     # sweep submit/skip cost (SLURM when sbatch is here)
  qtbench bench --which step --methods mt,mt+qualiteacher --no-musiq
  qtbench bench --scale smoke --quick             # seconds; numbers meaningless, checks the plumbing
  qtbench bench --which scoring,step --scale paper --device cuda --start cold base.iters=200   # paper scale, GPU
"""

# name: (default, quick); None in args = not given
_COUNTS = {"steps": (5, 1), "rounds": (5, 2), "warmup": (2, 1), "musiq_steps": (1, 1), "musiq_rounds": (2, 1),
           "musiq_warmup": (0, 0), "sweep_cells": (100, 10), "sweep_repeats": (3, 1)}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure scoring speedup and per-iteration cost (results/bench/*.json)",
                       description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--which", default="all", help="scoring, step, or all (comma list allowed; default all)")
    p.add_argument("--task", default="dehaze", help="task (default dehaze)")
    p.add_argument("--scale", default="cpu", help="smoke | cpu | paper (default cpu; paper needs --device cuda)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where the scoring and step benches run (default cpu; cuda waits for the GPU around "
                   "every timed call)")
    p.add_argument("--seed", type=int, default=0, help="data split / base model seed (default 0)")
    p.add_argument("--methods", default=None, help="step bench variants, comma separated, mt first (default: mt, mt+qualiteacher and the "
                   "single add-ons)")
    p.add_argument("--steps", type=int, default=None, help="timed PL iterations per variant per round (default 5)")
    p.add_argument("--rounds", type=int, default=None, help="rounds: step variants / scoring pairs alternate "
                   "(default 5)")
    p.add_argument("--warmup", type=int, default=None, help="untimed PL iterations per variant first (default 2)")
    p.add_argument("--start", choices=("schedule", "cold"), default=None,
                   help="how step-bench variants reach the step they are timed from: schedule = run their PL "
                   "schedule from step 0 (the state a run has there; default; costs that many untimed steps per "
                   "variant: 100 at cpu scale, 2000 at paper scale), cold = fresh trainers put there (empty banks; "
                   "default with --quick)")
    p.add_argument("--musiq-steps", type=int, default=None, help="timed iterations with random MUSIQ (default 1)")
    p.add_argument("--musiq-warmup", type=int, default=None, help="untimed iterations with MUSIQ first (default 0)")
    p.add_argument("--musiq-rounds", type=int, default=None, help="scoring rounds with MUSIQ (default 2)")
    p.add_argument("--sweep-cells", type=int, default=None, help="sweep bench: cells, a multiple of 10 (default 100)")
    p.add_argument("--sweep-repeats", type=int, default=None, help="sweep bench: skip invocations timed, median "
                   "(default 3)")
    p.add_argument("--sweep-launcher", default="auto", help="sweep bench: auto (slurm if sbatch is on the PATH, "
                   "else local), slurm or local")
    p.add_argument("--no-musiq", dest="musiq", action="store_false", help="skip the random-weights MUSIQ variants")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1; 0 = torch's default)")
    p.add_argument("--quick", action="store_true", help="1 step, 2 rounds, 1 warm-up: checks, not measurements")
    p.add_argument("--out", default="results/bench", help="output folder (default results/bench)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides for every variant, "
                   "e.g. task.data.pool=debian")
    p.set_defaults(handler=handle)


def _resolve(args: argparse.Namespace) -> list[str]:
    which = [w.strip() for w in args.which.split(",") if w.strip()]
    which = list(BENCHES) if which == ["all"] else which
    bad = [w for w in which if w not in BENCHES]
    if bad or not which:
        raise UserError(f"--which {args.which!r}: choose from {', '.join(BENCHES)} or all")
    if args.scale == "paper" and args.device != "cuda":
        raise UserError("bench --scale paper is GPU work (288 px crops, batch 8): add --device cuda on a GPU "
                        "machine, or use --scale cpu")
    if args.device == "cuda" and set(which) & {"scoring", "step"}:
        import torch

        if not torch.cuda.is_available():
            raise UserError("bench --device cuda: torch sees no CUDA GPU here; run it on a GPU machine or drop "
                            "--device")
    for name, (default, quick) in _COUNTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
        if getattr(args, name) < (0 if "warmup" in name else 1):
            raise UserError(f"--{name.replace('_', '-')} must be >= {0 if 'warmup' in name else 1}")
    if args.start is None:
        args.start = "cold" if args.quick else "schedule"
    if args.methods is None:
        from qtbench.bench.step import DEFAULT_METHODS

        args.methods = ",".join(DEFAULT_METHODS)
    args.methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    return which


def command(args: argparse.Namespace, which: tuple[str, ...] = BENCHES) -> str:
    """The fully explicit command that reruns this bench (``which`` of them) with the same settings."""
    parts = ["qtbench", "bench", "--which", which[0] if len(which) == 1 else args.which]
    if set(which) & {"scoring", "step"}:
        parts += ["--task", args.task, "--scale", args.scale, "--device", args.device, "--seed", str(args.seed),
                  "--methods",
                  ",".join(args.methods), "--steps", str(args.steps), "--rounds", str(args.rounds), "--warmup",
                  str(args.warmup), "--start", args.start, "--musiq-steps", str(args.musiq_steps), "--musiq-warmup", str(args.musiq_warmup),
                  "--musiq-rounds", str(args.musiq_rounds), "--threads", str(args.threads)]
    if "sweep" in which:
        parts += ["--sweep-cells", str(args.sweep_cells), "--sweep-repeats", str(args.sweep_repeats),
                  "--sweep-launcher", args.sweep_launcher]
    parts += ["--out", str(args.out)]
    if set(which) & {"scoring", "step"}:
        parts += ([] if args.musiq else ["--no-musiq"]) + list(args.overrides)
    return shlex.join(parts)


def _sweep_settings(args: argparse.Namespace) -> argparse.Namespace:
    """The settings the sweep bench depends on (the provenance block lists only these)."""
    keys = ("which", "sweep_cells", "sweep_repeats", "sweep_launcher", "out")
    return argparse.Namespace(**{k: getattr(args, k) for k in keys})


def handle(args: argparse.Namespace) -> int:
    which = _resolve(args)
    import torch

    from qtbench import atomic
    from qtbench.bench import common, scoring, step

    if args.threads:
        torch.set_num_threads(args.threads)
    cmd = command(args, tuple(which))
    out = Path(args.out)
    scale = f" at {args.scale} scale" if set(which) & {"scoring", "step"} else ""
    print(f"bench: {', '.join(which)}{scale}, {torch.get_num_threads()} thread(s); "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    # the sweep bench needs no data, base model or ensemble
    ctx = common.build_context(args) if set(which) & {"scoring", "step"} else None
    ok = True
    if "scoring" in which:
        mach = common.machine(args.threads, args.device)  # load average at this bench's start
        wall, res = common.clock(scoring.run, ctx, args.rounds, args.musiq, args.musiq_rounds, sync=ctx.sync)
        path = atomic.write_json(out / "scoring.json", {"bench": "scoring", **common.provenance(args, cmd, mach),
                                                         "argv": sys.argv, "wall_s": wall, "results": res})
        print("\n" + scoring.table(res) + f"\n-> {path}", flush=True)
        if not res["agree"]:
            print(f"bench: batched and looped scores differ by more than {scoring.TOLERANCE}", file=sys.stderr)
            ok = False
    if "step" in which:
        mach = common.machine(args.threads, args.device)
        wall, res = common.clock(step.run, ctx, args, args.methods, args.musiq, sync=ctx.sync)
        path = atomic.write_json(out / "step.json", {"bench": "step", **common.provenance(args, cmd, mach),
                                                     "argv": sys.argv, "wall_s": wall, "results": res})
        print("\n" + step.table(res) + f"\n-> {path}", flush=True)
    if "sweep" in which:
        from qtbench.bench import sweep

        mach = common.machine(args.threads)
        wall, res = common.clock(sweep.run, args.sweep_cells, args.sweep_repeats, args.sweep_launcher)
        path = atomic.write_json(out / "sweep.json", {
            "bench": "sweep", **common.provenance(_sweep_settings(args), command(args, ("sweep",)), mach),
            "argv": sys.argv, "wall_s": wall, "results": res})
        print("\n" + sweep.table(res) + f"\n-> {path}", flush=True)
    return 0 if ok else 1
