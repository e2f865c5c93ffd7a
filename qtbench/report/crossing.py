"""Where each IQA-driven method crosses the baseline on the reward-agreement axis (docs/agreement.md).

For a sweep whose rows include ``iqa.agreement.alpha`` (the oracle mixing weight), each method's *mixing path*
(sigma 0, alpha from the preset to the oracle) is read as a curve of the gain over the baseline (paired by
seed: the method's ``delta/student-base/target_psnr`` minus the baseline's of the same seed) against alpha and
against the agreement the runs measured (``iqa/agreement_srcc/ensemble``). The crossing is where that curve
first goes from below zero to at or above zero, interpolated linearly between the two settings around it.

It is a reading aid, written under the table by ``qtbench table``: the points are means over the seeds that
both the method and the baseline finished, so every crossing names the seeds it rests on, and a path with an
unfinished setting is read only as far as its settings go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from qtbench.report.agreement_figure import DEFAULT_CONTROLS, agreement_runs, setting_axes, setting_text, table_labels
from qtbench.report.collect import Cell
from qtbench.report.pairing import same_setting_baseline

ALPHA = "iqa.agreement.alpha"
SIGMA = "iqa.agreement.sigma"


@dataclass(frozen=True)
class PathPoint:
    """One setting of a method's mixing path: alpha, mean measured agreement, mean paired gain, seeds."""

    alpha: float
    rho: float
    gain: float
    seeds: int


@dataclass(frozen=True)
class Crossing:
    """The reading of one method's path: ``kind`` is ``crosses``, ``above`` (at or above the baseline from the
    first setting on), ``below`` (below it at every setting) or ``thin`` (fewer than two settings measured)."""

    task: str
    method: str
    kind: str
    points: tuple[PathPoint, ...]
    setting: str = ""  # the row's other axes (e.g. the faithfulness rows' loss weighting), "" at their defaults
    alpha: Optional[float] = None  # interpolated crossing (kind == "crosses")
    rho: Optional[float] = None
    seeds: int = 0  # the fewer seeds of the two settings around the crossing
    between: Optional[tuple[float, float]] = None  # the alphas of those two settings
    baseline_setting: str = ""  # the baseline row paired with: one trained the same way, "" for the plain one


def _values(setting: tuple, others: list[int]) -> tuple:
    """A run's values on the row axes other than alpha and sigma (None: the axis is not labelled, its default)."""
    return tuple(None if setting[i] is None else str(setting[i]) for i in others)


def _baseline_variant(path: tuple, variants: set[tuple]) -> Optional[tuple]:
    """The baseline row to pair a path with (``pairing.same_setting_baseline`` over setting tuples)."""
    return same_setting_baseline(path, [(v, v) for v in sorted(variants, key=repr)])


def mixing_paths(cells: list[Cell], table: dict, baseline: str
                 ) -> dict[tuple[str, str, str, str], list[PathPoint]]:
    """``{(task, method, setting, baseline_setting): [PathPoint, ...]}`` in order of alpha, for every method
    with an alpha axis; ``setting`` names the row's other axes (one path per combination of them), "" where they
    are all defaults; ``baseline_setting`` the same for the baseline row its gains are paired with.

    A reward-using row without an alpha label runs alpha's default, the preset (0): the faithfulness sweep's
    default rows. Where the baseline has rows of its own on those other axes (Mean Teacher under the official
    loss weighting), a path is paired with the one trained the same way. Controls, the noise path (sigma > 0)
    and runs that measured no agreement are left out.
    """
    keys = setting_axes(table)
    if ALPHA not in keys:
        return {}
    i_a = keys.index(ALPHA)
    i_s = keys.index(SIGMA) if SIGMA in keys else None
    others = [i for i, k in enumerate(keys) if k not in (ALPHA, SIGMA)]
    controls = {str(c) for c in (table.get("controls") or DEFAULT_CONTROLS)}
    labels = table_labels(table)
    name = lambda vals: setting_text([keys[i] for i in others], vals, labels)  # noqa: E731
    base: dict[tuple[str, int, tuple], float] = {}
    runs: dict[tuple[str, str, tuple, float], dict[int, tuple[float, float]]] = {}
    for r in agreement_runs(cells, table):
        if r.method == baseline:
            base[(r.task, r.seed, _values(r.setting, others))] = r.y
            continue
        if r.method in controls or r.x is None or (i_s is not None and float(r.setting[i_s] or 0.0) != 0.0):
            continue
        alpha = r.setting[i_a]
        if alpha is None and r.oracle:
            continue  # an oracle reward at a mixing weight the row does not name
        runs.setdefault((r.task, r.method, _values(r.setting, others), float(alpha or 0.0)), {})[r.seed] = (r.x, r.y)
    variants = {vals for (_, _, vals) in base}
    out: dict[tuple[str, str, str, str], list[PathPoint]] = {}
    # per method: the default setting's path first, then the others; each path's points in order of alpha
    order = lambda kv: (kv[0][:2], sum(v is not None for v in kv[0][2]), repr(kv[0][2]), kv[0][3])  # noqa: E731
    for (task, method, vals, alpha), by_seed in sorted(runs.items(), key=order):
        bvals = _baseline_variant(vals, variants)
        paired = [(x, y - base[(task, s, bvals)]) for s, (x, y) in by_seed.items() if (task, s, bvals) in base]
        if paired:
            a = np.asarray(paired)
            out.setdefault((task, method, name(vals), name(bvals or ())), []).append(
                PathPoint(alpha, float(a[:, 0].mean()), float(a[:, 1].mean()), len(paired)))
    return out


def read_path(task: str, method: str, points: list[PathPoint], setting: str = "", baseline_setting: str = ""
              ) -> Crossing:
    """The crossing of one path (points in order of alpha)."""
    pts = tuple(points)
    kw = {"setting": setting, "baseline_setting": baseline_setting}
    if len(pts) < 2:
        return Crossing(task, method, "thin", pts, **kw)
    if pts[0].gain >= 0:
        return Crossing(task, method, "above", pts, **kw)
    for lo, hi in zip(pts, pts[1:]):
        if lo.gain < 0 <= hi.gain:
            t = -lo.gain / (hi.gain - lo.gain)
            return Crossing(task, method, "crosses", pts, alpha=lo.alpha + t * (hi.alpha - lo.alpha),
                            rho=lo.rho + t * (hi.rho - lo.rho), seeds=min(lo.seeds, hi.seeds),
                            between=(lo.alpha, hi.alpha), **kw)
    return Crossing(task, method, "below", pts, **kw)


def crossings(cells: list[Cell], table: dict) -> list[Crossing]:
    """Every method's reading, in task and method order (none when the table has no alpha axis or baseline)."""
    baseline = table.get("baseline")
    if not baseline:
        return []
    return [read_path(task, method, pts, setting, bsetting)
            for (task, method, setting, bsetting), pts in mixing_paths(cells, table, str(baseline)).items()]


def _point(p: PathPoint) -> str:
    return f"α {p.alpha:g}: {p.gain:+.2f} dB at ρ {p.rho:.2f} ({p.seeds} seed{'s' if p.seeds != 1 else ''})"


def render_md(items: list[Crossing], baseline: str) -> list[str]:
    """Markdown lines: one bullet per method, with the path it was read from."""
    if not items:
        return []
    lines = [f"Where each method crosses {baseline} on the mixing path (σ 0; gain = paired Δ target-test PSNR "
             f"against {baseline} of the same seed, trained the same way where the sweep has such a {baseline} row; "
             "mean over the seeds both finished; crossing interpolated "
             "linearly between the settings around it; alpha > 0 reads hidden targets: a calibration, not a "
             "result):", ""]
    for c in items:
        where = f"{c.task}, " if c.task else ""
        path = "; ".join(_point(p) for p in c.points)
        if c.kind == "crosses":
            seeds = f"{c.seeds} seed{'s' if c.seeds != 1 else ''}"
            head = (f"crosses between α {c.between[0]:g} and {c.between[1]:g} (interpolated α ≈ {c.alpha:.2f}, "
                    f"measured ρ ≈ {c.rho:.2f}; on {seeds})")
        elif c.kind == "above":
            head = f"at or above {baseline} from the first setting on"
        elif c.kind == "below":
            best = max(c.points, key=lambda p: p.gain)
            head = f"below {baseline} at every measured setting (closest {best.gain:+.2f} dB, at α {best.alpha:g})"
        else:
            head = "one setting measured: no crossing to read"
        setting = f" ({c.setting})" if c.setting else ""
        against = f" [against {baseline} ({c.baseline_setting})]" if c.baseline_setting else ""
        lines.append(f"- {where}`{c.method}`{setting}{against}: {head} — {path}")
    return lines + [""]
