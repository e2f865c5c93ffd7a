"""Seeds -> one table cell: mean ± std, 95 % bootstrap interval, paired differences (docs/architecture.md §2).

Bootstrap draws use a fixed seed (:data:`BOOT_SEED`) and values sorted by seed, so a table rebuilt from the
same store is byte-for-byte the same. The interval code is :func:`qtbench.analysis.paired.interval`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from qtbench.analysis.paired import difference, interval
from qtbench.report.collect import Cell

BOOT_SEED = 0
N_BOOT = 10000
PAIRED_MODELS = ("student", "teacher")


@dataclass
class Agg:
    """One table cell: the aggregate of a metric over the seeds of a group of sweep cells.

    Attributes:
        expected: sweep cells in the group (one per seed); found: those with a finished run and the metric.
        unmeasured: finished runs without the metric (e.g. real-set scores of a task that has no real set).
        failed / running: cells whose run failed (or was killed) / is still running.
        per_seed: ``{seed: value}`` of the finished runs.
        cross_machine: (paired differences) seeds whose two runs ran on different CPU models.
        machine_unknown: (paired differences) seeds where only one of the two runs records its CPU model.
    """

    expected: int
    found: int = 0
    unmeasured: int = 0
    failed: int = 0
    running: int = 0
    mean: float = math.nan
    std: float = math.nan
    low: float = math.nan
    high: float = math.nan
    per_seed: dict[int, float] = field(default_factory=dict)
    # paired differences only: seeds whose two runs ran on different CPU models (their ``cpu`` tags differ);
    # training results move with the CPU model, so such a pair mixes that spread into the difference
    cross_machine: frozenset[int] = frozenset()
    # paired differences only: seeds where one run names its CPU model and the other does not (it predates the
    # ``cpu`` tag), so whether the pair crosses machines is not known
    machine_unknown: frozenset[int] = frozenset()

    @property
    def missing(self) -> bool:
        return self.found == 0

    @property
    def not_measured(self) -> bool:
        """Every run finished and none reports the metric: "not applicable", not "missing"."""
        return self.found == 0 and self.unmeasured == self.expected > 0

    @property
    def complete(self) -> bool:
        return self.found == self.expected


def metric_value(metrics: dict[str, float], key: str, paired: bool) -> Optional[float]:
    """``key`` from a run's metrics; with ``paired``, ``MODEL/X - base/X`` of the same run (= same seed).

    MLflow holds only finite values (the runner drops NaN), so a missing key means "not measured".
    """
    if paired:
        model, _, rest = key.partition("/")
        if model in PAIRED_MODELS and key in metrics and f"base/{rest}" in metrics:
            return metrics[key] - metrics[f"base/{rest}"]
        return None
    v = metrics.get(key)
    return None if v is None or not math.isfinite(v) else float(v)


def per_seed(cells: list[Cell], key: str, paired: bool = False) -> dict[int, float]:
    """``{seed: value}`` over the finished runs of ``cells``."""
    out = {}
    for c in cells:
        if c.status == "done":
            v = metric_value(c.run.metrics, key, paired)
            if v is not None:
                out[c.seed] = v
    return dict(sorted(out.items()))


def summarise(values: dict[int, float], cells: list[Cell], unmeasured: Optional[int] = None) -> Agg:
    """Aggregate ``values`` (by seed); counts of expected / failed / running come from ``cells``.

    ``unmeasured`` defaults to the finished cells without a value.
    """
    if unmeasured is None:
        unmeasured = sum(c.status == "done" for c in cells) - len(values)
    agg = Agg(expected=len(cells), found=len(values), per_seed=values, unmeasured=unmeasured,
              failed=sum(c.status == "failed" for c in cells), running=sum(c.status == "running" for c in cells))
    if values:
        iv = interval([values[s] for s in sorted(values)], n_boot=N_BOOT, seed=BOOT_SEED)
        agg.mean, agg.std = iv.mean, iv.std
        # one seed has no spread: its interval is the point itself, not an interval
        agg.low, agg.high = (iv.boot_low, iv.boot_high) if iv.n > 1 else (math.nan, math.nan)
    return agg


def aggregate(cells: list[Cell], key: str, paired: bool = False) -> Agg:
    """The :class:`Agg` of metric ``key`` over ``cells`` (one cell per seed)."""
    return summarise(per_seed(cells, key, paired), cells)


def versus(cells: list[Cell], baseline: list[Cell], key: str, paired: bool = False) -> Agg:
    """Paired difference ``cells - baseline`` seed by seed (only seeds both have), aggregated."""
    diff = difference(per_seed(cells, key, paired), per_seed(baseline, key, paired))
    # a seed is unmeasured when both runs finished and still give no pair; a failed baseline run is not that
    done = {c.seed for c in cells if c.status == "done"} & {c.seed for c in baseline if c.status == "done"}
    agg = summarise(dict(sorted(diff.items())), cells, unmeasured=len(done) - len(diff))
    cpus = {s: (_cpu(cells, s), _cpu(baseline, s)) for s in diff}  # each seed's pair of CPU models, looked up once
    agg.cross_machine = frozenset(s for s, (a, b) in cpus.items() if a and b and a != b)
    agg.machine_unknown = frozenset(s for s, (a, b) in cpus.items() if bool(a) != bool(b))
    return agg


def _cpu(cells: list[Cell], seed: int) -> str:
    """The CPU model of the finished run of ``seed`` ("" when unknown or not recorded)."""
    cpu = next((c.run.tags.get("cpu", "") for c in cells if c.seed == seed and c.status == "done"), "")
    return "" if cpu == "unknown" else cpu
