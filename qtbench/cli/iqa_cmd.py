"""``qtbench iqa validity``: how well each IQA score ranks candidates by true PSNR, with no training.

See ``qtbench/iqa/validity.py`` and docs/agreement.md. Writes ``<out>/<task>.json`` and ``<out>/<task>.md``
(``<out>/<task>_<method>_<run>.*`` for ``--checkpoint``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qtbench.errors import UserError

EPILOG = """examples:
  qtbench iqa validity --task dehaze --preset offline
  qtbench iqa validity --task underwater --preset all --scale cpu task.data.pool=debian
  qtbench iqa validity --task dehaze --preset offline --alphas 0.25,0.5 --sigmas 0.02,0.05
  qtbench iqa validity --checkpoint runs/desnow/mt+qualiteacher/s0-abc123 --preset offline   # after training
"""


def _floats(text: str, what: str, lo: float, hi: float) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{what}={text!r}: give comma-separated numbers, e.g. 0.25,0.5") from None
    bad = [v for v in vals if not lo <= v <= hi]
    if bad:
        raise UserError(f"{what}: {bad[0]} is outside [{lo:g}, {hi:g}]")
    return vals


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("iqa", help="IQA tools: reward validity of the presets on the base model's candidates",
                       description="IQA tools that need no training.")
    isub = p.add_subparsers(dest="iqa_command", metavar="SUBCOMMAND")
    v = isub.add_parser(
        "validity", help="rank and gradient agreement of every member and ensemble with PSNR on target-val crops",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Restore every pl.crop grid window of every target-val image with the cached base model, "
        "score the outputs with each preset's members and ensemble, and print the Spearman correlation of each "
        "score with the outputs' PSNR to their clean crops (the 'reward validity' table; docs/agreement.md), "
        "and the mean cosine between each score's gradient and the direction that raises PSNR (what the "
        "preference loss climbs: a score can rank well and still have a gradient that does not restore). "
        "Rows marked ORACLE read the hidden clean images: they calibrate the agreement knobs of "
        "iqa.agreement (alpha mixing, sigma noise), they are not methods. Writes OUT/TASK.json and OUT/TASK.md.")
    v.add_argument("--task", default=None, help="task (default dehaze)")
    v.add_argument("--preset", default="offline", help="a preset name, or 'all' (default offline)")
    v.add_argument("--seed", type=int, default=None, help="data split and base model seed (default 0)")
    v.add_argument("--scale", default=None, help="scale profile: crop size, base model (default cpu)")
    v.add_argument("--checkpoint", default=None, metavar="RUN",
                   help="score a finished run's student (at its inference level) instead of the base model: do "
                   "the rewards still rank, and still point toward fidelity, where training took the outputs? "
                   "Task, seed, scale and data come from the run; writes OUT/TASK_METHOD_RUN.{json,md}")
    v.add_argument("--alphas", default="0.25,0.5,0.75", help="oracle mixing weights to report (default 0.25,0.5,0.75)")
    v.add_argument("--sigmas", default="0.02,0.05,0.1", help="oracle noise levels to report (default 0.02,0.05,0.1)")
    v.add_argument("--out", default="results/validity", help="output folder (default results/validity)")
    v.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    v.add_argument("overrides", nargs="*", help="config overrides KEY=VALUE (e.g. task.data.pool=debian)")
    v.set_defaults(handler=handle_validity)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def handle_validity(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from qtbench import atomic, registry
    from qtbench.config.compose import compose_run
    from qtbench.engine.base_stage import get_base_model
    from qtbench.engine.build import build_backbone, resolve_device
    from qtbench.iqa.api import IQAContext
    from qtbench.iqa.ensemble import build_ensemble
    from qtbench.iqa.grad_alignment import gradient_alignment
    from qtbench.iqa.presets import PRESETS
    from qtbench.iqa.validity import (PresetResult, config_for, model_candidates, noisy_oracle, oracle_scores,
                                      score_preset, to_markdown)

    alphas = _floats(args.alphas, "--alphas", 0.0, 1.0)
    sigmas = _floats(args.sigmas, "--sigmas", 0.0, float("inf"))
    if args.preset != "all" and args.preset not in PRESETS:
        raise UserError(f"unknown --preset {args.preset!r}; choose all or one of {', '.join(sorted(PRESETS))}")
    presets = sorted(PRESETS) if args.preset == "all" else [args.preset]
    trained = None
    if args.checkpoint is not None:
        from qtbench.eval.trained import load_trained

        given = [f for f, v in (("--task", args.task), ("--seed", args.seed), ("--scale", args.scale)) if v is not None]
        if given or args.overrides:
            raise UserError(f"--checkpoint takes the task, seed, scale and config from the run; drop "
                            f"{', '.join(given + ['the overrides'] * bool(args.overrides))}")
        trained = load_trained(args.checkpoint, "student", args.device)
        cfg = trained.cfg
    else:
        cfg = compose_run("mt", args.task or "dehaze", 0 if args.seed is None else args.seed, args.scale or "cpu",
                          list(args.overrides))
    if cfg.task.data.get("unlabelled"):
        raise UserError("reward validity needs the synthetic target's clean images; task.data.unlabelled=DIR has none")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} exists and is not a folder")
    if cfg.runtime.threads:
        import torch

        torch.set_num_threads(cfg.runtime.threads)
    device = resolve_device(args.device)
    progress = not args.no_progress
    task = registry.tasks.get(cfg.task.name).obj(cfg.task)
    data = task.build(cfg.seed, progress=progress)
    if trained is None:
        state, _ = get_base_model(cfg, data.train, device, progress)
        model, level, label, stem = build_backbone(cfg.backbone).to(device), None, "base-model", cfg.task.name
        model.load_state_dict(state)
    else:
        model, level, stem = trained.model, trained.default_level, f"{cfg.task.name}_{cfg.method}_{trained.run_dir.name}"
        label = f"{cfg.method} student (level {level})" if level is not None else f"{cfg.method} student"
    val = data.evaluation.val
    bar = tqdm(total=len(presets) + 1, desc=f"reward validity ({cfg.task.name})", disable=not progress, leave=False)
    cands = model_candidates(model, val, int(cfg.pl.crop), device, level)
    bar.update(1)
    a = cfg.iqa.agreement
    oracle = oracle_scores(cands, float(a.lo), float(a.hi))
    ctx = IQAContext(task=cfg.task.name, seed=cfg.seed, data_key=data.key, train=data.train, device=device,
                     progress=progress)
    results = []
    for name in presets:
        try:
            ens = build_ensemble(config_for(cfg, name), ctx, scale=cfg.scale)
            res = score_preset(ens, cands, alphas, oracle, device)
            res.grad = gradient_alignment(ens, cands.images.to(device), cands.clean.to(device), alphas,
                                          float(a.lo), float(a.hi))
            results.append(res)
        except UserError as exc:  # e.g. the paper preset without its weight files: reported, not fatal
            if args.preset != "all":
                raise
            results.append(PresetResult(name, skipped=str(exc)))
        bar.update(1)
    bar.close()
    from qtbench.engine.referee import spearman

    out = {"task": cfg.task.name, "seed": int(cfg.seed), "scale": cfg.scale, "split": "target-val", "model": label,
           "run": str(trained.run_dir) if trained is not None else None,
           "n_candidates": int(cands.images.shape[0]), "crop": int(cfg.pl.crop), "lo": float(a.lo), "hi": float(a.hi),
           "psnr_mean": float(cands.psnr.mean()), "psnr_std": float(cands.psnr.std()),
           "presets": [r.__dict__ for r in results], "oracle": spearman(oracle, cands.psnr),
           "noisy_oracle": noisy_oracle(cands, float(a.lo), float(a.hi), sigmas, int(cfg.seed))}
    md = to_markdown(cfg.task.name, out)
    atomic.write_json(out_dir / f"{stem}.json", json.loads(json.dumps(out, default=float)))
    atomic.write_text(out_dir / f"{stem}.md", md)
    sys.stdout.write(md)
    print(f"\ncandidate PSNR {out['psnr_mean']:.2f} +- {out['psnr_std']:.2f} dB; "
          f"written: {out_dir / (stem + '.json')}, {out_dir / (stem + '.md')}")
    return 0
