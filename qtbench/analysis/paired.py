"""Paired differences against the base model of the same seed, aggregated over seeds.

The protocol's unit of evidence (docs/architecture.md §2, docs/feasibility.md): split-to-split spread is ~10x the
differences between PL variants, so every comparison is paired by seed and reported with an interval.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np


def load_summaries(runs_dir: Path, task: str | None = None) -> list[dict]:
    """Every finished run's summary.json under ``runs_dir`` (optionally one task)."""
    root = Path(runs_dir)
    pattern = f"{task}/*/*/summary.json" if task else "*/*/*/summary.json"
    return [json.loads(p.read_text()) for p in sorted(root.glob(pattern))]


@dataclass
class Interval:
    """Mean of per-seed values with a 95 % t interval and a 95 % bootstrap interval."""

    n: int
    mean: float
    std: float
    t_low: float
    t_high: float
    boot_low: float
    boot_high: float
    values: list[float]


def interval(values: Iterable[float], n_boot: int = 10000, seed: int = 0) -> Interval:
    """95 % intervals of the mean of ``values`` (t distribution; percentile bootstrap)."""
    from scipy import stats

    x = np.asarray(list(values), dtype=float)
    n = len(x)
    if n == 0:
        nan = float("nan")
        return Interval(0, nan, nan, nan, nan, nan, nan, [])
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else float("nan")
    half = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)) if n > 1 else float("nan")
    rng = np.random.default_rng(seed)
    boots = x[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return Interval(n, mean, std, mean - half, mean + half, float(lo), float(hi), x.tolist())


def paired_deltas(summaries: list[dict], metric: str = "target_psnr", model: str = "student") -> dict[str, dict[int, float]]:
    """``{method: {seed: model/metric - base/metric}}`` (each run carries its own seed's base)."""
    out: dict[str, dict[int, float]] = {}
    for s in summaries:
        m = s["metrics"]
        out.setdefault(method_label(s), {})[int(s["seed"])] = m[f"{model}/{metric}"] - m[f"base/{metric}"]
    return out


def method_label(summary: dict) -> str:
    """The run's method, marked when its reward read hidden clean targets (never shown as the method's result)."""
    if not summary.get("oracle_reward"):
        return summary["method"]
    a = summary.get("agreement") or {}
    return f"{summary['method']} [ORACLE reward alpha={a.get('alpha', 0):g} sigma={a.get('sigma', 0):g}]"


def difference(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    """Per-seed ``a - b`` over the seeds both have (e.g. mt - srconly)."""
    return {k: a[k] - b[k] for k in sorted(set(a) & set(b))}
