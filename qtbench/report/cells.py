"""What each cell of a table block shows, decided once for every text format (Markdown, LaTeX).

The renderers only dress the parts (bold/underline, math mode, escaping); which rows and columns appear,
which text a value, a mark, an interval, a count note or a reference gets, is assembled here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from qtbench.report import fmt
from qtbench.report.layout import Block, Entry


@dataclass(frozen=True)
class CellText:
    """The parts of one value cell.

    Attributes:
        main: ``mean ± std``, :data:`fmt.MISSING` or :data:`fmt.NOT_MEASURED`.
        mark: ``"best"``/``"second"`` or None (never on differences or on cells without a value).
        ci: ``[low, high]`` or "".
        note: ``(found/expected; ...)`` or "".
    """

    main: str
    mark: str | None
    ci: str
    note: str


@dataclass(frozen=True)
class RefText:
    """A reference value and the measured mean's difference to it (None when the cell has no run)."""

    ref: str
    diff: str | None


def cell(block: Block, pos: tuple[int, int], vs: bool = False, pm: str = " ± ") -> CellText | None:
    """The parts of the value (``vs``: paired difference) at ``pos``, or None for an empty cell."""
    agg = (block.vs if vs else block.cells).get(pos)
    if agg is None:
        return None
    m = block.metrics[pos]
    signed = True if vs else None
    main = fmt.main_text(agg, m, signed, pm=pm)
    mark = None if vs or main in (fmt.MISSING, fmt.NOT_MEASURED) else block.marks.get(pos)
    return CellText(main, mark, fmt.ci_text(agg, m, signed), fmt.count_note(agg))


def reference(block: Block, pos: tuple[int, int]) -> RefText | None:
    """The reference value at ``pos`` (``table.reference`` in the sweep file), or None."""
    if pos not in block.refs:
        return None
    m, ref, agg = block.metrics[pos], block.refs[pos], block.cells[pos]
    diff = None if agg.missing else fmt.num(agg.mean - ref, m.digits, True)
    return RefText(fmt.num(ref, m.digits, m.signed), diff)


def grid(block: Block, vs: bool, show_cell: Callable[[CellText | None], str], show_ref: Callable[[RefText | None], str],
         pm: str = " ± ") -> tuple[list[str], list[tuple[Entry, list[str]]]]:
    """Column headings (after the corner) and the shown rows with their cells' texts (``pm``: the ± text).

    Reference columns follow their metric's column in the value grid (not in the difference grid); the
    difference grid (``vs``) leaves out rows without any difference (the baseline, controls).
    """
    ref_cols = set() if vs else {ci for (_, ci) in block.refs}
    head = []
    for ci, col in enumerate(block.columns):
        head.append(col.label)
        if ci in ref_cols:
            head.append(f"{col.label} ref.")
    rows = []
    for ri, row in enumerate(block.rows):
        if vs and not any((ri, ci) in block.vs for ci in range(len(block.columns))):
            continue
        out = []
        for ci in range(len(block.columns)):
            out.append(show_cell(cell(block, (ri, ci), vs, pm)))
            if ci in ref_cols:
                out.append(show_ref(reference(block, (ri, ci))))
        rows.append((row, out))
    return head, rows
