"""``qtbench eval``: score a trained model on a folder (or its run's real / target-test set).

FR metrics (PSNR, SSIM) when the folder is paired (``input/`` + ``gt/``), NR metrics always; the degraded
input is scored too, as the reference row. NR metrics that were training rewards of the run are flagged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from qtbench.errors import UserError
from qtbench.eval.image_limits import MAX_PIXELS, MIN_SIDE_EVAL, check_sizes

EPILOG = """examples:
  qtbench eval --checkpoint runs/dehaze/mt/s0-abc123 --data my_hazy_photos/
  qtbench eval --checkpoint runs/dehaze/mt/s0-abc123 --data pairs/ --json out.json   # pairs/input, pairs/gt
  qtbench eval --checkpoint runs/underwater/mt+qualiteacher/s0-abc123 --data real --all-levels
  qtbench eval --checkpoint runs/dehaze/mt/s0-abc123 --data real --nr-metrics entropy --log   # add to the run
  qtbench eval --checkpoint runs/dehaze/*/s*-* --data real --nr-metrics entropy --log        # ... to every run

--data real | test: the run's own real set (NR only) or synthetic target-test set (rebuilt from the cache).
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a trained model on a folder of images (FR when gt/ exists, NR always)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Restore every image of --data with a run's student (or teacher) and print "
                       "PSNR/SSIM (paired folders) and no-reference metrics as a table; --json writes them too.")
    p.add_argument("--checkpoint", required=True, nargs="+",
                   help="run folder or its checkpoint.pt; several (e.g. runs/dehaze/*/s*-*) are scored one after the other")
    p.add_argument("--data", required=True, help="folder of images, paired folder (input/ + gt/), or real | test")
    levels = p.add_mutually_exclusive_group()
    levels.add_argument("--level", type=int, default=None, help="quality level (default: the run's inference level)")
    levels.add_argument("--all-levels", action="store_true", help="score every quality level of a conditioned run")
    p.add_argument("--model", default="student", help="student (default), teacher, or base (the run's cached base "
                   "model); on paired data student/teacher rows also get the paired difference to the base")
    p.add_argument("--nr-metrics", default=None, help="comma-separated pyiqa NR metrics (default: the run's eval.nr_metrics)")
    p.add_argument("--json", dest="json_out", default=None, help="write the numbers (means and per image) to this file")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images (counted) instead of failing")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help="largest image (width*height) scored in one "
                   f"pass (default: {MAX_PIXELS:,}); every image is checked before any work")
    p.add_argument("--log", action="store_true", help="with --data real|test: also log the NR means into the run's "
                   "MLflow run as <row>/<set>_<metric> (e.g. student/real_entropy), so `qtbench table` shows them")
    p.set_defaults(handler=handle)


def _u8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def check_data(spec: str, max_pixels: int) -> None:
    """Image sizes of a ``--data`` folder, from file headers, before any model is loaded or image decoded."""
    from qtbench.data import images

    path = Path(spec).expanduser()
    if not path.is_dir():
        return
    files = [f for pair in images.pair_files(path) for f in pair] if images.is_paired(path) else \
        images.list_images(path)
    check_sizes(files, MIN_SIDE_EVAL, max_pixels, "eval")


def check_json(path: str | None) -> None:
    """``--json``: a file path whose folder exists or can be created and is writable (checked before any work)."""
    if not path:
        return
    from qtbench.paths import ensure_writable

    p = Path(path).expanduser()
    if p.is_dir() or str(path).endswith(("/", "\\")):
        raise UserError(f"--json {path} is a folder; give a file name, e.g. {p / 'eval.json'}")
    ensure_writable(p.parent, "--json")


def load_data(spec: str, trained, skip_bad: bool) -> tuple[str, list[str], list[np.ndarray], list | None, list[str]]:
    """(label, names, uint8 inputs, uint8 ground truths or None, skipped names) of ``--data``."""
    from qtbench import registry
    from qtbench.data import images

    path = Path(spec).expanduser()
    if path.is_dir():
        if images.is_paired(path):
            inputs, gts = images.load_pairs(path, skip_bad)
            return str(path), inputs.names, [_u8(x.rgb) for x in inputs.images], [_u8(y.rgb) for y in gts.images], inputs.bad
        folder = images.load_folder(path, skip_bad)
        return str(path), folder.names, [_u8(x.rgb) for x in folder.images], None, folder.bad
    if spec in ("real", "test"):
        cfg = trained.cfg
        task = registry.tasks.get(cfg.task.name).obj(cfg.task)
        data = task.build(int(cfg.seed), progress=False)
        if spec == "test":
            t = data.evaluation.test
            return f"{cfg.task.name} target-test", list(t.ids), list(t.inputs), [t.target(i) for i in range(len(t))], []
        if not data.evaluation.real:
            raise UserError(f"{cfg.task.name} has {task.real_set_note()}" if task.real_role is None else
                            f"the {cfg.task.data.pool} pool has no {task.real_role} photos; use task.data.pool=debian")
        return f"{cfg.task.name} real set", list(data.evaluation.real_ids), list(data.evaluation.real), None, []
    raise UserError(f"--data {spec}: no such folder (or use 'real' / 'test' for the run's own sets)")


def score(trained, inputs, gts, levels, nr_names) -> tuple[dict, dict]:
    """Per-row means and per-image values: the input row, then one row per level."""
    from qtbench.eval.evaluate import nr_scores, restore, score_pairs

    rows = {"input": inputs}
    for lvl in levels:
        name = trained.which if lvl is None else f"{trained.which}@{lvl}"
        rows[name] = restore(trained.model, inputs, lvl, trained.device)
    means, per_image = {}, {}
    for name, outs in rows.items():
        vals = {}
        if gts is not None:
            vals["psnr"], vals["ssim"] = score_pairs(outs, gts)
        for nr in nr_names:
            vals[nr] = nr_scores(nr, outs)
        per_image[name] = {k: [float(x) for x in v] for k, v in vals.items()}
        means[name] = {k: float(np.mean(v)) for k, v in vals.items()}
    return means, per_image


def handle(args: argparse.Namespace) -> int:
    if len(args.checkpoint) > 1 and args.json_out:
        raise UserError("--json writes one run's numbers: give one --checkpoint (or use --log for several runs)")
    if args.log:
        from qtbench.eval.log_back import check_log_args

        check_log_args(args.data, args.all_levels)
    check_json(args.json_out)
    check_data(args.data, args.max_pixels)
    for i, ckpt in enumerate(args.checkpoint):
        if i:
            print()
        evaluate_one(args, ckpt)
    return 0


def evaluate_one(args: argparse.Namespace, checkpoint: str) -> None:
    """Score one run (``qtbench eval`` for one ``--checkpoint``)."""
    from qtbench import atomic
    from qtbench.eval.trained import load_trained

    trained = load_trained(checkpoint, args.model, args.device)
    if args.all_levels:
        if trained.num_levels == 0:
            raise UserError(f"--all-levels: this run ({trained.cfg.method}) is not quality-conditioned")
        levels = list(range(trained.num_levels))
    else:
        levels = [trained.check_level(args.level if args.level is not None else trained.default_level)]
    from qtbench.eval.metrics import checked_nr_names

    nr_names = checked_nr_names(args.nr_metrics, list(trained.cfg.eval.nr_metrics))
    label, names, inputs, gts, bad = load_data(args.data, trained, args.skip_bad)
    means, per_image = score(trained, inputs, gts, levels, nr_names)
    flagged = sorted(set(nr_names) & set(trained.reward_metrics))
    cols = (["psnr", "ssim"] if gts is not None else []) + nr_names
    heads = [c.upper() if c in ("psnr", "ssim") else c + ("*" if c in flagged else "") for c in cols]
    kind = "paired: FR + NR" if gts is not None else "no ground truth: NR only"
    print(f"{trained.cfg.method} {trained.which} ({trained.cfg.task.name}, seed {trained.cfg.seed}) on {label}: "
          f"{len(names)} images ({kind})")
    print(f"{'row':<14}" + "".join(f"{h:>10}" for h in heads))
    for row, vals in means.items():
        print(f"{row:<14}" + "".join(f"{vals[c]:>10.3f}" if c == "ssim" else f"{vals[c]:>10.2f}" for c in cols))
    if flagged:
        print("* also a training signal of this run (IQA ensemble member): may be inflated by reward hacking")
    if bad:
        print(f"skipped {len(bad)} unreadable file(s): {', '.join(bad)}")
    deltas = None
    if gts is not None and trained.which != "base":
        deltas = delta_vs_base(checkpoint, args.device, inputs, gts, per_image, names)
    if args.log:
        from qtbench.eval.log_back import log_to_run

        logged = log_to_run(trained, args.data, means, nr_names)
        print(f"logged to the run's MLflow run: {', '.join(sorted(logged))}")
    if args.json_out:
        atomic.write_json(Path(args.json_out), {
            "checkpoint": str(checkpoint), "run_dir": str(trained.run_dir), "method": trained.cfg.method,
            "task": trained.cfg.task.name, "model": trained.which, "data": label, "paired": gts is not None,
            "levels": levels, "n_images": len(names), "names": names, "skipped": bad, "nr_metrics": nr_names,
            "reward_metrics": trained.reward_metrics, "flagged": flagged, "means": means, "per_image": per_image,
            "delta_vs_base": deltas})
        print(f"json: {args.json_out}")


def delta_vs_base(checkpoint: str, device: str, inputs, gts, per_image: dict, names: list[str]) -> dict | None:
    """Print and return the paired difference model - base per image and its mean with a 95 % bootstrap interval
    over images (the protocol's unit of evidence: docs/protocol.md); None when the base model is not cached."""
    from qtbench.analysis.paired import interval
    from qtbench.eval.evaluate import restore, score_pairs
    from qtbench.eval.trained import load_trained

    try:
        base = load_trained(checkpoint, "base", device)
    except UserError as exc:
        print(f"no paired difference to the base model: {exc}")
        return None
    b_psnr, b_ssim = score_pairs(restore(base.model, inputs, None, base.device), gts)
    out = {"base": {"psnr": b_psnr.tolist(), "ssim": b_ssim.tolist()}, "rows": {}}
    for row, vals in per_image.items():
        if row == "input":
            continue
        d_psnr = np.asarray(vals["psnr"]) - b_psnr
        d_ssim = np.asarray(vals["ssim"]) - b_ssim
        ip, is_ = interval(d_psnr), interval(d_ssim)
        out["rows"][row] = {"psnr": d_psnr.tolist(), "ssim": d_ssim.tolist(),
                            "mean_psnr": ip.mean, "boot95_psnr": [ip.boot_low, ip.boot_high],
                            "mean_ssim": is_.mean, "boot95_ssim": [is_.boot_low, is_.boot_high]}
        print(f"paired difference {row} - base on {len(names)} images (dPSNR dB, dSSIM):")
        for name, dp, ds in zip(names, d_psnr, d_ssim):
            print(f"  {name:<30}{dp:>+9.2f}{ds:>+9.3f}")
        print(f"  {'mean [95% bootstrap]':<30}{ip.mean:>+9.2f} [{ip.boot_low:+.2f}, {ip.boot_high:+.2f}] dB"
              f"{is_.mean:>+9.3f} [{is_.boot_low:+.3f}, {is_.boot_high:+.3f}]")
        if len(names) < 10:
            print(f"  only {len(names)} images: too few to rank methods (images differ more than methods do); "
                  "score a larger paired set")
    return out
