"""Pipeline check (docs/agreement.md): with the oracle reward, does ``mt+qcond+pref`` order its levels by PSNR?

With ``iqa.agreement.alpha=1`` the reward is the fidelity oracle, so a working pipeline (levels from the
scores, pref's gradient through the reward, inference at the top level) must give the top level the best
target-test PSNR among the levels and a positive Spearman rho(level, PSNR). If it does not, a bug sits
between the score and the student (levels, pref's sign, the reward's references) -- find it first.

    python scripts/oracle_pref_check.py --task dehaze --scale cpu runtime.threads=1
    python scripts/oracle_pref_check.py --scale smoke pl.iters=300 runtime.threads=1

Prints the per-level PSNR and both checks; exit 0 when both hold, 1 when not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys


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
    top, others = psnr[-1], psnr[:-1]
    margin = top - max(others)
    rho = lv["spearman_rho_psnr"]
    print(f"{args.method} on {args.task}, {args.scale} scale, seed {args.seed}, ORACLE reward (alpha=1); "
          f"run {s['run_dir']}")
    print("level PSNR (dB): " + ", ".join(f"{q}: {v:.2f}" for q, v in zip(lv["levels"], psnr)))
    print(f"top level - best other level: {margin:+.3f} dB  ({'ok' if margin > 0 else 'FAIL'})")
    print(f"rho(level, PSNR): {rho:+.3f}  ({'ok' if rho > 0 else 'FAIL'})")
    m = s["metrics"]
    print(f"student - base target-test PSNR: {m['delta/student-base/target_psnr']:+.3f} dB; measured agreement "
          f"rho(ensemble, PSNR) {m.get('iqa/agreement_srcc/ensemble', float('nan')):+.3f}")
    return 0 if margin > 0 and rho > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
