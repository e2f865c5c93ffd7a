"""``qtbench plan``: how many cells and seeds a sweep has and what it will cost, before launching.

Each scale's iterations come from the cells composed at that scale (:func:`cells_per_scale`: the same
expansion as ``qtbench sweep``, so scale profiles, method defaults and overrides combine exactly as in a run).
Seconds per PL iteration come from, in order: finished runs in the runs folder (``timing.s_per_iter`` of
the same method and scale; the median of the :data:`RECENT` most recently finished ones, since speeds move
with the code and with how jobs were launched: a folder that once ran two multi-threaded jobs on two cores
holds runs ten times slower than today's), then ``results/bench/step.json`` (``qtbench bench``; its scale only). Base
models are counted once per distinct base configuration (they are cached and shared by every method of
a seed), priced from finished runs' ``base_train_seconds`` per base iteration. What a cell costs besides its
PL loop and base model (data, IQA set-up, the final evaluation with its level diagnostics: at cpu scale as
much as the PL loop) is priced from finished runs too: ``wall_s`` minus PL and base seconds, median per
method and scale (any method's at that scale when the method has none).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import yaml

from qtbench.errors import UserError
from qtbench.launch.sweep_file import SweepSpec
from qtbench.launch.sweep_state import is_done

BENCH = Path("results/bench/step.json")
RECENT = 5  # finished runs per method and scale that price a cell: the latest ones (summary.json mtime)


@dataclass
class Rates:
    """Measured speeds: ``pl[(method, scale)]`` s/iter with its source, ``base[scale]`` s per base iteration."""

    pl: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    base: dict[str, float] = field(default_factory=dict)
    overhead: dict[tuple[str, str], float] = field(default_factory=dict)  # s per cell outside PL and base
    overhead_any: dict[str, float] = field(default_factory=dict)  # per scale, over every method


def measured_rates(runs_dir: Path, bench: Path = BENCH) -> Rates:
    """Collect s/iter from finished runs (median per method and scale), then fill gaps from the bench file."""
    spi: dict[tuple[str, str], list[float]] = defaultdict(list)
    base: dict[str, list[float]] = defaultdict(list)
    over: dict[tuple[str, str], list[float]] = defaultdict(list)
    for path in _newest_first(Path(runs_dir).glob("*/*/*/summary.json")):
        try:
            s = json.loads(path.read_text())
            t = s["timing"]
            spi[(s["method"], s["scale"])].append(float(t["s_per_iter"]))
            trained_base = not t.get("base_cached") and t.get("base_train_seconds")
            if trained_base:  # this run trained its base model
                iters = (yaml.safe_load((path.parent / "config.yaml").read_text()) or {})["base"]["iters"]
                base[s["scale"]].append(float(t["base_train_seconds"]) / max(1.0, float(iters)))
            if "wall_s" in t and "pl_seconds" in t:
                rest = float(t["wall_s"]) - float(t["pl_seconds"]) - (float(t["base_train_seconds"]) if trained_base else 0.0)
                over[(s["method"], s["scale"])].append(max(0.0, rest))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    rates = Rates()
    rates.overhead = {k: statistics.median(v[:RECENT]) for k, v in over.items()}
    by_scale: dict[str, list[float]] = defaultdict(list)
    for (_, scale), vals in over.items():
        by_scale[scale].extend(vals[:RECENT])
    rates.overhead_any = {k: statistics.median(v) for k, v in by_scale.items()}
    for key, vals in spi.items():
        rates.pl[key] = (statistics.median(vals[:RECENT]), _source(len(vals)))
    rates.base = {k: statistics.median(v[:RECENT]) for k, v in base.items()}
    try:
        b = json.loads(Path(bench).read_text())
        scale = (b.get("settings") or {}).get("scale", "cpu")
        for method, row in b["results"]["rows"].items():
            rates.pl.setdefault((method, scale), (float(row["s_per_iter"]), str(bench)))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return rates


def _newest_first(paths) -> list[Path]:
    """Summary files, most recently written first (a run writes its summary when it finishes)."""
    stamped = []
    for path in paths:
        try:
            stamped.append((path.stat().st_mtime, str(path), path))
        except OSError:
            continue
    return [p for _, _, p in sorted(stamped, reverse=True)]


def _source(n: int) -> str:
    """Where a measured speed comes from, as the plan prints it."""
    if n <= RECENT:
        return f"{n} finished run{'s' * (n > 1)}"
    return f"latest {RECENT} of {n} finished runs"


def nearest_rate(method: str, scale: str, rates: Rates) -> Optional[tuple[float, str]]:
    """An unmeasured method priced like the measured one with the fewest add-ons that include all of its own
    (an upper bound); a method with no add-ons like any measured add-on-free method (``srconly`` ~ ``mt``)."""
    from qtbench.method_spec import parse_method

    try:
        mine = set(parse_method(method).addons)
    except UserError:
        return None
    best = None
    for (other, s), (spi, _) in rates.pl.items():
        if s != scale:
            continue
        try:
            theirs = set(parse_method(other).addons)
        except UserError:
            continue
        if mine <= theirs and (best is None or len(theirs) < best[0]):
            best = (len(theirs), spi, other)
    if best is None:
        return None
    return best[1], f"~ {best[2]} (not measured; {'upper bound' if best[0] > len(mine) else 'same add-ons'})"


def cells_per_scale(spec: SweepSpec, cells: list[dict], runs_dir: Path) -> dict[str, Union[list[dict], str]]:
    """The sweep's cells composed at every scale, the sweep's own first (``cells``, already expanded); a scale
    at which the cells do not compose maps to the reason (one line)."""
    from qtbench.config.compose import SCALES
    from qtbench.launch.expand import expand

    out: dict[str, Union[list[dict], str]] = {spec.scale: cells}
    for scale in SCALES:
        if scale != spec.scale:
            try:  # no cache file: planning writes nothing, and the sweep's cache holds its own scale
                out[scale] = expand(dataclasses.replace(spec, scale=scale), Path(runs_dir).resolve(), None)
            except UserError as exc:
                out[scale] = str(exc)
    return out


def estimate(cells: list[dict], scale: str, rates: Rates) -> dict[str, Any]:
    """Estimated seconds of PL training and base models for ``cells`` (composed at ``scale``)."""
    per_method: dict[str, dict[str, Any]] = {}
    bases = set()
    for c in cells:
        cfg = c["config"]
        pl_it, base_it = cfg["pl"]["iters"], cfg["base"]["iters"]
        bases.add(json.dumps([c["task"], c["seed"], base_it, cfg["base"], cfg["backbone"], cfg["task"]], sort_keys=True,
                             default=str))
        row = per_method.setdefault(c["method"], {"cells": 0, "iters": 0})
        row["cells"] += 1
        row["iters"] += pl_it
    total, unknown, eval_total = 0.0, [], 0.0
    for method, row in per_method.items():
        rate = rates.pl.get((method, scale)) or nearest_rate(method, scale, rates)
        row["s_per_iter"], row["source"] = rate if rate else (None, "no measurement")
        if rate:
            row["seconds"] = row["iters"] * rate[0]
            total += row["seconds"]
        else:
            unknown.append(method)
        per_cell = rates.overhead.get((method, scale), rates.overhead_any.get(scale))
        row["eval_seconds"] = None if per_cell is None else per_cell * row["cells"]
        eval_total += row["eval_seconds"] or 0.0
    base_rate = rates.base.get(scale)
    base_iters = sum(json.loads(b)[2] for b in bases)
    base_s = base_iters * base_rate if base_rate else None
    return {"scale": scale, "methods": per_method, "pl_seconds": total, "unknown": unknown,
            "base_models": len(bases), "base_seconds": base_s,
            "eval_seconds": eval_total if scale in rates.overhead_any else None}


def seed_milestones(left: list[dict], scale: str, rates: Rates) -> list[tuple[int, float]]:
    """``[(seed, compute seconds)]``: the estimated compute until every cell of ``left`` with that seed or a lower
    one is done, in the order ``qtbench sweep --order seeds`` launches them (so including the cells of higher
    seeds that go first to train their base models); empty when a method's speed is unknown."""
    from qtbench.launch.sweep import bases_first, seeds_first

    order = [c for c, _ in bases_first(seeds_first([(c, None) for c in left]))]
    out = []
    for seed in sorted({int(c["seed"]) for c in left}):
        last = max(i for i, c in enumerate(order) if int(c["seed"]) <= seed)
        est = estimate(order[:last + 1], scale, rates)
        if est["unknown"] or est["base_seconds"] is None or est["eval_seconds"] is None:
            return []  # a milestone priced without part of its cost would mislead
        out.append((seed, est["pl_seconds"] + (est["base_seconds"] or 0.0) + (est["eval_seconds"] or 0.0)))
    return out


def fmt_seconds(s: Optional[float]) -> str:
    if s is None:
        return "unknown"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def report(name: str, path: Path, sweep_scale: str, per_scale: dict[str, Union[list[dict], str]], rates: Rates,
           parallel: int) -> str:
    """The text ``qtbench plan`` prints; ``per_scale`` from :func:`cells_per_scale`."""
    cells = per_scale[sweep_scale]
    seeds = sorted({c["seed"] for c in cells})
    methods = list(dict.fromkeys(c["method"] for c in cells))
    tasks = list(dict.fromkeys(c["task"] for c in cells))
    settings = {tuple(sorted((k, str(v)) for k, v in c["labels"].items() if k not in ("method", "task", "seed")))
                for c in cells}
    product = len(methods) * len(tasks) * len(seeds) * len(settings) == len(cells)
    settings.discard(())  # cells with the file's defaults only (e.g. the controls) are no override setting
    lines = [f"sweep {name} ({path}): {len(cells)} cells {'=' if product else 'over'} {len(methods)} methods x "
             f"{len(tasks)} tasks ({', '.join(tasks)}) x {len(seeds)} seeds ({', '.join(map(str, seeds))})"
             + (f" x {len(settings)} override setting{'s' * (len(settings) > 1)}" if settings else "")
             + ("" if product else " (not a full product: includes or per-method settings)")]
    for scale, at_scale in per_scale.items():
        if isinstance(at_scale, str):
            lines.append(f"\n{scale}: the cells do not compose at this scale: {at_scale}")
            continue
        est = estimate(at_scale, scale, rates)
        mark = " (the sweep's scale)" if scale == sweep_scale else ""
        known = not est["unknown"]
        total = est["pl_seconds"] + (est["base_seconds"] or 0.0) + (est["eval_seconds"] or 0.0)
        lines.append(f"\n{scale}{mark}: PL {fmt_seconds(est['pl_seconds']) if known else 'partly unknown'}"
                     f" + evaluation and set-up {fmt_seconds(est['eval_seconds'])}"
                     f" + {est['base_models']} base models {fmt_seconds(est['base_seconds'])}"
                     + (f" = {fmt_seconds(total)} of compute, ~{fmt_seconds(total / parallel)} wall at {parallel} "
                        "in parallel" if known and est["base_seconds"] is not None and est["eval_seconds"] is not None
                        else ""))
        if scale == sweep_scale:
            left = [c for c in at_scale if not is_done(Path(c["run_dir"]), c["hash"])]
            if len(left) < len(at_scale):
                rest = estimate(left, scale, rates)
                rest_total = rest["pl_seconds"] + (rest["base_seconds"] or 0.0) + (rest["eval_seconds"] or 0.0)
                lines.append(f"  left to run: {len(left)} of {len(at_scale)} cells, ~{fmt_seconds(rest_total)} of compute "
                             f"(~{fmt_seconds(rest_total / parallel)} wall at {parallel} in parallel; base models "
                             "counted again, though some are cached)")
            steps = seed_milestones(left, scale, rates)
            if len(steps) > 1:
                lines.append("  launched lowest seed first (`qtbench sweep --order seeds`, the default), every row is "
                             "measured through " + ", ".join(f"seed {seed} after ~{fmt_seconds(t / parallel)}"
                                                            for seed, t in steps) + " (wall)")
        if scale != sweep_scale and not any(est["methods"][m]["s_per_iter"] for m in est["methods"]):
            lines.append(f"  no s/iter measured at {scale} scale (finished runs or `qtbench bench --scale {scale}`)")
            continue
        lines.append(f"  {'method':<28}{'cells':>6}{'PL iters':>10}{'s/iter':>9}{'PL':>10}{'eval':>10}  source")
        for method, row in est["methods"].items():
            spi = f"{row['s_per_iter']:.3f}" if row["s_per_iter"] else "?"
            lines.append(f"  {method:<28}{row['cells']:>6}{row['iters']:>10}{spi:>9}"
                         f"{fmt_seconds(row.get('seconds')):>10}{fmt_seconds(row['eval_seconds']):>10}  {row['source']}")
    return "\n".join(lines)

