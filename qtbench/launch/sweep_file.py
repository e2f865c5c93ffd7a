"""Reading and checking a sweep file (``sweeps/NAME.yaml``); every error names the offending line.

Format (all keys but ``axes`` optional)::

    name: ablation_components          # default: the file's stem
    description: one line
    scale: cpu                         # smoke | cpu | paper
    base: [task.data.pool=debian]      # overrides of every cell (a list, or a mapping key: value)
    axes:
      methods: [mt, mt+qualiteacher]   # FRAMEWORK[+ADDON...][-ADDON...]
      tasks: [dehaze]
      seeds: [0, 1, 2, 3, 4]
      grid: {addons.pref.lam: [0.5, 1.0]}              # cartesian product of each key's values
      zip: [{eval.level: [1, 3], addons.qcond.num_levels: [2, 4]}]  # lists of one group advance together
    include:                           # extra cells (controls), crossed with tasks and seeds only
      - {method: srconly}
    launcher: {timeout_min: 120}       # launcher defaults for this sweep (command line wins)
    table: {...}                       # the table this sweep feeds (`qtbench table`); checked lightly here

Cells = methods x tasks x seeds x grid x zip, plus include x tasks x seeds.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from qtbench.config.override_text import override_value
from qtbench.errors import UserError
from qtbench.names import is_plain

TOP_KEYS = ("name", "description", "scale", "base", "axes", "include", "launcher", "table")
AXIS_KEYS = ("methods", "tasks", "seeds", "grid", "zip")
INCLUDE_KEYS = ("method", "overrides")
# the table block: what `qtbench table` reads (documented in sweeps/README.md)
TABLE_KEYS = ("title", "caption", "rows", "columns", "metrics", "paired", "baseline", "controls", "labels",
              "reference", "formats", "aggregate", "notes", "per_seed")


@dataclass(frozen=True)
class CellSpec:
    """One cell before composition: what ``qtbench run`` would be given, and where it came from."""

    method: str
    task: str
    seed: int
    overrides: tuple[str, ...]
    labels: tuple[tuple[str, Any], ...]  # axis values naming the cell in tables and status
    line: int  # line of the method (or include item) that produced it


@dataclass
class SweepSpec:
    """A parsed, shape-checked sweep file."""

    path: Path
    name: str
    scale: str
    cells: list[CellSpec]
    raw: dict[str, Any]
    lines: dict[tuple, int] = field(repr=False, default_factory=dict)
    description: str = ""
    table: dict[str, Any] = field(default_factory=dict)
    launcher: dict[str, Any] = field(default_factory=dict)
    # (task, seed) pairs this invocation may launch (``--tasks``/``--seeds`` naming a subset of the file's);
    # None: all. The cells stay the file's, so the parent run and ``qtbench table`` keep the whole sweep.
    launch_only: Optional[frozenset[tuple[str, int]]] = None
    launch_cells: Optional[frozenset[int]] = None  # --cells: indices this invocation may launch
    launch_order: str = "seeds"  # --order: "seeds" (lowest seed of every row first) or "file" (the file's order)

    def launches(self, task: str, seed: int, index: Optional[int] = None) -> bool:
        """Whether this invocation may launch the cell of ``task`` and ``seed`` (and index ``index``)."""
        return (self.launch_only is None or (task, seed) in self.launch_only) and \
            (self.launch_cells is None or index is None or index in self.launch_cells)

    def where(self, *path: Any) -> str:
        """``file:line`` of the node at ``path`` (or of its nearest ancestor)."""
        key = tuple(path)
        while key and key not in self.lines:
            key = key[:-1]
        return f"{self.path}:{self.lines.get(key, 1)}"


def _plain(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    """YAML node -> Python value, recording the line (1-based) of every node under its key path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for k, v in node.value:
            key = yaml.safe_load(yaml.serialize(k)) if not isinstance(k, yaml.ScalarNode) else k.value
            if key in out:
                raise UserError(f"{{file}}:{k.start_mark.line + 1}: duplicate key {key!r}")
            lines[path + (key,)] = k.start_mark.line + 1
            out[key] = _plain(v, path + (key,), lines)
            lines[path + (key,)] = k.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v, path + (i,), lines) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and check ``path``; expand its axes into :class:`CellSpec` objects (not yet composed).

    Raises:
        UserError: unreadable file, unknown key, empty axis, wrong types; ``FILE:LINE: what`` on one line.
    """
    p = Path(path)
    if not p.is_file():
        hint = " (sweep files live in sweeps/, e.g. sweeps/plug_and_play.yaml)" if not p.suffix else ""
        raise UserError(f"sweep file {p} not found{hint}")
    lines: dict[tuple, int] = {}
    try:
        node = yaml.compose(p.read_text())
        raw = _plain(node, (), lines) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(f"{p}:{mark.line + 1 if mark else 1}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except UserError as exc:
        raise UserError(str(exc).replace("{file}", str(p))) from None
    spec = SweepSpec(path=p, name=p.stem, scale="cpu", cells=[], raw=raw or {}, lines=lines)
    _check(spec)
    return spec


def _fail(spec: SweepSpec, path: tuple, msg: str) -> None:
    raise UserError(f"{spec.where(*path)}: {msg}")


def _list(spec: SweepSpec, path: tuple, value: Any, kind: type | tuple) -> list:
    if not isinstance(value, list):
        _fail(spec, path, f"{'.'.join(map(str, path))} must be a list")
    if not value:
        _fail(spec, path, f"axis {'.'.join(map(str, path))} is empty: give at least one value or remove it")
    for i, v in enumerate(value):
        if not isinstance(v, kind) or isinstance(v, bool) and kind is int:
            _fail(spec, path + (i,), f"{'.'.join(map(str, path))}[{i}]={v!r} has the wrong type")
    return value


def _overrides(spec: SweepSpec, path: tuple, value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{k}={override_value(v)}" for k, v in value.items()]
    items = _list(spec, path, value, str)
    for i, ov in enumerate(items):
        if "=" not in ov:
            _fail(spec, path + (i,), f"override {ov!r} must look like key=value")
    return list(items)


def _check(spec: SweepSpec) -> None:
    raw = spec.raw
    if not isinstance(raw, dict):
        _fail(spec, (), "a sweep file is a mapping with at least an 'axes' block")
    for key in raw:
        if key not in TOP_KEYS:
            _fail(spec, (key,), f"unknown key {key!r}; known: {', '.join(TOP_KEYS)}")
    spec.name = str(raw.get("name") or spec.path.stem)
    if not is_plain(spec.name):  # it names folders and files under runs/ and results/
        _fail(spec, ("name",) if raw.get("name") else (), f"sweep name {spec.name!r} is not a plain name: use "
              "letters, digits and . _ + - (starting with a letter or digit, no '..'); it becomes a folder name")
    spec.description = str(raw.get("description") or "")
    spec.scale = str(raw.get("scale") or "cpu")
    base = _overrides(spec, ("base",), raw.get("base"))
    axes = raw.get("axes")
    if not isinstance(axes, dict) or not axes:
        _fail(spec, ("axes",), "'axes' must be a mapping with at least 'methods'")
    for key in axes:
        if key not in AXIS_KEYS:
            _fail(spec, ("axes", key), f"unknown axis key {key!r}; known: {', '.join(AXIS_KEYS)}")
    methods = _list(spec, ("axes", "methods"), axes.get("methods"), str)
    tasks = _list(spec, ("axes", "tasks"), axes.get("tasks", ["dehaze"]), str)
    seeds = _list(spec, ("axes", "seeds"), axes.get("seeds", [0]), int)
    grid = axes.get("grid") or {}
    if "grid" in axes and (not isinstance(grid, dict) or not grid):
        _fail(spec, ("axes", "grid"), "axes.grid must be a non-empty mapping key: [values]")
    grid_axes = [[(k, v) for v in _list(spec, ("axes", "grid", k), vals, (int, float, str, bool, list, dict, type(None)))]
                 for k, vals in grid.items()]
    zips = axes.get("zip") or []
    if "zip" in axes and (not isinstance(zips, list) or not zips):
        _fail(spec, ("axes", "zip"), "axes.zip must be a non-empty list of groups {key: [values], ...}")
    zip_axes = []
    for g, group in enumerate(zips):
        if not isinstance(group, dict) or not group:
            _fail(spec, ("axes", "zip", g), "a zip group is a mapping key: [values] with lists of equal length")
        cols = {k: _list(spec, ("axes", "zip", g, k), v, (int, float, str, bool, list, dict, type(None))) for k, v in group.items()}
        n = {len(v) for v in cols.values()}
        if len(n) != 1:
            _fail(spec, ("axes", "zip", g), f"zip group lists differ in length ({sorted(n)}): they advance together")
        zip_axes.append([tuple((k, cols[k][i]) for k in cols) for i in range(n.pop())])
    cells: list[CellSpec] = []
    for m_i, method in enumerate(methods):
        for task, seed in itertools.product(tasks, seeds):
            for combo in itertools.product(*grid_axes, *zip_axes):
                pairs: list[tuple[str, Any]] = []
                for part in combo:
                    pairs.extend(part if isinstance(part[0], tuple) else [part])
                ovs = tuple(base + [f"{k}={override_value(v)}" for k, v in pairs])
                labels = (("method", method), ("task", task), ("seed", seed), *pairs)
                cells.append(CellSpec(method, task, int(seed), ovs, labels, spec.lines[("axes", "methods", m_i)]))
    include = raw.get("include") or []
    if "include" in raw and not isinstance(include, list):
        _fail(spec, ("include",), "include must be a list of {method: ..., overrides: [...]}")
    for i, item in enumerate(include):
        if not isinstance(item, dict) or not isinstance(item.get("method"), str):
            _fail(spec, ("include", i), "an include item needs 'method: NAME' (and optionally 'overrides')")
        for key in item:
            if key not in INCLUDE_KEYS:
                _fail(spec, ("include", i, key), f"unknown include key {key!r}; known: {', '.join(INCLUDE_KEYS)}")
        extra = _overrides(spec, ("include", i, "overrides"), item.get("overrides"))
        # an override of a grid/zip axis labels the cell on that axis, so a table keeps two includes of one
        # method apart (e.g. the default setting under the offline and the oracle reward)
        on_axes = tuple((k, yaml.safe_load(v)) for k, v in (o.split("=", 1) for o in extra)
                        if k in grid or any(k in g for g in zips))
        for task, seed in itertools.product(tasks, seeds):
            labels = (("method", item["method"]), ("task", task), ("seed", seed), *on_axes)
            cells.append(CellSpec(item["method"], task, int(seed), tuple(base + extra), labels,
                                  spec.lines[("include", i)]))
    spec.cells = cells
    spec.launcher = raw.get("launcher") or {}
    if not isinstance(spec.launcher, dict):
        _fail(spec, ("launcher",), "launcher must be a mapping of launcher settings, e.g. {timeout_min: 120}")
    spec.table = raw.get("table") or {}
    if not isinstance(spec.table, dict):
        _fail(spec, ("table",), "table must be a mapping (rows, columns, metrics...)")
    for key in spec.table:
        if key not in TABLE_KEYS:
            _fail(spec, ("table", key), f"unknown table key {key!r}; known: {', '.join(TABLE_KEYS)}")
    per_seed = spec.table.get("per_seed")
    metric_keys = [m if isinstance(m, str) else m.get("key") if isinstance(m, dict) else None
                   for m in spec.table.get("metrics") or []]
    if per_seed is not None and per_seed not in metric_keys:
        _fail(spec, ("table", "per_seed"), f"table.per_seed: {per_seed!r} is not one of the table's metrics "
              f"(choose from {', '.join(map(str, metric_keys)) or 'none: add table.metrics first'})")
    axis_names = {"method", "task", "seed", *grid, *(k for g in zips for k in g), "metric"}
    for key in ("rows", "columns"):
        val = spec.table.get(key)
        for v in ([val] if isinstance(val, str) else val or []):
            if v not in axis_names:
                _fail(spec, ("table", key), f"table.{key}: {v!r} is not an axis of this sweep "
                      f"(choose from {', '.join(sorted(map(str, axis_names)))})")


def with_overrides(spec: SweepSpec, scale: Optional[str] = None, tasks: Optional[list[str]] = None,
                   seeds: Optional[list[int]] = None, extra: Optional[list[str]] = None) -> SweepSpec:
    """The same sweep narrowed/adjusted from the command line (``--scale``, ``--tasks``, ``--seeds``, KEY=VALUE).

    ``--tasks`` and ``--seeds`` naming a subset of the file's only choose what this invocation launches: the
    cells stay the file's, so running a sweep task by task still builds one table. Seeds outside the file's
    replace its seeds (another sweep, with its own parent run).
    """
    cells = list(spec.cells)
    file_tasks, file_seeds = {c.task for c in cells}, {c.seed for c in cells}
    if tasks is not None:
        unknown = sorted(set(tasks) - file_tasks)
        if unknown:
            raise UserError(f"--tasks {','.join(unknown)}: not in {spec.path} (its tasks: "
                            f"{', '.join(sorted(file_tasks))})")
    launch_only = None
    if seeds is not None and not set(seeds) <= file_seeds:
        firsts = {}
        for c in cells:  # one template per cell-without-seed, then the requested seeds
            if tasks is None or c.task in tasks:
                firsts.setdefault((c.method, c.task, c.overrides, c.labels[3:], c.line), c)
        cells = [CellSpec(c.method, c.task, s, c.overrides, (c.labels[0], c.labels[1], ("seed", s), *c.labels[3:]),
                          c.line) for c in firsts.values() for s in seeds]
    elif tasks is not None or seeds is not None:
        launch_only = frozenset((c.task, c.seed) for c in cells
                                if (tasks is None or c.task in tasks) and (seeds is None or c.seed in seeds))
    if extra:
        cells = [CellSpec(c.method, c.task, c.seed, c.overrides + tuple(extra), c.labels, c.line) for c in cells]
    return SweepSpec(path=spec.path, name=spec.name, scale=scale or spec.scale, cells=cells, raw=spec.raw,
                     launch_only=launch_only,
                     lines=spec.lines, description=spec.description, table=spec.table, launcher=spec.launcher)
