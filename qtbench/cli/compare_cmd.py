"""``qtbench compare``: paired differences against the base, over seeds, from finished runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from qtbench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare", help="paired differences vs the base model over seeds, with 95%% intervals",
        description="Read every finished run (summary.json) under --runs-dir, compute per seed the difference "
        "student - base of the same seed, and report mean, std, 95% t and bootstrap intervals per method, "
        "plus the paired difference of each method against --against (default srconly).")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--task", default="dehaze")
    p.add_argument("--metric", default="target_psnr", help="target_psnr, target_ssim, val_psnr, ...")
    p.add_argument("--model", default="student", choices=("student", "teacher"))
    p.add_argument("--pool", default=None, help="only runs on this photo pool")
    p.add_argument("--scale", default=None, help="only runs at this scale")
    p.add_argument("--against", default="srconly", help="method to compare every other method with, paired by seed")
    p.add_argument("--json", dest="json_out", default=None, help="also write the numbers to this JSON file")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from qtbench import atomic
    from qtbench.analysis.paired import difference, interval, load_summaries, paired_deltas

    runs = [s for s in load_summaries(Path(args.runs_dir), args.task)
            if (args.pool is None or s.get("pool") == args.pool) and (args.scale is None or s.get("scale") == args.scale)]
    if not runs:
        raise UserError(f"no finished {args.task} runs under {args.runs_dir} (filters: pool={args.pool}, scale={args.scale})")
    try:
        deltas = paired_deltas(runs, args.metric, args.model)
    except KeyError as exc:
        note = runs[0].get("real_set") or ""
        if args.metric.startswith("real_") and note.startswith("no real set"):
            raise UserError(f"{args.task} has {note}") from None
        raise UserError(f"metric {exc.args[0]!r} is not in the runs' summaries; try target_psnr or target_ssim") from None
    rows = {}
    print(f"{args.model} - base, {args.metric} ({args.task}; paired by seed; 95% intervals)")
    if runs[0].get("real_set"):
        print(f"real set: {runs[0]['real_set']}")
    print(f"{'method':<16}{'n':>3}{'mean':>9}{'std':>8}{'t-interval':>20}{'bootstrap':>20}  per seed")
    for method in sorted(deltas):
        iv = interval(deltas[method].values())
        rows[method] = {"vs_base": iv.__dict__, "per_seed": deltas[method]}
        per_seed = " ".join(f"s{k}:{v:+.2f}" for k, v in sorted(deltas[method].items()))
        flag = "  (oracle: hidden labels)" if method == "oracle" or "[ORACLE reward" in method else ""
        print(f"{method:<16}{iv.n:>3}{iv.mean:>+9.3f}{iv.std:>8.3f}   [{iv.t_low:+.3f}, {iv.t_high:+.3f}]"
              f"   [{iv.boot_low:+.3f}, {iv.boot_high:+.3f}]  {per_seed}{flag}")
    if args.against in deltas:
        print(f"\npaired against {args.against}:")
        for method in sorted(deltas):
            if method == args.against:
                continue
            diff = difference(deltas[method], deltas[args.against])
            iv = interval(diff.values())
            rows[method][f"vs_{args.against}"] = iv.__dict__
            print(f"{method + ' - ' + args.against:<28}{iv.n:>3}{iv.mean:>+9.3f}   t [{iv.t_low:+.3f}, {iv.t_high:+.3f}]"
                  f"   bootstrap [{iv.boot_low:+.3f}, {iv.boot_high:+.3f}]")
    if args.json_out:
        atomic.write_json(Path(args.json_out), {"task": args.task, "metric": args.metric, "model": args.model, "methods": rows})
    return 0
