"""``qtbench run``: one training run (base model, PL stage, evaluation, tracking)."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys

from qtbench.errors import UserError
from qtbench.launch.runlock import LOCK_NAME

EPILOG = """examples:
  qtbench run --method mt --task dehaze                      # cpu scale, wheels photos (~1.5 min on 2 cores)
  qtbench run --method mt --task dehaze --scale smoke        # seconds
  qtbench run --method oracle --task dehaze --seed 3 task.data.pool=debian
  qtbench run --method mt --task dehaze pl.iters=300 pl.lr=1e-4 strong.enabled=false

overrides are Hydra key=value pairs over the config tree (`qtbench config` prints it).
A run's identity is the hash of its resolved config: the same command twice reuses the finished run;
an interrupted run resumes from its last checkpoint.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="train and evaluate one method on one task", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train the base model (cached), run the pseudo-label stage, evaluate on "
                       "target-test and log everything to MLflow and <run_dir>/summary.json.")
    add_run_arguments(p)
    p.add_argument("--resume", action="store_true", help="require an unfinished checkpoint and continue it "
                   "(resuming is automatic anyway when one exists)")
    p.add_argument("--force", action="store_true", help="discard a finished run or checkpoint with this identity and rerun")
    p.add_argument("--launcher", default="debug", help="debug (in this process, default) | local | slurm; "
                   "settings: launcher.KEY=VALUE (conf/launcher/*.yaml)")
    p.set_defaults(handler=handle)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by commands that compose a run config (run, config)."""
    p.add_argument("--method", default="mt", help="FRAMEWORK[+ADDON...][-ADDON...] (default: mt; `qtbench ls`)")
    p.add_argument("--task", default="dehaze", help="task name (default: dehaze; `qtbench ls tasks`)")
    p.add_argument("--seed", type=int, default=0, help="photo split, degradations, init and training randomness (default: 0)")
    p.add_argument("--scale", default="cpu", help="smoke | cpu | paper (default: cpu)")
    p.add_argument("--runs-dir", default=None, help="where run folders and the MLflow store go (default: ./runs)")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                   "sqlite:///<runs-dir>/mlflow.db)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--tuned", default=None, metavar="PATH", help="apply a tuned config written by `qtbench tune "
                   "report` (also: +tuned=PATH); overrides given here still win")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. pl.iters=300")


def compose_from_args(args: argparse.Namespace):
    """Compose the run config from parsed arguments."""
    from qtbench.config.compose import compose_run

    from qtbench.tune.tuned import apply_tuned

    run = {"method": args.method, "task": args.task, "scale": args.scale, "seed": args.seed}
    overrides, notes = apply_tuned(list(args.overrides), getattr(args, "tuned", None), run)
    for note in notes:
        print(f"qtbench: note: --tuned: {note}", file=sys.stderr)
    if args.no_progress:
        overrides.append("runtime.progress=false")
    return compose_run(args.method, args.task, args.seed, args.scale, overrides, runs_dir=args.runs_dir,
                       tracking_uri=args.tracking_uri or None)


# below this many target-test images a run's deltas are anecdotes: the debian pool's protocol has >= 20 test photos
# (docs/feasibility.md: split-to-split spread is ~10x the differences between PL variants)
FEW_TEST_IMAGES = 20


def print_summary(summary: dict) -> None:
    """The final table: PSNR/SSIM of input, base, teacher, student and the deltas against base."""
    m = summary["metrics"]
    flag = "  [ORACLE: trained on hidden target labels]" if summary.get("uses_target_labels") else ""
    if summary.get("oracle_reward"):
        flag = "  [ORACLE REWARD: scored with hidden clean targets; a ceiling, not a method's result]"
    print(f"\n{summary['method']} on {summary['task']} (seed {summary['seed']}, {summary['scale']} scale, "
          f"{summary['pool']} pool, {len(summary['test_ids'])} target-test images){flag}")
    print(f"{'model':<10}{'PSNR':>9}{'SSIM':>8}{'dPSNR':>9}{'dSSIM':>9}")
    for name in ("input", "base", "teacher", "student"):
        d_p = m.get(f"delta/{name}-base/target_psnr")
        d_s = m.get(f"delta/{name}-base/target_ssim")
        print(f"{name:<10}{m[f'{name}/target_psnr']:>9.2f}{m[f'{name}/target_ssim']:>8.3f}"
              f"{(f'{d_p:+.2f}' if d_p is not None else ''):>9}{(f'{d_s:+.3f}' if d_s is not None else ''):>9}")
    n_test = len(summary["test_ids"])
    if n_test < FEW_TEST_IMAGES:
        more = "" if summary.get("pool") == "debian" else "; task.data.pool=debian has >= 20 test photos " \
            "(qtbench data fetch)"
        print(f"note: {n_test} target-test image{'s' if n_test != 1 else ''} cannot rank methods: differences "
              f"between images exceed those between methods (a demo, not a result){more}")
    print_nr(summary)
    print_real(summary)
    print_levels(summary)
    print_agreement(summary)
    t = summary["timing"]
    base = "reused from cache" if t["base_cached"] else "trained in {:.1f} s".format(t["base_train_seconds"])
    print(f"PL stage {t['pl_seconds']:.1f} s ({t['s_per_iter'] * 1000:.0f} ms/iter); base model {base}")


def print_nr(summary: dict) -> None:
    """No-reference metrics on target-test; a ``*`` flags metrics that were also training signals."""
    m, flagged = summary["metrics"], set(summary.get("reward_metrics") or [])
    prefix = "student/target_"
    names = sorted({k[len(prefix):] for k in m if k.startswith(prefix)} - {"psnr", "ssim"})
    if not names:
        return
    heads = [n + ("*" if n in flagged else "") for n in names]
    print(f"{'NR (raw)':<10}" + "".join(f"{h:>10}" for h in heads))
    for model in ("input", "base", "teacher", "student"):
        print(f"{model:<10}" + "".join(f"{m.get(f'{model}/target_{n}', float('nan')):>10.2f}" for n in names))
    if flagged & set(names):
        print("* also a training signal (IQA ensemble member): may be inflated by reward hacking")


def print_real(summary: dict) -> None:
    """No-reference metrics on the real set, or why there is none (derain, desnow: no real photos offline)."""
    m, flagged = summary["metrics"], set(summary.get("reward_metrics") or [])
    prefix = "student/real_"
    names = sorted(k[len(prefix):] for k in m if k.startswith(prefix))
    note = summary.get("real_set") or ""
    if not names:
        print(f"real set: {note or 'none'}")
        return
    print(f"real set ({summary.get('n_real', 0)} photos): {note}")
    print(f"{'NR (raw)':<10}" + "".join(f"{n + ('*' if n in flagged else ''):>10}" for n in names))
    for model in ("input", "base", "teacher", "student"):
        print(f"{model:<10}" + "".join(f"{m.get(f'{model}/real_{n}', float('nan')):>10.2f}" for n in names))


def print_agreement(summary: dict) -> None:
    """Measured reward agreement: Spearman of each score with the scored candidates' PSNR (docs/agreement.md)."""
    m = summary["metrics"]
    srcc = {k.rsplit("/", 1)[1]: v for k, v in m.items() if k.startswith("iqa/agreement_srcc/")}
    if srcc:
        parts = ", ".join(f"{k} {v:+.2f}" for k, v in sorted(srcc.items()))
        print(f"reward agreement (Spearman vs PSNR of {int(m.get('iqa/agreement_n', 0))} scored candidates): {parts}")
    if "iqa/agreement_gradcos/ensemble" in m:
        print(f"reward gradient alignment (mean cosine with the PSNR-raising direction): "
              f"{m['iqa/agreement_gradcos/ensemble']:+.3f}")


def print_levels(summary: dict) -> None:
    """The level diagnostics of a quality-conditioned student (qcond)."""
    lv = summary.get("levels")
    if not lv:
        return
    print(f"quality levels (student on {lv['n_images']} target-test images; ensemble {summary.get('iqa_preset')}):")
    print(f"{'level':<7}{'PSNR':>8}{'score':>8}{'PL count':>10}")
    hist = lv.get("pl_level_histogram") or [0] * len(lv["levels"])
    for q, p, sc, c in zip(lv["levels"], lv["psnr"], lv["score"], hist):
        print(f"{q:<7}{p:>8.2f}{sc:>8.3f}{c:>10}")
    print(f"Spearman rho(level, score) {lv['spearman_rho']:+.2f}, rho(level, PSNR) {lv['spearman_rho_psnr']:+.2f}; "
          f"top level vs teacher: {lv['top_minus_teacher_psnr']:+.2f} dB, score {lv['top_minus_teacher_score']:+.3f}")


def handle(args: argparse.Namespace) -> int:
    from qtbench.config.compose import run_dir
    from qtbench.launch.runlock import run_lock
    from qtbench.runner import ensure_writable, finished_summary, preflight

    from qtbench.launch.config import compose_launcher, split_overrides

    args.overrides, launch_ovs = split_overrides(args.overrides)
    lc = compose_launcher(args.launcher, launch_ovs)
    cfg = compose_from_args(args)
    ensure_writable(cfg.runtime.runs_dir)
    rd = run_dir(cfg)
    # a missing weight file fails before the lock creates the run folder
    method = preflight(cfg) if args.force or finished_summary(cfg) is None else None
    with contextlib.ExitStack() as held:
        held.enter_context(run_lock(rd))  # refuses at once, naming the process that trains this identity
        if args.force:
            _clear(rd)
        if lc.name != "debug":  # a submitted job takes the lock itself, in its own process
            held.close()
        return _launch(args, cfg, lc, rd, method)


def _clear(rd) -> None:
    """Empty a run folder for ``--force``, keeping its lock file (held) and moved-aside corrupt checkpoints."""
    for entry in rd.iterdir():
        if entry.name == LOCK_NAME or ".corrupt-" in entry.name:
            continue
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()


def _launch(args: argparse.Namespace, cfg, lc, rd, method=None) -> int:
    from qtbench.engine import checkpoint
    from qtbench.runner import SUMMARY, execute

    if args.resume and checkpoint.load(rd) is None:
        raise UserError(f"--resume: no checkpoint in {rd}; run without --resume to start it")
    if (rd / SUMMARY).exists():
        print(f"run already finished, reusing it (use --force to rerun): {rd}")
    elif (rd / checkpoint.CHECKPOINT).exists():
        print(f"resuming from checkpoint: {rd}")
    else:
        print(f"run dir: {rd}")
    if lc.name == "debug":
        summary = execute(cfg, method=method)
    else:  # a submitit job (preemption-safe): wait for it, as the in-process run would
        from qtbench.launch.submit_run import submit_and_wait

        summary = submit_and_wait(cfg, lc)
    print_summary(summary)
    print(f"\nrun dir: {rd}\nsummary: {rd / SUMMARY}\nMLflow run: {summary['mlflow_run_id']}")
    sys.stdout.flush()
    return 0
