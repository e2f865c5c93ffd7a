"""A sweep's ``table:`` block + its runs -> blocks of aggregated cells, ready to render.

Rows and columns are axes of the sweep (``method``, ``task``, grid/zip keys) or ``metric``; axes that vary but
are neither (e.g. ``task`` in a multi-task sweep) split the table into one block per value. When neither rows
nor columns is ``metric``, each metric gets its own block. ``seed`` is always aggregated.

Best (bold) and second (underlined) are ranked over the non-control cells that have every seed, on the
displayed (rounded) mean, per column when columns are metrics, per row when rows are, else per block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from qtbench.errors import UserError
from qtbench.iqa.config import reads_hidden_targets
from qtbench.report.aggregate import Agg, aggregate, versus
from qtbench.report.collect import Cell, SweepRuns
from qtbench.report.pairing import same_setting_baseline

METRIC = "metric"
# direction of ad-hoc --metric keys not listed in the sweep's table (substring -> higher is better)
_LOWER = ("piqe", "niqe", "brisque", "loss", "timing", "lpips", "s_per_iter")


@dataclass(frozen=True)
class MetricSpec:
    """A metric of the table: MLflow key, display label, direction, paired vs base, decimals."""

    key: str
    label: str
    higher_better: bool = True
    paired: bool = False  # MODEL/X - base/X of the same run (metric item `paired: true`)
    digits: int = 3

    @property
    def signed(self) -> bool:
        """Differences print with an explicit sign."""
        return self.paired or self.key.startswith("delta/")


@dataclass(frozen=True)
class Entry:
    """A row or a column: axis values (``key``) or a metric."""

    key: tuple
    label: str
    metric: Optional[MetricSpec] = None
    control: bool = False
    oracle: bool = False  # a run of this row trained with an oracle reward (docs/agreement.md): never ranked


@dataclass
class Block:
    """One rendered table: rows x columns of :class:`Agg` plus marks, baseline differences, references."""

    title: str
    rows: list[Entry]
    columns: list[Entry]
    cells: dict[tuple[int, int], Agg] = field(default_factory=dict)
    metrics: dict[tuple[int, int], MetricSpec] = field(default_factory=dict)
    marks: dict[tuple[int, int], str] = field(default_factory=dict)  # "best" | "second"
    vs: dict[tuple[int, int], Agg] = field(default_factory=dict)
    refs: dict[tuple[int, int], float] = field(default_factory=dict)


@dataclass
class Table:
    """Everything the renderers need; no I/O."""

    name: str
    title: str
    caption: str
    notes: str
    blocks: list[Block]
    baseline: Optional[str]  # display label of the baseline row
    paired: Optional[str]
    failed: list[str]  # "method/task/s0 [...]" of failed or killed runs
    running: list[str]
    expected: int
    found: int
    per_seed: Optional[str] = None  # metric key listed seed by seed under the table (``table.per_seed``)
    seeds: list[int] = field(default_factory=list)  # the sweep's seeds, in order


def parse_metrics(table: dict, only: Optional[list[str]] = None) -> list[MetricSpec]:
    """The table's metrics (``--metric`` keys select among them, or add ad-hoc ones)."""
    specs = []
    for item in table.get("metrics") or []:
        if isinstance(item, str):
            item = {"key": item}
        if not isinstance(item, dict) or "key" not in item:
            raise UserError(f"table.metrics: each item needs 'key' (got {item!r})")
        specs.append(MetricSpec(str(item["key"]), str(item.get("label", item["key"])),
                                bool(item.get("higher_better", True)), bool(item.get("paired", False)),
                                int(item.get("digits", 3))))
    if only:
        known = {m.key: m for m in specs}
        specs = [known.get(k) or MetricSpec(k, k, not any(s in k for s in _LOWER)) for k in only]
    if not specs:
        raise UserError("the sweep's table lists no metrics; add table.metrics or pass --metric KEY")
    return specs


def _axes(value: Any, default: str) -> tuple[str, ...]:
    if value is None:
        return (default,)
    return tuple(value) if isinstance(value, list) else (str(value),)


def freeze(value: Any) -> Any:
    """A hashable axis value: lists and mappings as their override text (``[hflip,vflip]``), as labels key them."""
    from qtbench.config.override_text import override_value

    return override_value(value) if isinstance(value, (list, tuple, dict)) else value


def axis_value(c: Cell, axis: str, or_method: bool = False) -> Any:
    """``c``'s value on ``axis``; with ``or_method``, a cell without that axis (an ``include:`` control such as
    ``mt+qualiteacher-maug`` in a grid over maug's views) is named by its method instead."""
    if or_method and axis not in c.labels:
        return freeze(c.labels.get("method"))
    return freeze(c.labels.get(axis))


def show(value: Any, labels: dict) -> str:
    """Display text of an axis value (``labels`` mapping, keyed by the value's text)."""
    value = freeze(value)
    text = "default" if value is None else str(value)
    return str(labels.get(text, text))


def entry_text(c: Cell, axes: tuple[str, ...] | list[str], labels: dict) -> str:
    """Row/column text of ``c`` on ``axes``: the values joined by " / "; a cell with none of the axes (an
    ``include:`` control beside a grid) is named once by its method, not once per axis."""
    partial = any(a in c.labels for a in axes if a != "method")
    if len(axes) > 1 and not partial:
        return show(c.labels.get("method"), labels)
    # an include labelled on some axes (an override of that axis) shows "default" on the others
    return " / ".join(show(axis_value(c, a, not partial), labels) for a in axes)


def _entries(axes: tuple[str, ...], cells: list[Cell], labels: dict, controls: set[str],
             metrics: list[MetricSpec]) -> list[Entry]:
    if axes == (METRIC,):
        return [Entry((m.key,), f"{m.label} {'↑' if m.higher_better else '↓'}", m) for m in metrics]
    seen: dict[tuple, Entry] = {}
    for c in cells:  # sweep-file order
        key = tuple(axis_value(c, a, True) for a in axes)
        if key not in seen:
            is_control = "method" in axes and c.labels.get("method") in controls
            seen[key] = Entry(key, entry_text(c, axes, labels), None, is_control)
        if oracle_reward(c) and not seen[key].oracle:
            e = seen[key]
            seen[key] = Entry(e.key, f"{e.label} {ORACLE_MARK}", e.metric, e.control, True)
    entries = list(seen.values())
    return [e for e in entries if not e.control] + [e for e in entries if e.control]


ORACLE_MARK = "[ORACLE reward]"
ORACLE_NOTE = (f"{ORACLE_MARK}: trained with a reward that reads the hidden clean targets (fidelity member, "
               "iqa.agreement); a ceiling for calibration, not a method's result; never ranked.")


def oracle_reward(c: Cell) -> bool:
    """The cell's run trained with an oracle reward (MLflow tag ``qtbench.oracle_reward``); a cell with no run
    yet by its label: ``iqa.agreement.alpha > 0`` mixes in the oracle, so its row is marked before any seed lands."""
    if c.run is not None:
        return c.run.tags.get("qtbench.oracle_reward") == "true"
    try:  # a sweep's labels name its axes, never a member list: alpha is all a pending cell can tell
        return reads_hidden_targets(c.labels.get("iqa.agreement.alpha"), ())
    except (TypeError, ValueError):
        return False


def _match(c: Cell, axes: tuple[str, ...], entry: Entry) -> bool:
    return axes == (METRIC,) or tuple(axis_value(c, a, True) for a in axes) == entry.key


def _rank(block: Block, group_of) -> None:
    groups: dict[Any, list[tuple[tuple[int, int], float]]] = {}
    for (ri, ci), agg in block.cells.items():
        m = block.metrics[(ri, ci)]
        if block.rows[ri].control or block.columns[ci].control or block.rows[ri].oracle or block.columns[ci].oracle \
                or not agg.complete or agg.missing:
            continue
        rounded = round(agg.mean if m.higher_better else -agg.mean, m.digits)
        groups.setdefault(group_of(ri, ci), []).append(((ri, ci), rounded))
    for items in groups.values():
        order = sorted({v for _, v in items}, reverse=True)
        for pos, v in items:
            if v == order[0]:
                block.marks[pos] = "best"
            elif len(order) > 1 and v == order[1]:
                block.marks[pos] = "second"


def build(sweep: SweepRuns, table: dict, name: str, metrics: list[MetricSpec]) -> Table:
    """Lay out ``sweep``'s cells as ``table`` (the sweep file's ``table:`` block) says."""
    labels = {str(k): v for k, v in (table.get("labels") or {}).items()}
    controls = {str(c) for c in table.get("controls") or []}
    rows_ax, cols_ax = _axes(table.get("rows"), "method"), _axes(table.get("columns"), METRIC)
    cells = sweep.cells
    used = set(rows_ax) | set(cols_ax) | {"seed"}
    # an axis splits the table only if it varies among cells of the same row and column; zip partners of the
    # row/column axes (e.g. the thresholds that go with num_levels) do not
    spots: dict[tuple, list[Cell]] = {}
    for c in cells:
        spots.setdefault(tuple(axis_value(c, a, True) for a in (*rows_ax, *cols_ax) if a != METRIC), []).append(c)
    facet_axes = sorted({a for c in cells for a in c.labels if a not in used and any(
        len({repr(axis_value(x, a)) for x in group}) > 1 for group in spots.values())})
    facets: dict[tuple, list[Cell]] = {}
    for c in cells:
        facets.setdefault(tuple(axis_value(c, a) for a in facet_axes), []).append(c)
    metric_blocks = [None] if METRIC in rows_ax + cols_ax else metrics
    baseline = table.get("baseline")
    refs = table.get("reference") or {}
    blocks = []
    for fkey, fcells in facets.items():
        ftitle = ", ".join(f"{a}={show(v, labels)}" for a, v in zip(facet_axes, fkey))
        for bm in metric_blocks:
            rows = _entries(rows_ax, fcells, labels, controls, metrics)
            cols = _entries(cols_ax, fcells, labels, controls, metrics)
            title = "; ".join(t for t in (ftitle, f"{bm.label} {'↑' if bm.higher_better else '↓'}" if bm else "") if t)
            block = Block(title, rows, cols)
            for ri, r in enumerate(rows):
                base_row = _baseline_row(baseline, r, rows)
                for ci, col in enumerate(cols):
                    m = r.metric or col.metric or bm
                    group = [c for c in fcells if _match(c, rows_ax, r) and _match(c, cols_ax, col)]
                    if not group:
                        continue
                    block.cells[(ri, ci)] = aggregate(group, m.key, m.paired)
                    block.metrics[(ri, ci)] = m
                    if base_row is not None and r is not base_row and not r.control:
                        bgroup = [c for c in fcells if _match(c, rows_ax, base_row) and _match(c, cols_ax, col)]
                        block.vs[(ri, ci)] = versus(group, bgroup, m.key, m.paired)
                    ref = _reference(refs, r, m, labels)
                    if ref is not None and cols_ax == (METRIC,):
                        block.refs[(ri, ci)] = ref
            by = (lambda ri, ci: ci) if cols_ax == (METRIC,) else (lambda ri, ci: ri) if rows_ax == (METRIC,) \
                else (lambda ri, ci: 0)
            _rank(block, by)
            blocks.append(block)
    base_label = ("the same framework without the add-ons (F+... - F)" if str(baseline) == HOST
                  else show(baseline, labels)) if baseline is not None else None
    if base_label and str(baseline) != HOST and any(
            sum(str(baseline) in map(str, r.key) for r in b.rows) > 1 for b in blocks):
        base_label += " trained the same way (its row with the same settings, where the sweep has one)"
    notes = str(table.get("notes") or "")
    if any(oracle_reward(c) for c in cells):
        notes = f"{notes} {ORACLE_NOTE}".strip()
    return Table(name=name, title=str(table.get("title") or name), caption=str(table.get("caption") or ""),
                 notes=notes, blocks=blocks, baseline=base_label,
                 paired=table.get("paired"), failed=[describe(c) for c in cells if c.status == "failed"],
                 running=[describe(c) for c in cells if c.status == "running"], expected=len(cells),
                 found=sum(c.status == "done" for c in cells), per_seed=table.get("per_seed"),
                 seeds=sorted({c.seed for c in cells}))


HOST = "host"  # table.baseline value: each "F+add-ons" row is compared with its host framework's row "F"


def _baseline_row(baseline: Optional[str], row: Entry, rows: list[Entry]) -> Optional[Entry]:
    """The row ``row`` is compared with: the named ``baseline`` row, or with ``host`` the row of the method
    string's framework (``colabator+qualiteacher`` -> ``colabator``; the plug-and-play question)."""
    if baseline is None:
        return None
    if str(baseline) != HOST:
        named = [r for r in rows if str(baseline) in map(str, r.key)]
        if len(named) <= 1 or row in named:
            return named[0] if named else None
        # several baseline rows (Mean Teacher also under the official weighting): the one trained the same way,
        # i.e. whose other values, where it has them, are the row's; of those the most specific
        unset = lambda b: b is None or b == "default" or str(b) == str(baseline)  # noqa: E731
        fit = same_setting_baseline([str(v) for v in row.key],
                                    [(r, [None if unset(b) else str(b) for b in r.key]) for r in named])
        return fit if fit is not None else named[0]
    methods = [str(v) for v in row.key if isinstance(v, str) and "+" in v]
    if not methods:
        return None
    host = methods[0].split("+", 1)[0]
    return next((r for r in rows if host in map(str, r.key)), None)


def _reference(refs: dict, row: Entry, m: MetricSpec, labels: dict) -> Optional[float]:
    for key in (*row.key, row.label):
        entry = refs.get(key) if key in refs else refs.get(str(key))
        if isinstance(entry, dict):
            v = entry.get(m.key, entry.get(m.label))
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                return float(v)
    return None


def describe(c: Cell) -> str:
    """``method/task/s0 [k=v]`` of a cell (footnotes)."""
    lab = c.labels
    extra = [f"{k}={v}" for k, v in lab.items() if k not in ("method", "task", "seed")]
    return f"{lab.get('method')}/{lab.get('task')}/s{lab.get('seed')}" + (f" [{', '.join(extra)}]" if extra else "")
