"""Bench (b): seconds per PL iteration of ``mt``, ``mt+qualiteacher`` and each single add-on.

Every variant's :class:`~qtbench.engine.trainer.PLTrainer` is built once, in one process, from the pieces a
run uses (same data, cached base model, one shared offline ensemble). Each is warmed up, then the variants
take turns: a round runs ``steps`` iterations of every variant, the order reversed every other round, so
a load change on a shared machine hits all variants alike and cancels in the ratios to ``mt``.

Every variant is timed at the same point of a run: the latest add-on start step (``pref``/``crop`` start at
0.2 of the schedule), so the losses that begin mid-run are on: this is the cost of most of a run's
iterations. With ``--start schedule`` (the default) each variant gets there by running its own PL schedule
from step 0, untimed, so it is in the state a run is in there: a bank filled by that many steps (which
decides how many candidates' trust masks a step computes, :mod:`qtbench.engine.candidate_masks`), a drifted
teacher, running gate percentiles. ``--start cold`` puts fresh trainers at that step instead (empty banks;
quicker, and what the bench did before 2026-11-27). The engine's :class:`~qtbench.engine.timers.StageTimer`
is reset after the warm-up and gives seconds per stage.

``mt+qualiteacher`` is measured again with a random-weights MUSIQ member added to the ensemble (the paper
preset's cost): it scores candidates, tiles (block masks) and, being differentiable, back-propagates the
``pref``/``crop`` rewards, tens of seconds a step on one core, so it gets its own (small) step count and
always starts cold (running its schedule to the start step would take hours on one core).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from omegaconf import OmegaConf

from qtbench.bench.common import (
    MUSIQ_LABEL,
    BenchContext,
    compose,
    median,
    member_clock,
)
from qtbench.engine.timers import STAGES, StageTimer
from qtbench.errors import UserError

# mt, the full method, and every add-on that can run alone on mt (pref and crop require qcond)
DEFAULT_METHODS = ("mt", "mt+qualiteacher", "mt+qcond", "mt+maug", "mt+bank", "mt+gate", "mt+qcond+pref",
                   "mt+qcond+crop")
FULL = "mt+qualiteacher"


def build_trainer(method: str, args: Any, ctx: BenchContext, ensemble: torch.nn.Module | None = None):
    """A PLTrainer for ``method`` built like ``runner.execute`` builds one, positioned at its latest add-on
    start step (fresh state, as ``--start cold``)."""
    from qtbench.engine.factory import create_method
    from qtbench.engine.trainer import PLTrainer

    cfg = compose(method, args)
    built = create_method(cfg)
    framework, addons, needs = built.framework, built.addons, built.needs_iqa
    if needs and OmegaConf.to_container(cfg.iqa) != OmegaConf.to_container(ctx.cfg.iqa):
        raise UserError(f"bench: {method} composes a different iqa section than {FULL}; one shared ensemble is "
                        "measured, so pass iqa overrides that apply to every variant")
    ens = (ensemble or ctx.ensemble) if needs else None
    trainer = PLTrainer(cfg, ctx.data.train, ctx.base_state, framework, addons, args.out, ctx.device,
                        evaluate=lambda _: {}, log=lambda *_: None, progress=False, ensemble=ens)
    trainer.step = max([0] + [int(getattr(a, "start_step", 0)) for a in trainer.addons])
    return trainer


def _steps(trainer: Any, n: int, members: dict[str, float] | None = None,
           sync: Callable[[], None] | None = None) -> tuple[list[float], dict[str, float]]:
    """Run ``n`` PL iterations; per-step seconds and the last step's metrics.

    With ``members``, the seconds each IQA member spends in ``raw`` (scores, block masks, rewards; the
    backward pass through a reward is not included) are added to it. ``sync`` (CUDA): wait for the GPU
    before and after each step, so a step is charged its own kernels.
    """
    times, out = [], {}
    with contextlib.ExitStack() as stack:
        if members is not None and trainer.ensemble is not None:
            sec = stack.enter_context(member_clock(trainer.ensemble, sync))
        for _ in range(n):
            if sync is not None:
                sync()
            t0 = time.perf_counter()
            out = trainer.train_step()
            if sync is not None:
                sync()
            times.append(time.perf_counter() - t0)
            trainer.step += 1
    if members is not None and trainer.ensemble is not None:
        for k, v in sec.items():
            members[k] = members.get(k, 0.0) + v
    return times, out


def _stages(trainer: Any, steps: int) -> dict[str, float]:
    return {k: trainer.timer.seconds.get(k, 0.0) / max(1, steps) for k in STAGES}


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(ctx: BenchContext, args: Any, methods: tuple[str, ...], musiq: bool) -> dict[str, Any]:
    """The ``results`` block of ``step.json``: per variant s/iter, ratio to mt, stages, raw timings."""
    if methods[0] != "mt":
        raise UserError("bench --methods must start with mt (ratios are to mt)")
    trainers = {}
    for m in methods:
        _log(f"bench step: building {m}")
        trainers[m] = build_trainer(m, args, ctx)
    start = max(t.step for t in trainers.values())  # every variant is timed from the same step
    for m, t in trainers.items():
        if args.start == "schedule":
            t.step = 0
            _log(f"bench step: {m}: the first {start} PL steps of its schedule, untimed (--start schedule)")
            _steps(t, start, sync=ctx.sync)
        t.step = start
        _steps(t, args.warmup, sync=ctx.sync)
        t.timer = StageTimer(ctx.sync)  # stage seconds of timed steps only
    per_step: dict[str, list[list[float]]] = {m: [] for m in methods}
    iqa: dict[str, dict[str, float]] = {m: {} for m in methods}
    last: dict[str, dict[str, float]] = {}
    for r in range(args.rounds):
        order = methods if r % 2 == 0 else tuple(reversed(methods))
        _log(f"bench step: round {r + 1}/{args.rounds}")
        for m in order:
            times, last[m] = _steps(trainers[m], args.steps, iqa[m], ctx.sync)
            per_step[m].append(times)
    rows: dict[str, Any] = {}
    mt_round = [sum(ts) / len(ts) for ts in per_step["mt"]]
    mt_med = median([x for ts in per_step["mt"] for x in ts])
    for m in methods:
        flat = [x for ts in per_step[m] for x in ts]
        s = median(flat)
        rows[m] = {"preset": ctx.ensemble.preset if trainers[m].ensemble is not None else None,
                   "s_per_iter": s, "ratio_to_mt": s / mt_med, "steps": len(flat),
                   "ratio_per_round": [sum(ts) / len(ts) / b for ts, b in zip(per_step[m], mt_round)],
                   "stages_s_per_iter": _stages(trainers[m], len(flat)), "raw_s": per_step[m],
                   "iqa_members_s_per_iter": {k: v / len(flat) for k, v in iqa[m].items()},
                   "last_step_metrics": last.get(m, {})}
    if musiq:
        label = f"{FULL} [{MUSIQ_LABEL}]"
        _log(f"bench step: building {label}")
        t = build_trainer(FULL, args, ctx, ensemble=ctx.musiq_ensemble())
        _steps(t, args.musiq_warmup, sync=ctx.sync)
        t.timer = StageTimer(ctx.sync)
        _log(f"bench step: {args.musiq_steps} step(s) of {label} (tens of seconds each on one core)")
        members: dict[str, float] = {}
        times, out = _steps(t, args.musiq_steps, members, ctx.sync)
        s = median(times)
        rows[label] = {"preset": MUSIQ_LABEL, "s_per_iter": s, "ratio_to_mt": s / mt_med, "steps": len(times),
                       "ratio_per_round": [], "stages_s_per_iter": _stages(t, len(times)), "raw_s": [times],
                       "iqa_members_s_per_iter": {k: v / len(times) for k, v in members.items()},
                       "last_step_metrics": out}
    return {"methods": list(rows), "rows": rows, "mt_s_per_iter": mt_med,
            "full_over_mt": rows[FULL]["ratio_to_mt"] if FULL in rows else None,
            "start_step": start, "start": args.start}


def table(results: dict[str, Any]) -> str:
    """Readable table: s/iter, ratio to mt and seconds per stage per iteration."""
    head = f"{'method':<44}{'s/iter':>9}{'x mt':>9}" + "".join(f"{s:>10}" for s in STAGES) + f"{'steps':>7}"
    out = ["seconds per PL iteration (median over timed steps; stages: mean s/iter)", head]
    for m, r in results["rows"].items():
        st = r["stages_s_per_iter"]
        out.append(f"{m:<44}{r['s_per_iter']:>9.3f}{r['ratio_to_mt']:>8.1f}x"
                   + "".join(f"{st[s]:>10.3f}" for s in STAGES) + f"{r['steps']:>7}")
    out.append("IQA member forward seconds per iteration (scores, block masks, rewards; share of the step)")
    for m, r in results["rows"].items():
        if r["iqa_members_s_per_iter"]:
            parts = [f"{k} {v:.3f} ({v / r['s_per_iter']:.0%})" for k, v in r["iqa_members_s_per_iter"].items()]
            out.append(f"  {m:<42}" + ", ".join(parts))
    return "\n".join(out)
