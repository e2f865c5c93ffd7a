"""``qtbench gallery``: the same images restored by several runs, side by side, with PSNR captions."""

from __future__ import annotations

import argparse
from pathlib import Path

from qtbench.errors import UserError

EPILOG = """examples:
  qtbench gallery --checkpoint runs/dehaze/mt+qualiteacher/s0-* --data test --out results/figures/gallery.png
  qtbench gallery --checkpoint RUN_A RUN_B RUN_C --data test --images 3 --crop 160
  qtbench gallery --checkpoint RUN_A RUN_B --data real --labels "offline reward,classic reward"
  qtbench gallery --checkpoint RUN_A RUN_B --data real --nr-metrics brisque,niqe   # the paper's yardstick per image

Columns: the degraded input, the first run's base model, each run's student (at its inference level), and the
clean image on paired data (--data test or a folder with input/ and gt/), where every restoration is captioned
with its PSNR. Runs must share task and seed (the same target-test images). Runs trained on a reward that reads
the hidden clean targets are labelled [ORACLE reward]. --nr-metrics adds a line of no-reference scores per
image (input, base and students, scored on the whole image as `qtbench eval` does); a score is marked * in the
column of a run that was trained on that metric.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="the same images restored by several runs, side by side (PNG)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Restore the same images with the base model and the students of several runs "
                       "and write one captioned grid: what a table's numbers look like.")
    p.add_argument("--checkpoint", required=True, nargs="+", help="run folders (or their checkpoint.pt), same task and seed")
    p.add_argument("--data", default="test", help="test (target-test, paired) | real | a folder (default: test)")
    p.add_argument("--images", type=int, default=4, help="how many images, the first ones of the set (default 4)")
    p.add_argument("--pick", default=None, help="comma-separated image names to show instead of the first ones")
    p.add_argument("--crop", type=int, default=None, help="show the central CROP x CROP window (details at 1:1)")
    p.add_argument("--labels", default=None, help="comma-separated column labels, one per run (default: method "
                   "[preset]); [ORACLE reward] is added where the run read hidden targets, custom labels too")
    p.add_argument("--nr-metrics", default=None, help="comma-separated pyiqa NR metrics to caption each restoration "
                   "with, e.g. brisque,niqe (default: none)")
    p.add_argument("--cell-px", type=int, default=192, help="cell size in the figure, px (default 192)")
    p.add_argument("--out", default="results/figures/gallery.png", help="output PNG (default results/figures/gallery.png)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from qtbench.cli.eval_cmd import check_data, load_data
    from qtbench.eval.evaluate import nr_scores, psnr_scores, restore
    from qtbench.eval.gallery import caption, center_crop, marked_label, pick, run_label
    from qtbench.eval.metrics import checked_nr_names
    from qtbench.eval.grid import save_grid
    from qtbench.eval.image_limits import MAX_PIXELS
    from qtbench.eval.trained import load_trained
    from qtbench.paths import ensure_writable

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {args.out}: the gallery is a PNG; give a file name ending in .png")
    ensure_writable(out.parent, "--out")
    labels = [s.strip() for s in args.labels.split(",")] if args.labels else None
    if labels is not None and len(labels) != len(args.checkpoint):
        raise UserError(f"--labels gives {len(labels)} labels for {len(args.checkpoint)} runs: one per --checkpoint")
    if args.crop is not None and args.crop < 16:
        raise UserError(f"--crop {args.crop}: use a window of at least 16 px (or leave --crop out)")
    nr_names = checked_nr_names(args.nr_metrics, [])
    check_data(args.data, MAX_PIXELS)
    runs = [load_trained(c, "student", args.device) for c in args.checkpoint]
    first = runs[0]
    for r, c in zip(runs[1:], args.checkpoint[1:]):
        if (r.cfg.task.name, int(r.cfg.seed)) != (first.cfg.task.name, int(first.cfg.seed)):
            raise UserError(f"{c} is {r.cfg.task.name} seed {r.cfg.seed}, the first run is {first.cfg.task.name} "
                            f"seed {first.cfg.seed}: a gallery compares runs on the same images (same task and seed)")
    base = load_trained(args.checkpoint[0], "base", args.device)
    label, names, inputs, gts, _ = load_data(args.data, first, skip_bad=False)
    wanted = [s.strip() for s in args.pick.split(",") if s.strip()] if args.pick else None
    idx = pick(list(names), wanted, args.images)
    inputs = [inputs[i] for i in idx]
    gts = [gts[i] for i in idx] if gts is not None else None
    columns = [("input", None, None, ()), ("base", base.model, None, ())]
    columns += [(marked_label(labels[k], r.run_dir) if labels else run_label(r.cfg, r.run_dir), r.model,
                 r.default_level, tuple(r.reward_metrics)) for k, r in enumerate(runs)]
    rows = [[] for _ in idx]
    captions = [[] for _ in idx]
    for title, model, level, rewards in columns:
        outs = restore(model, inputs, level, first.device)
        psnrs = psnr_scores(outs, gts) if gts is not None else None
        nrs = {n: nr_scores(n, outs) for n in nr_names}
        for i, o in enumerate(outs):
            rows[i].append(center_crop(o, args.crop))
            captions[i].append(caption(None if psnrs is None else psnrs[i], {n: v[i] for n, v in nrs.items()},
                                       rewards))
    titles = [t for t, _, _, _ in columns]
    if gts is not None:
        titles.append("clean")
        for i, g in enumerate(gts):
            rows[i].append(center_crop(g, args.crop))
            captions[i].append("")
    save_grid(out, rows, titles, [names[i] for i in idx], cell_px=args.cell_px, captions=captions)
    print(f"wrote {out}: {len(idx)} images of {label} x {len(titles)} columns")
    return 0
