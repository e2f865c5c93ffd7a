"""Pipeline check (docs/agreement.md): with the oracle reward, does ``mt+qcond+pref`` order its levels by PSNR?

With ``iqa.agreement.alpha=1`` the reward is the fidelity oracle, so a working pipeline (levels from the
scores, pref's gradient through the reward, inference at the top level) must give the top level the best
target-test PSNR among the levels, and no level that pref does not push down may collapse below the degraded
input. The official loss (``addons.pref.loser_grad=true``) drives its loser levels (``q_low``) to a degenerate
output by design, so rho(level, PSNR) over all levels is not a check of that form (docs/agreement.md, "Pipeline
check with the oracle reward"); rho over the other levels is printed, but at smoke scale their PSNRs lie within
a few tenths of a dB, so it is informative only. If a check fails, a bug sits between the score and the student
(levels, pref's sign, the reward's references, the trust masks) -- find it first.

    python scripts/oracle_pref_check.py --task dehaze --scale cpu runtime.threads=1
    python scripts/oracle_pref_check.py --scale smoke pl.iters=300 runtime.threads=1

Prints the per-level PSNR and the checks; exit 0 when both checks (top-level margin, no collapse) hold, 1 when
not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="dehaze")
    p.add_argument("--scale", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="mt+qcond+pref")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE")
    args = p.parse_args(argv)

    from qtbench import runner
    from qtbench.config.compose import compose_run
    from qtbench.errors import UserError

    try:
        cfg = compose_run(args.method, args.task, args.seed, args.scale,
                          ["iqa.agreement.alpha=1.0", *args.overrides], runs_dir=args.runs_dir)
    except UserError as exc:
        print(f"oracle_pref_check: error: {exc}", file=sys.stderr)
        return 2
    s = runner.execute(cfg)
    lv = s.get("levels")
    if not lv:
        print("oracle_pref_check: error: the run has no level diagnostics (needs qcond)", file=sys.stderr)
        return 2
    psnr = lv["psnr"]
    m = s["metrics"]
    c = level_checks(lv["levels"], psnr, pushed_down(cfg), m["input/target_psnr"])
    print(f"{args.method} on {args.task}, {args.scale} scale, seed {args.seed}, ORACLE reward (alpha=1); "
          f"run {s['run_dir']}")
    print("level PSNR (dB): " + ", ".join(f"{q}: {v:.2f}" for q, v in zip(lv["levels"], psnr)))
    print(f"top level - best other level: {c['margin']:+.3f} dB  ({'ok' if c['margin'] > 0 else 'FAIL'})")
    print(f"levels pref pushes down (loser_grad): {c['pushed'] or 'none'}; lowest other level "
          f"{c['lowest']}: {c['lowest_psnr']:.2f} dB vs degraded input {c['input_psnr']:.2f} dB  "
          f"({'ok' if c['no_collapse'] else 'FAIL: collapsed'})")
    print(f"rho(level, PSNR) over levels {c['kept']}: {c['rho_kept']:+.3f}; over all levels: "
          f"{lv['spearman_rho_psnr']:+.3f}  (information)")
    print(f"student - base target-test PSNR: {m['delta/student-base/target_psnr']:+.3f} dB; measured agreement "
          f"rho(ensemble, PSNR) {m.get('iqa/agreement_srcc/ensemble', float('nan')):+.3f}")
    return 0 if c["margin"] > 0 and c["no_collapse"] else 1


def pushed_down(cfg) -> list[int]:
    """Levels the official preference loss lowers on purpose: pref's ``q_low`` (for this level count) when the
    gradient goes through the loser (``loser_grad``); none without pref or with ``loser_grad=false``."""
    from qtbench_methods.pref import scaled_levels

    if "pref" not in cfg.addons or not cfg.addons.pref.loser_grad:
        return []
    o = cfg.addons.pref
    return scaled_levels(list(o.q_low), o.q_low_levels, cfg.addons.qcond.num_levels)


def level_checks(levels: list[int], psnr: list[float], pushed: list[int], input_psnr: float) -> dict:
    """The pipeline checks of per-level PSNRs (top level last).

    Returns ``margin`` (top minus the best other level), ``no_collapse`` (every level below the top that pref does
    not push down restores at least as well as the degraded input), the lowest such level and its PSNR, and
    Spearman rho(level, PSNR) over the levels not pushed down (``kept``, top included).
    """
    from qtbench.engine.referee import spearman

    margin = psnr[-1] - max(psnr[:-1])
    kept = [q for q in levels if q not in set(pushed)]
    kept_psnr = [psnr[levels.index(q)] for q in kept]
    low = min(kept[:-1], key=lambda q: psnr[levels.index(q)]) if len(kept) > 1 else levels[-1]
    low_psnr = psnr[levels.index(low)]
    return {"margin": margin, "pushed": list(pushed), "kept": kept, "lowest": low, "lowest_psnr": low_psnr,
            "input_psnr": input_psnr, "no_collapse": low_psnr >= input_psnr,
            "rho_kept": spearman(np.asarray(kept, dtype=float), np.asarray(kept_psnr))}


if __name__ == "__main__":
    sys.exit(main())
