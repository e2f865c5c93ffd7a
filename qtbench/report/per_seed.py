"""The seed-by-seed view of one metric under a Markdown table (``table.per_seed`` in the sweep file).

With three to five seeds a mean ± std hides what a reader most wants to check: whether one seed carries the
row. This lists the metric's value for every seed of every row (``—`` where that seed has no finished run),
with the same decimals and signs as the table. The CSV has the same numbers at full precision (``per_seed``).
"""

from __future__ import annotations

from qtbench.report import fmt
from qtbench.report.layout import Block, Table

CROSS = "†"  # a paired difference whose two runs ran on different CPU models
UNKNOWN = "?"  # a paired difference one of whose runs does not record its CPU model


def _positions(block: Block, key: str) -> list[tuple[int, int]]:
    """The block's cells that show ``key``, row by row."""
    return sorted(pos for pos, m in block.metrics.items() if m.key == key)


def _grid(table: Table, block: Block, positions: list[tuple[int, int]], vs: bool, corner: str) -> list[str]:
    m = block.metrics[positions[0]]
    aggs = block.vs if vs else block.cells
    positions = [p for p in positions if p in aggs]
    if not positions:
        return []
    # a row shows the metric in several columns when the columns are an axis (task, a grid value)
    many = len({ci for _, ci in positions}) > 1
    title = f"Per seed: {m.label}" + (f", paired difference against {table.baseline}" if vs else "") \
        + (f" ({block.title})" if block.title else "")
    lines = [f"{title}:", "", "| " + " | ".join([corner.replace("|", "\\|"), *(f"s{s}" for s in table.seeds)]) + " |",
             "|" + "|".join(["---"] + ["---:"] * len(table.seeds)) + "|"]
    for ri, ci in positions:
        row = block.rows[ri]
        label = f"{row.label} / {block.columns[ci].label}" if many else row.label
        label = f"*{label}*" if row.control else label
        agg = aggs[(ri, ci)]
        values = agg.per_seed
        signed = True if vs else m.signed
        out = [fmt.num(values[s], m.digits, signed) + _machine_mark(agg, s) if s in values else fmt.MISSING
               for s in table.seeds]
        lines.append("| " + " | ".join([label.replace("|", "\\|"), *out]) + " |")
    if any(aggs[pos].cross_machine for pos in positions):
        lines += ["", f"{CROSS}: the two runs of this pair ran on different CPU models (their `cpu` tags); training "
                  "results move with the CPU model, so the difference carries that spread too."]
    if any(aggs[pos].machine_unknown for pos in positions):
        lines += ["", f"{UNKNOWN}: one run of this pair predates the `cpu` tag, so whether the pair ran on one CPU "
                  "model is not recorded."]
    return lines + [""]


def _machine_mark(agg, seed: int) -> str:
    """The seed's mark in a paired row: † across CPU models, ? where one run does not record its CPU, else none."""
    return CROSS if seed in agg.cross_machine else UNKNOWN if seed in agg.machine_unknown else ""


def render_md(table: Table, corner: str = "Row") -> list[str]:
    """Markdown lines of the per-seed view: the metric, then its paired difference against the table's
    baseline where it has one. Empty when the table asks for none or no block shows the metric."""
    key = table.per_seed
    if not key:
        return []
    lines: list[str] = []
    for block in table.blocks:
        positions = _positions(block, key)
        if positions:
            lines += _grid(table, block, positions, False, corner) + _grid(table, block, positions, True, corner)
    return lines
