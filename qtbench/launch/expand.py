"""Sweep -> cells: compose every cell's run config, hash it (cell identity), check for duplicates.

Composing one config with Hydra costs ~0.2 s, so (1) cells that differ only by seed share one
composition (the seed is a plain top-level value; a test checks the result equals a direct compose), and
(2) the expansion is cached in the sweep folder, keyed by the sweep's cells and a fingerprint of the code
that defines configs (qtbench and qtbench_methods sources, plugin distributions' versions). Re-invoking a sweep
of finished cells therefore never imports torch.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from qtbench import atomic
from qtbench.errors import UserError
from qtbench.launch.sweep_file import CellSpec, SweepSpec

_GROUPS = ("qtbench.tasks", "qtbench.backbones", "qtbench.frameworks", "qtbench.addons", "qtbench.iqa")


def fingerprint_roots() -> list[Path]:
    """Folders whose sources define configs: qtbench and its own plugins (``methods/``, imported as
    ``qtbench_methods``; the same distribution, so always there)."""
    import qtbench
    import qtbench_methods

    return [Path(qtbench.__file__).parent, Path(qtbench_methods.__file__).parent]


def code_fingerprint() -> str:
    """Changes whenever a config default could have changed: source files (size, mtime) and plugin versions."""
    h = hashlib.sha256()
    for root in fingerprint_roots():
        for f in sorted(root.rglob("*")):
            if f.suffix in (".py", ".yaml", ".json") and "__pycache__" not in f.parts:
                st = f.stat()
                h.update(f"{f}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    for group in _GROUPS:
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            h.update(f"{group}:{ep.name}:{ep.value}:{dist.version if dist else ''}\n".encode())
    return h.hexdigest()


def _key(spec: SweepSpec, runs_dir: Path) -> str:
    blob = json.dumps([spec.scale, str(runs_dir), [c.__dict__ for c in spec.cells]], sort_keys=True, default=str)
    return hashlib.sha256((blob + code_fingerprint()).encode()).hexdigest()


def _compose_all(spec: SweepSpec, runs_dir: Path) -> list[dict[str, Any]]:
    from omegaconf import OmegaConf

    from qtbench.config.compose import compose_run, config_hash, run_dir

    templates: dict[tuple, Any] = {}
    cells = []
    for i, c in enumerate(spec.cells):
        key = (c.method, c.task, c.overrides)
        try:
            if key not in templates:
                templates[key] = compose_run(c.method, c.task, c.seed, spec.scale, list(c.overrides),
                                             runs_dir=str(runs_dir))
            cfg = copy.deepcopy(templates[key])
            OmegaConf.set_readonly(cfg, False)
            cfg.seed = c.seed
            OmegaConf.set_readonly(cfg, True)
        except UserError as exc:
            raise UserError(f"{spec.path}:{c.line}: cell {describe(c)}: {exc}") from None
        cells.append({
            "index": i, "method": c.method, "task": c.task, "seed": c.seed, "overrides": list(c.overrides),
            "labels": {k: v for k, v in c.labels}, "line": c.line, "hash": config_hash(cfg),
            "run_dir": str(run_dir(cfg)), "config": OmegaConf.to_container(cfg, resolve=True),
        })
    return cells


def describe(c: CellSpec) -> str:
    """``method/task/seed`` plus the non-base overrides that tell cells apart."""
    extra = [f"{k}={v}" for k, v in c.labels[3:]]
    return "/".join([c.method, c.task, f"s{c.seed}"]) + (f" [{', '.join(extra)}]" if extra else "")


def _check_duplicates(spec: SweepSpec, cells: list[dict]) -> None:
    seen: dict[str, dict] = {}
    for c in cells:
        first = seen.setdefault(c["hash"], c)
        if first is not c:
            a, b = spec.cells[first["index"]], spec.cells[c["index"]]
            raise UserError(f"{spec.path}:{c['line']}: duplicate cell: {describe(b)} resolves to the same config as "
                            f"{describe(a)} (line {first['line']}); remove one of them")


def expand(spec: SweepSpec, runs_dir: Path, cache_file: Path | None = None) -> list[dict[str, Any]]:
    """The sweep's cells as dicts: index, method, task, seed, overrides, labels, line, hash, run_dir, config.

    Args:
        spec: the checked sweep file.
        runs_dir: absolute runs folder (part of each cell's ``runtime``, not of its identity).
        cache_file: where to keep the expansion between invocations (None: no cache).

    Raises:
        UserError: a cell that does not compose (unknown method, bad override) or two identical cells,
            naming the sweep file's line.
    """
    key = _key(spec, runs_dir)
    if cache_file is not None and cache_file.exists():
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("key") == key:
                return cached["cells"]
        except (OSError, ValueError):
            pass
    cells = _compose_all(spec, runs_dir)
    _check_duplicates(spec, cells)
    if cache_file is not None:
        atomic.write_json(cache_file, {"key": key, "cells": cells})
    return cells
