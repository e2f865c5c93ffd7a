"""Bench (a): scoring one PL step's candidates, batched vs image-at-a-time.

The candidates are real teacher outputs: the base model restores a batch of ``pl.batch_target`` grid
crops of the unlabelled target images under the ``maug`` views of the run config (official: hflip, vflip,
rot90, inverted back), i.e. the B x K candidates a ``mt+qualiteacher`` step scores (8 x 3 of 64 px at cpu
scale). Two ways to score them:

- *batched*: ``Ensemble.score`` — every candidate through each member in one call (docs/architecture.md §8);
- *looped*: for each candidate, for each member, one call and ``.item()``, normalised and combined with
  Python floats — the official code's loop, on qtbench's own member code (what batching alone buys);
- *official loop*: the same loop where each member runs the code the official loop would run: pyiqa's own
  functions for metrics qtbench re-implemented faster (``niqe_fit`` -> pyiqa's NIQE feature code, via
  ``reference_raw``); members without a reference (pyiqa metrics, ``degprob``) run as in *looped*.

Both must agree within 1e-5 (combined and per-member normalised scores). The same is done for the
block-wise trust mask (``Ensemble.block_mask`` vs a loop over images, tiles and members) with the offline
preset, and for the whole-image scores of the offline preset plus a random-weights MUSIQ member (the paper
preset's expensive member; its tiles are skipped: ~0.5 s per tile on one core).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from qtbench.bench.common import MUSIQ_LABEL, BenchContext, clock, median, member_clock

TOLERANCE = 1e-5


def step_candidates(ctx: BenchContext) -> Tensor:
    """[B*K,3,c,c] candidates of one ``mt+qualiteacher`` step (base model as teacher, maug views)."""
    from qtbench import registry
    from qtbench.engine.build import build_backbone
    from qtbench.engine.plugin_api import TargetBatch
    from qtbench.engine.sampler import CropSampler

    cfg = ctx.cfg
    teacher = build_backbone(cfg.backbone).to(ctx.device)
    teacher.load_state_dict(ctx.base_state)
    teacher.eval()
    sampler = CropSampler(ctx.data.train.target_inputs, cfg.pl.crop, np.random.default_rng([cfg.seed, 0xBE]),
                          mode="grid")
    idx, weak, _, key = sampler.sample_keyed(cfg.pl.batch_target)
    batch = TargetBatch(idx, weak.to(ctx.device), weak.to(ctx.device), None, key)
    maug = registry.addons.get("maug").obj(cfg, cfg.addons.maug)  # the plugin, found like a run finds it
    cands = maug.on_candidates(teacher, batch, None)
    return cands.flatten(0, 1).clamp(0, 1)


def _normalise(member: Any, raw: float, fallback: float) -> float:
    """Member.normalise plus the ensemble's fallback, in Python floats (the official code's arithmetic)."""
    if not math.isfinite(raw):
        return fallback
    if member.floor is not None:
        raw = max(raw, member.floor)
    n = (raw - member.lo) / (member.hi - member.lo)
    if member.lower_better:
        n = 1.0 - n
    if member.clamp:
        n = min(max(n, 0.0), 1.0)
    return n if math.isfinite(n) else fallback


def _own(member: Any) -> Any:
    """The member's raw-score function (qtbench's code)."""
    return member.raw


def _reference(member: Any) -> Any:
    """The member's raw-score function as the official loop runs it (pyiqa's code where qtbench has its own)."""
    return getattr(member, "reference_raw", member.raw)


@torch.no_grad()
def looped_scores(ensemble: Any, images: Tensor, raw_of: Any = _own) -> tuple[list[float], dict[str, list[float]]]:
    """Image-at-a-time scoring: (combined [N], per-member normalised [N]) as Python floats.

    Args:
        raw_of: member -> its raw-score function (:func:`_own`, or :func:`_reference` for the official loop).
    """
    x = images.clamp(0.0, 1.0)
    combined, per = [], {k: [] for k in ensemble.members}
    for i in range(x.shape[0]):
        s = 0.0
        for k, m in ensemble.members.items():
            n = _normalise(m, raw_of(m)(x[i : i + 1]).reshape(-1)[0].item(), ensemble.fallback)
            per[k].append(n)
            s += ensemble.weights[k] * n
        combined.append(s)
    return combined, per


@torch.no_grad()
def looped_block_mask(ensemble: Any, images: Tensor, block: int) -> Tensor:
    """Block-wise mask with a loop over images, tiles and members (same tiling as ``Ensemble.block_mask``)."""
    x = images.clamp(0.0, 1.0)
    n, _, h, w = x.shape
    nh, nw = max(1, h // block), max(1, w // block)
    th, tw = min(block, h), min(block, w)
    grid = torch.zeros(n, nh, nw)
    for b in range(n):
        whole = {k: _normalise(m, m.raw(x[b : b + 1]).reshape(-1)[0].item(), ensemble.fallback)
                 for k, m in ensemble.members.items() if not m.blockwise}
        for i in range(nh):
            for j in range(nw):
                tile = x[b : b + 1, :, i * th : (i + 1) * th, j * tw : (j + 1) * tw]
                s = 0.0
                for k, m in ensemble.members.items():
                    v = whole[k] if k in whole else _normalise(m, m.raw(tile).reshape(-1)[0].item(),
                                                               ensemble.fallback)
                    s += ensemble.weights[k] * v
                grid[b, i, j] = s
    return F.interpolate(grid.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False)


def _compare(name: str, ensemble: Any, x: Tensor, rounds: int, batched_fn: Any, looped_fn: Any,
             diff_fn: Any, sync: Any = None) -> dict[str, Any]:
    """Alternate batched and looped ``rounds`` times (order flipped every round); medians and agreement."""
    times: dict[str, list[float]] = {"batched": [], "looped": []}
    members: dict[str, dict[str, list[float]]] = {v: {k: [] for k in ensemble.members} for v in times}
    outs: dict[str, Any] = {}
    for r in range(rounds):
        for variant in (("batched", "looped") if r % 2 == 0 else ("looped", "batched")):
            fn = batched_fn if variant == "batched" else looped_fn
            with member_clock(ensemble, sync) as sec:
                t, outs[variant] = clock(fn, x, sync=sync)
            times[variant].append(t)
            for k, v in sec.items():
                members[variant][k].append(v)
    diff = diff_fn(outs["batched"], outs["looped"])
    per_member = _member_diffs(outs["batched"], outs["looped"])
    b, lo = median(times["batched"]), median(times["looped"])
    return {"what": name, "images": int(x.shape[0]), "size": list(x.shape[-2:]), "rounds": rounds,
            "batched_s": b, "looped_s": lo, "speedup": lo / b, "max_abs_diff": diff,
            "agree": bool(diff <= TOLERANCE), "raw_s": times,
            "members": {k: {"weight": ensemble.weights[k], "batched_s": median(members["batched"][k]),
                            "looped_s": median(members["looped"][k]), "max_abs_diff": per_member.get(k)}
                        for k in ensemble.members}}


def _member_diffs(batched: Any, looped: Any) -> dict[str, float]:
    """Per member, the largest |batched - looped| normalised score (whole-image scores only; {} for masks)."""
    if not isinstance(looped, tuple):
        return {}
    return {k: float((batched.members[k].cpu() - torch.tensor(v)).abs().max()) for k, v in looped[1].items()}


def _score_diff(batched: Any, looped: Any) -> float:
    combined, per = looped
    d = (batched.combined.cpu() - torch.tensor(combined)).abs().max().item()
    for k, v in per.items():
        d = max(d, (batched.members[k].cpu() - torch.tensor(v)).abs().max().item())
    return float(d)


def run(ctx: BenchContext, rounds: int, musiq: bool, musiq_rounds: int) -> dict[str, Any]:
    """All scoring comparisons; returns the ``results`` block of ``scoring.json``."""
    x = step_candidates(ctx)
    block = int(ctx.cfg.iqa.block_size)
    ens = ctx.ensemble
    sync = ctx.sync
    rows = {
        "offline/score": _compare("scores", ens, x, rounds, ens.score, lambda im: looped_scores(ens, im), _score_diff,
                                  sync),
        "offline/score_official": _compare("scores vs official loop", ens, x, rounds, ens.score,
                                           lambda im: looped_scores(ens, im, _reference), _score_diff, sync),
        "offline/block_mask": _compare(f"block mask ({block} px tiles)", ens, x, rounds,
                                       lambda im: ens.block_mask(im, block), lambda im: looped_block_mask(ens, im, block),
                                       lambda a, b: float((a.cpu() - b.cpu()).abs().max()), sync),
    }
    if musiq:
        me = ctx.musiq_ensemble()
        rows[f"{MUSIQ_LABEL}/score"] = _compare("scores", me, x, musiq_rounds, me.score,
                                                lambda im: looped_scores(me, im), _score_diff, sync)
    b, k = int(ctx.cfg.pl.batch_target), x.shape[0] // int(ctx.cfg.pl.batch_target)
    return {"candidates": {"batch": b, "k": k, "size": int(x.shape[-1]), "views": list(ctx.cfg.addons.maug.views),
                           "source": "base model (teacher) on grid crops of the unlabelled target images"},
            "tolerance": TOLERANCE, "block_size": block, "rows": rows,
            "agree": all(r["agree"] for r in rows.values())}


def table(results: dict[str, Any]) -> str:
    """Readable table of :func:`run`'s results."""
    c = results["candidates"]
    out = [(f"scoring one step's candidates: {c['batch']} x {c['k']} = {c['batch'] * c['k']} of {c['size']} px "
            "(median over rounds, seconds)"),
           f"{'ensemble / what':<40}{'batched':>10}{'looped':>10}{'speedup':>9}{'max|diff|':>11}"]
    for key, r in results["rows"].items():
        ens = key.split("/")[0]
        flag = "" if r["agree"] else "  DISAGREE"
        out.append(f"{ens + ' ' + r['what']:<40}{r['batched_s']:>10.4f}{r['looped_s']:>10.4f}"
                   f"{r['speedup']:>8.2f}x{r['max_abs_diff']:>11.1e}{flag}")
        for k, m in r["members"].items():
            sp = m["looped_s"] / m["batched_s"] if m["batched_s"] > 0 else float("nan")
            label = f"  {k} (w {m['weight']:.2f})"
            d = m.get("max_abs_diff")  # absent in result files written before it was recorded
            out.append(f"{label:<40}{m['batched_s']:>10.4f}{m['looped_s']:>10.4f}{sp:>8.2f}x"
                       + (f"{d:>11.1e}" if d is not None else ""))
    return "\n".join(out)
