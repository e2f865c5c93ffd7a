"""A :class:`~qtbench.report.layout.Table` as Markdown (GitHub tables; ``<u>`` for second best)."""

from __future__ import annotations

from qtbench.report import cells, fmt, per_seed
from qtbench.report.cells import CellText, RefText
from qtbench.report.layout import Block, Table

_MARK = {"best": ("**", "**"), "second": ("<u>", "</u>")}


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|")


def _show(c: CellText | None) -> str:
    if c is None:
        return ""
    main = c.main
    if c.mark:
        left, right = _MARK[c.mark]
        main = f"{left}{main}{right}"
    return " ".join(t for t in (main, c.ci, c.note) if t)


def _show_ref(r: RefText | None) -> str:
    return "" if r is None else f"{r.ref} (Δ {fmt.MISSING if r.diff is None else r.diff})"


def _grid(block: Block, corner: str, vs: bool = False) -> list[str]:
    head, rows = cells.grid(block, vs, _show, _show_ref)
    lines = ["| " + " | ".join(map(_esc, [corner, *head])) + " |", "|" + "|".join(["---"] + ["---:"] * len(head)) + "|"]
    for row, out in rows:
        label = f"*{row.label}*" if row.control else row.label
        lines.append("| " + " | ".join(map(_esc, [label, *out])) + " |")
    return lines


def render(table: Table, corner: str) -> str:
    """The whole table file: title, one grid per block, baseline differences, legend."""
    lines = [f"### {table.title}", ""]
    for block in table.blocks:
        if block.title:
            lines += [f"**{block.title}**", ""]
        lines += _grid(block, corner) + [""]
        if block.vs:
            lines += [f"Paired difference against {table.baseline} (same seed; mean ± std [95 % bootstrap]):", ""]
            lines += _grid(block, corner, vs=True) + [""]
    lines += per_seed.render_md(table, corner)
    lines += [line + "\n" for line in fmt.legend(table)]
    return "\n".join(lines).rstrip("\n") + "\n"
