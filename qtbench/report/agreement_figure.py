"""``SWEEP_agreement.png``: the gain of each IQA-driven method against the reward agreement it measured
(docs/agreement.md).

x: the agreement each run measured, ``iqa/agreement_srcc/ensemble`` (Spearman of the ensemble score with the
PSNR of the candidates it scored); y: ``delta/student-base/target_psnr``. Per method, a solid line through its
mixing settings (alpha from the preset to the oracle, sigma 0) and a dashed one through its noise settings (the
oracle with sigma > 0; :func:`paths`), each point the mean over seeds with +-1 std bars on both axes; hollow
markers are settings whose runs trained on an oracle reward. Controls (the table's ``controls``, by default
mt, srconly, oracle) have no agreement axis: each is a horizontal band, the 95 % bootstrap interval of its mean
gain, so a line crossing the ``mt`` band is where the method starts to pay off. One panel per task.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from qtbench.report.collect import Cell
from qtbench.report.figure_io import save
from qtbench.report.layout import METRIC, oracle_reward

X_KEY = "iqa/agreement_srcc/ensemble"
Y_KEY = "delta/student-base/target_psnr"
DEFAULT_CONTROLS = ("mt", "srconly", "oracle")


def finite(v: Optional[float]) -> bool:
    """A metric value that was logged and is a number (not None, NaN or inf)."""
    return v is not None and math.isfinite(v)


def setting_axes(table: dict) -> list[str]:
    """The table's row axes other than ``method``: a point's agreement setting (e.g. alpha, sigma)."""
    rows = table.get("rows") or "method"
    return [a for a in (rows if isinstance(rows, list) else [rows]) if a not in ("method", METRIC)]


def table_labels(table: dict) -> dict[str, str]:
    """The table's display names of axis values, keyed by the value's text."""
    return {str(k): str(v) for k, v in (table.get("labels") or {}).items()}


def setting_text(keys: list[str], values, labels: dict[str, str]) -> str:
    """``"official weighting, pl.iters=500"``: the labelled values (None: unlabelled, left out) with their
    display names, else ``key=value``; "" when none is labelled."""
    return ", ".join(labels.get(str(v), f"{k}={v}") for k, v in zip(keys, values) if v is not None)


def paths(settings: list[tuple[str, ...]], keys: list[str]) -> list[tuple[str, list[tuple[str, ...]]]]:
    """Split one method's settings into the lines to draw: ``[(kind, settings)]``.

    With a noise axis (``iqa.agreement.sigma``) the mixing path (sigma 0: alpha from the preset to the oracle)
    and the noise path (the oracle, alpha 1, with sigma from 0 up) are separate lines sharing the oracle point:
    the two lower agreement in different ways (a hackable member's bias vs unbiased noise), so one line through
    both would zig-zag between points that are not neighbours. Without a noise axis: one line through all.
    """
    if "iqa.agreement.sigma" not in keys or "iqa.agreement.alpha" not in keys:
        return [("all", list(settings))]
    i_s, i_a = keys.index("iqa.agreement.sigma"), keys.index("iqa.agreement.alpha")
    quiet = [s for s in settings if float(s[i_s]) == 0.0]
    noisy = [s for s in settings if float(s[i_s]) > 0.0 or (float(s[i_s]) == 0.0 and float(s[i_a]) == 1.0)]
    return [(kind, group) for kind, group in (("mixing", quiet), ("noise", noisy))
            if group and (kind == "mixing" or len(group) > 1)]


@dataclass(frozen=True)
class AgreementRun:
    """One finished run of an agreement sweep: its setting (the raw labels of :func:`setting_axes`), seed,
    measured agreement ``x`` (None when the run logged none, e.g. a control) and gain ``y``."""

    task: str
    method: str
    setting: tuple
    seed: int
    x: Optional[float]
    y: float
    oracle: bool


def agreement_runs(cells: list[Cell], table: dict, x_key: str = X_KEY, y_key: str = Y_KEY) -> Iterator[AgreementRun]:
    """The finished runs with a finite gain, the one reading that the figure and the crossing both group."""
    keys = setting_axes(table)
    for c in cells:
        y = c.run.metrics.get(y_key) if c.status == "done" else None
        if not finite(y):
            continue
        x = c.run.metrics.get(x_key)
        yield AgreementRun(str(c.labels.get("task", "")), str(c.labels.get("method")),
                           tuple(c.labels.get(a) for a in keys), c.seed, float(x) if finite(x) else None, float(y),
                           oracle_reward(c))


def agreement_points(cells: list[Cell], table: dict, x_key: str = X_KEY, y_key: str = Y_KEY) -> tuple[dict, dict]:
    """Group finished runs: ``({task: {method: {setting: [(x, y, oracle)]}}}, {task: {control: [y]}})``; a
    control row trained with a labelled setting is keyed ``"mt (its setting)"``."""
    controls = {str(c) for c in (table.get("controls") or DEFAULT_CONTROLS)}
    labels = table_labels(table)
    keys = setting_axes(table)
    lines: dict = {}
    bands: dict = {}
    for r in agreement_runs(cells, table, x_key, y_key):
        if r.method in controls:
            # a control trained another way (Mean Teacher under the official weighting) is a band of its own
            how = setting_text(keys, r.setting, labels)
            bands.setdefault(r.task, {}).setdefault(f"{r.method} ({how})" if how else r.method, []).append(r.y)
        elif r.x is not None:
            setting = tuple(str(v) for v in r.setting)
            lines.setdefault(r.task, {}).setdefault(r.method, {}).setdefault(setting, []).append((r.x, r.y, r.oracle))
    return lines, bands


def _mean_point(pts: list[tuple[float, float, bool]]) -> tuple[float, float, float, float, bool]:
    """``(x, y, std x, std y, oracle)`` over the seeds of one setting (std 0 with one seed)."""
    a = np.asarray([(x, y) for x, y, _ in pts])
    sd = a.std(axis=0, ddof=1) if len(a) > 1 else np.zeros(2)
    return (*a.mean(axis=0), *sd, any(o for _, _, o in pts))


def method_lines(methods: dict, keys: list[str], labels: Optional[dict] = None
                 ) -> list[tuple[int, str, str, list[tuple]]]:
    """The lines of one panel: ``[(method index, method, kind, points)]``, each method's paths (:func:`paths`)
    with points ``(x, y, std x, std y, oracle)`` in order of x; the index picks the method's colour.

    Settings that differ on axes other than alpha and sigma (the faithfulness rows' loss weighting or exposure)
    are separate lines, their ``kind`` naming that setting (``labels``: display names of its values)."""
    labels = labels or {}
    others = [i for i, k in enumerate(keys) if k not in ("iqa.agreement.alpha", "iqa.agreement.sigma")]
    out = []
    for i, (method, settings) in enumerate(sorted(methods.items())):
        groups: dict[tuple, list] = {}
        for s in settings:
            groups.setdefault(tuple(s[j] for j in others), []).append(s)
        for other, group in sorted(groups.items(), key=lambda kv: (sum(v != "None" for v in kv[0]), kv[0])):
            name = setting_text([keys[j] for j in others], [None if v == "None" else v for v in other], labels)
            for kind, part in paths(group, keys):
                kind = f"{name}, {kind}" if name and kind != "all" else name or kind
                out.append((i, method, kind, sorted(_mean_point(settings[s]) for s in part)))
    return out


def agreement_figure(plt, cells: list[Cell], table: dict, path: Path) -> Optional[Path]:
    """Draw the figure to ``path``; None when no run measured agreement."""
    from qtbench.analysis.paired import interval

    lines, bands = agreement_points(cells, table)
    keys = setting_axes(table)
    labels = table_labels(table)
    if not lines:
        return None
    tasks = sorted(lines)
    fig, axes = plt.subplots(1, len(tasks), figsize=(7.5 * len(tasks), 5.2), squeeze=False, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # control bands in colours outside the method cycle (tab:green is its third method's colour)
    greys = {"mt": "0.35", "srconly": "0.65", "oracle": "goldenrod"}
    for ax, task in zip(axes[0], tasks):
        for name, ys in sorted(bands.get(task, {}).items()):
            iv = interval(ys, n_boot=1000, seed=0)
            lo, hi = (iv.boot_low, iv.boot_high) if iv.n > 1 else (iv.mean, iv.mean)
            col = greys.get(name.split(" (")[0], "0.5")
            ax.axhspan(lo, hi, color=col, alpha=0.18, lw=0)
            ax.axhline(iv.mean, color=col, lw=1.0, ls=":" if " (" in name else "--", label=f"{name} (control, 95 % CI)")
        for i, method, kind, pts in method_lines(lines[task], keys, labels):
            col = colours[i % len(colours)]
            label = method if kind == "all" else f"{method} ({kind})"
            noise = kind.endswith("noise")
            ls = "--" if noise else "-" if kind in ("all", "mixing") else "-."  # -.: another training setting
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=col, lw=1.4, ls=ls, label=label)
            for x, y, sx, sy, orc in pts:
                ax.errorbar(x, y, xerr=sx, yerr=sy, color=col, lw=0.8, capsize=2,
                            marker="s" if noise else "o", mfc="none" if orc else col, mec=col, ms=6)
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xlabel("measured agreement: Spearman ρ(ensemble score, PSNR of scored PL candidates)")
        ax.set_ylabel("Δ target-test PSNR vs base (dB)")
        ax.set_title(f"{task}: gain vs reward agreement (hollow: oracle reward, calibration only)" if task else
                     "gain vs reward agreement (hollow: oracle reward, calibration only)")
        ax.legend(fontsize=8, loc="best")
    return save(plt, fig, path)
