"""A :class:`~qtbench.report.layout.Table` as Markdown (GitHub tables; ``<u>`` for second best)."""

from __future__ import annotations

from qtbench.report import fmt
from qtbench.report.layout import Block, Table

_MARK = {"best": ("**", "**"), "second": ("<u>", "</u>")}


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|")


def _cell(block: Block, pos: tuple[int, int], vs: bool = False) -> str:
    agg = (block.vs if vs else block.cells).get(pos)
    if agg is None:
        return ""
    m = block.metrics[pos]
    signed = True if vs else None
    main = fmt.main_text(agg, m, signed)
    if not vs and main not in (fmt.MISSING, fmt.NOT_MEASURED) and pos in block.marks:
        left, right = _MARK[block.marks[pos]]
        main = f"{left}{main}{right}"
    return " ".join(t for t in (main, fmt.ci_text(agg, m, signed), fmt.count_note(agg)) if t)


def _ref(block: Block, ri: int, ci: int) -> str:
    if (ri, ci) not in block.refs:
        return ""
    m, ref, agg = block.metrics[(ri, ci)], block.refs[(ri, ci)], block.cells[(ri, ci)]
    diff = fmt.num(agg.mean - ref, m.digits, True) if not agg.missing else fmt.MISSING
    return f"{fmt.num(ref, m.digits, m.signed)} (Δ {diff})"


def _grid(block: Block, corner: str, vs: bool = False) -> list[str]:
    ref_cols = sorted({ci for (_, ci) in block.refs})
    head, align = [corner], ["---"]
    for ci, col in enumerate(block.columns):
        head.append(col.label)
        align.append("---:")
        if ci in ref_cols and not vs:
            head.append(f"{col.label} ref.")
            align.append("---:")
    lines = ["| " + " | ".join(map(_esc, head)) + " |", "|" + "|".join(align) + "|"]
    for ri, row in enumerate(block.rows):
        if vs and not any((ri, ci) in block.vs for ci in range(len(block.columns))):
            continue
        label = f"*{row.label}*" if row.control else row.label
        out = [label]
        for ci in range(len(block.columns)):
            out.append(_cell(block, (ri, ci), vs))
            if ci in ref_cols and not vs:
                out.append(_ref(block, ri, ci))
        lines.append("| " + " | ".join(map(_esc, out)) + " |")
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
    lines += [line + "\n" for line in fmt.legend(table)]
    return "\n".join(lines).rstrip("\n") + "\n"
