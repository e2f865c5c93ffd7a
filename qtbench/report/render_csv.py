"""A :class:`~qtbench.report.layout.Table` as a tidy CSV: one line per cell, every number at full precision."""

from __future__ import annotations

import csv
import io
import math

from qtbench.report.layout import Table

FIELDS = ("block", "row", "column", "metric", "label", "higher_better", "expected", "found", "unmeasured", "failed",
          "running", "mean", "std", "ci95_low", "ci95_high", "mark", "baseline", "vs_mean", "vs_std", "vs_ci95_low",
          "vs_ci95_high", "vs_found", "reference", "minus_reference", "per_seed", "vs_per_seed",
          "vs_cross_machine_seeds", "vs_machine_unknown_seeds")


def _f(x) -> str:
    return "" if x is None or not math.isfinite(x) else repr(float(x))  # shortest round-trip text


def render(table: Table, corner: str) -> str:  # noqa: ARG001 - same signature as the other renderers
    """CSV text (``\\n`` line ends) of every cell of every block."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIELDS)
    for block in table.blocks:
        for (ri, ci), agg in sorted(block.cells.items()):
            m = block.metrics[(ri, ci)]
            vs = block.vs.get((ri, ci))
            ref = block.refs.get((ri, ci))
            w.writerow([block.title, block.rows[ri].label, block.columns[ci].label, m.key, m.label,
                        str(m.higher_better).lower(), agg.expected, agg.found, agg.unmeasured, agg.failed, agg.running,
                        _f(agg.mean), _f(agg.std), _f(agg.low), _f(agg.high), block.marks.get((ri, ci), ""),
                        table.baseline if vs is not None else "", _f(vs.mean if vs else None),
                        _f(vs.std if vs else None), _f(vs.low if vs else None), _f(vs.high if vs else None),
                        vs.found if vs else "", _f(ref), _f(agg.mean - ref if ref is not None else None),
                        ";".join(f"{s}:{_f(v)}" for s, v in agg.per_seed.items()),
                        ";".join(f"{s}:{_f(v)}" for s, v in vs.per_seed.items()) if vs else "",
                        ";".join(map(str, sorted(vs.cross_machine))) if vs else "",
                        ";".join(map(str, sorted(vs.machine_unknown))) if vs else ""])
    return buf.getvalue()
