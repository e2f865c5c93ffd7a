"""Number and cell text shared by the renderers: fixed decimals, explicit signs on differences, no ``-0.000``."""

from __future__ import annotations

import math

from qtbench.report.aggregate import Agg
from qtbench.report.layout import MetricSpec

MISSING = "—"
NOT_MEASURED = "n/a"  # every run finished, none reports the metric (no real set, no quality levels...)


def num(x: float, digits: int, signed: bool = False) -> str:
    """``x`` with ``digits`` decimals (``+`` on differences); NaN -> ``—``."""
    if x is None or not math.isfinite(x):
        return MISSING
    x = round(x, digits) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def main_text(agg: Agg, m: MetricSpec, signed: bool | None = None, pm: str = " ± ") -> str:
    """``mean ± std`` (std left out with one seed); ``n/a`` when the finished runs do not report the metric,
    ``—`` when there is no finished run."""
    if agg.not_measured:
        return NOT_MEASURED
    if agg.missing:
        return MISSING
    sign = m.signed if signed is None else signed
    text = num(agg.mean, m.digits, sign)
    if math.isfinite(agg.std):
        text += pm + num(agg.std, m.digits)
    return text


def ci_text(agg: Agg, m: MetricSpec, signed: bool | None = None) -> str:
    """``[low, high]`` (95 % bootstrap interval of the mean), or "" without one."""
    if agg.missing or not math.isfinite(agg.low):
        return ""
    sign = m.signed if signed is None else signed
    return f"[{num(agg.low, m.digits, sign)}, {num(agg.high, m.digits, sign)}]"


def count_note(agg: Agg) -> str:
    """``(found/expected; U without it; F failed; R running)`` when the cell is incomplete, else ""."""
    if (agg.complete and not agg.failed and not agg.running) or agg.not_measured:
        return ""
    parts = [f"{agg.found}/{agg.expected}"]
    if agg.unmeasured:
        parts.append(f"{agg.unmeasured} without it")
    if agg.failed:
        parts.append(f"{agg.failed} failed")
    if agg.running:
        parts.append(f"{agg.running} running")
    return "(" + "; ".join(parts) + ")"


def legend(table) -> list[str]:
    """Lines explaining the notation, then failed/running cells and the sweep's notes."""
    lines = [f"Mean ± std over seeds, [95 % bootstrap interval of the mean]; best in bold, second underlined "
             f"(non-control cells with every seed); {MISSING}: no finished run; (found/expected) seeds where "
             f"incomplete. {table.found} of {table.expected} cells finished."]
    if any(agg.not_measured for block in table.blocks for agg in (*block.cells.values(), *block.vs.values())):
        lines.append(f"{NOT_MEASURED}: the finished runs do not report this metric (a task without a real set, "
                     f"a method without quality levels).")
    if table.paired == "base":
        lines.append("Δ: paired by seed against the base model of the same seed (the protocol, docs/architecture.md §2).")
    if table.failed:
        lines.append("Failed runs: " + ", ".join(table.failed) + ".")
    if table.running:
        lines.append("Still running: " + ", ".join(table.running) + ".")
    if table.caption:
        lines.append(table.caption)
    if table.notes:
        lines.append(table.notes)
    return lines
