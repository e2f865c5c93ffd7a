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

from qtbench.report.agreement_figure import DEFAULT_CONTROLS, agreement_runs, setting_axes
from qtbench.report.collect import Cell

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


def mixing_paths(cells: list[Cell], table: dict, baseline: str) -> dict[tuple[str, str, str], list[PathPoint]]:
    """``{(task, method, setting): [PathPoint, ...]}`` in order of alpha, for every method with an alpha axis;
    ``setting`` names the row's other axes (one path per combination of them), "" where they are all defaults.

    A reward-using row without an alpha label runs alpha's default, the preset (0): the faithfulness sweep's
    default rows. Controls, the noise path (sigma > 0) and runs that measured no agreement are left out.
    """
    keys = setting_axes(table)
    if ALPHA not in keys:
        return {}
    i_a = keys.index(ALPHA)
    i_s = keys.index(SIGMA) if SIGMA in keys else None
    others = [i for i, k in enumerate(keys) if k not in (ALPHA, SIGMA)]
    controls = {str(c) for c in (table.get("controls") or DEFAULT_CONTROLS)}
    labels = {str(k): str(v) for k, v in (table.get("labels") or {}).items()}
    base: dict[tuple[str, int], float] = {}
    runs: dict[tuple[str, str, str, float], dict[int, tuple[float, float]]] = {}
    for r in agreement_runs(cells, table):
        if r.method == baseline:
            base[(r.task, r.seed)] = r.y
            continue
        if r.method in controls or r.x is None or (i_s is not None and float(r.setting[i_s] or 0.0) != 0.0):
            continue
        alpha = r.setting[i_a]
        if alpha is None and r.oracle:
            continue  # an oracle reward at a mixing weight the row does not name
        setting = ", ".join(labels.get(str(r.setting[i]), f"{keys[i]}={r.setting[i]}") for i in others
                            if r.setting[i] is not None)
        runs.setdefault((r.task, r.method, setting, float(alpha or 0.0)), {})[r.seed] = (r.x, r.y)
    out: dict[tuple[str, str, str], list[PathPoint]] = {}
    for (task, method, setting, alpha), by_seed in sorted(runs.items()):
        paired = [(x, y - base[(task, s)]) for s, (x, y) in by_seed.items() if (task, s) in base]
        if paired:
            a = np.asarray(paired)
            out.setdefault((task, method, setting), []).append(
                PathPoint(alpha, float(a[:, 0].mean()), float(a[:, 1].mean()), len(paired)))
    return out


def read_path(task: str, method: str, points: list[PathPoint], setting: str = "") -> Crossing:
    """The crossing of one path (points in order of alpha)."""
    pts = tuple(points)
    if len(pts) < 2:
        return Crossing(task, method, "thin", pts, setting=setting)
    if pts[0].gain >= 0:
        return Crossing(task, method, "above", pts, setting=setting)
    for lo, hi in zip(pts, pts[1:]):
        if lo.gain < 0 <= hi.gain:
            t = -lo.gain / (hi.gain - lo.gain)
            return Crossing(task, method, "crosses", pts, setting, lo.alpha + t * (hi.alpha - lo.alpha),
                            lo.rho + t * (hi.rho - lo.rho), min(lo.seeds, hi.seeds), (lo.alpha, hi.alpha))
    return Crossing(task, method, "below", pts, setting=setting)


def crossings(cells: list[Cell], table: dict) -> list[Crossing]:
    """Every method's reading, in task and method order (none when the table has no alpha axis or baseline)."""
    baseline = table.get("baseline")
    if not baseline:
        return []
    return [read_path(task, method, pts, setting)
            for (task, method, setting), pts in mixing_paths(cells, table, str(baseline)).items()]


def _point(p: PathPoint) -> str:
    return f"α {p.alpha:g}: {p.gain:+.2f} dB at ρ {p.rho:.2f} ({p.seeds} seed{'s' if p.seeds != 1 else ''})"


def render_md(items: list[Crossing], baseline: str) -> list[str]:
    """Markdown lines: one bullet per method, with the path it was read from."""
    if not items:
        return []
    lines = [f"Where each method crosses {baseline} on the mixing path (σ 0; gain = paired Δ target-test PSNR "
             f"against {baseline} of the same seed, mean over the seeds both finished; crossing interpolated "
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
        lines.append(f"- {where}`{c.method}`{setting}: {head} — {path}")
    return lines + [""]
