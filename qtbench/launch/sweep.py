"""One invocation of ``qtbench sweep``: expand, skip what is done, (re)submit the rest, report.

A finished cell (``summary.json`` with the cell's hash) is skipped; a running one (its job alive) is
left alone; a failed, interrupted or never-run cell is submitted, and resumes from its checkpoint if it
has one. On SLURM all submitted cells form one job array. The MLflow experiment and the sweep's parent
run are created before anything is submitted, so parallel jobs never race to create them.

An invocation with nothing to launch never imports mlflow or torch (the target is under 2 s for 100 done
cells, ``qtbench bench --which sweep``): a parent run still open then is closed by a detached process.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig

from qtbench.launch import executor, sweep_state
from qtbench.launch.config import threads_per_run
from qtbench.launch.expand import expand
from qtbench.launch.sweep_file import SweepSpec


@dataclass
class SweepResult:
    """What an invocation did; ``failed`` maps cell index -> (error line, log path)."""

    cells: list[dict]
    skipped: int = 0
    running: int = 0
    unselected: int = 0  # unfinished cells outside this invocation's --tasks/--seeds
    launched: list[int] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    failed: dict[int, tuple[str, Optional[str]]] = field(default_factory=dict)
    job_ids: list[str] = field(default_factory=list)


def tracking_uri(runs_dir: Path, explicit: Optional[str]) -> str:
    """``--tracking-uri``, else ``$MLFLOW_TRACKING_URI``, else this runs folder's server, else its SQLite file."""
    from qtbench.tracking.server import running_url

    if explicit:
        return explicit
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return running_url(runs_dir) or f"sqlite:///{Path(runs_dir).resolve()}/mlflow.db"


def load_cells(spec: SweepSpec, runs_dir: Path, write_cache: bool = True) -> list[dict]:
    """The sweep's expanded cells (cached in the sweep folder once it exists)."""
    folder = sweep_state.sweep_dir(runs_dir, spec.name)
    cache = folder / "cells.json" if (write_cache or folder.exists()) else None
    return expand(spec, Path(runs_dir).resolve(), cache)


def launchable(spec: SweepSpec, cells: list[dict], statuses: list) -> list[tuple[dict, Any]]:
    """(cell, status) of the cells this invocation launches: failed or pending, inside its --tasks/--seeds/--cells.

    With ``spec.launch_order == "seeds"`` the lowest seed of every row goes before any row's next seed
    (:func:`seeds_first`); one cell of every task and seed goes first in either order (:func:`bases_first`), so
    parallel jobs train different base models instead of the same one twice.
    """
    items = [(c, st) for c, st in zip(cells, statuses)
             if st.status in ("failed", "pending") and spec.launches(c["task"], c["seed"], c["index"])]
    if spec.launch_order not in LAUNCH_ORDERS:
        raise ValueError(f"launch order {spec.launch_order!r} is not one of {', '.join(LAUNCH_ORDERS)}")
    return bases_first(seeds_first(items) if spec.launch_order == "seeds" else items)


LAUNCH_ORDERS = ("seeds", "file")


def seeds_first(items: list[tuple[dict, Any]]) -> list[tuple[dict, Any]]:
    """``items`` by seed, lowest first, otherwise in their order (a stable sort).

    A long sweep that is stopped early (a session's end, a SLURM time limit) then leaves every row of its table
    measured on its first seeds instead of some rows on all seeds and others on none. No result depends on it.
    """
    return sorted(items, key=lambda item: int(item[0]["seed"]))


def bases_first(items: list[tuple[dict, Any]]) -> list[tuple[dict, Any]]:
    """``items`` with the first cell of each (task, seed) moved to the front, otherwise in their order.

    Cells of one task and seed share a base model (docs/protocol.md §2), trained by whichever starts first and
    cached; two of them started together would both train it. The order of cells changes no result.
    """
    seen: set[tuple[str, int]] = set()
    leaders, rest = [], []
    for item in items:
        key = (item[0]["task"], int(item[0]["seed"]))
        (rest if key in seen else leaders).append(item)
        seen.add(key)
    return leaders + rest


def oversubscription(jobs: int, threads: int, cores: int) -> Optional[str]:
    """A warning when ``jobs`` local runs at ``threads`` torch threads each ask for more than ``cores``.

    Idle OpenMP workers of one job then spin against the other's: on 2 cores, two 2-thread jobs ran PL steps
    several times slower than two 1-thread jobs (BENCHMARKS.md, "What a cell costs").
    """
    if threads <= 0 or jobs * threads <= cores:
        return None
    return (f"warning: {jobs} jobs x {threads} torch threads on {cores} cores oversubscribe them (several times "
            f"slower steps); set launcher.threads={max(1, cores // jobs)} or launcher.array_parallelism="
            f"{max(1, cores // threads)}, and count any other sweep running beside this one")


def _job_config(cell: dict, uri: str, name: str, parent: str, threads: int) -> dict[str, Any]:
    """The cell's frozen config with where-to-log settings (``runtime`` is not part of its identity).

    ``threads`` is the launcher's share of the cores; a ``runtime.threads=N`` given on the command line wins
    (as in ``qtbench run``): overwriting it ran, e.g., 2-thread jobs side by side on 2 cores, where idle
    OpenMP workers spin against each other's jobs.
    """
    cfg = dict(cell["config"])
    own = int(cfg["runtime"]["threads"] or 0)
    cfg["runtime"] = dict(cfg["runtime"], tracking_uri=uri, experiment=sweep_state.experiment_name(name),
                          parent_run_id=parent, progress=False, threads=own if own > 0 else threads,
                          tags={"qtbench.sweep": name, "qtbench.cell": str(cell["index"])})
    return cfg


def run_sweep(spec: SweepSpec, runs_dir: Path, lc: DictConfig, uri: Optional[str] = None, wait: bool = True,
              log=print, command: Optional[str] = None) -> SweepResult:
    """Bring every cell of ``spec`` to done (or submitted, on SLURM without ``wait``).

    Args:
        spec: the checked sweep (command-line narrowing already applied).
        runs_dir: the runs folder.
        lc: the launcher config.
        uri: explicit tracking URI (see :func:`tracking_uri`).
        wait: on SLURM, wait for the array and report (local and debug always wait).
        log: where progress lines go.
        command: the command line, tagged on a new parent run as ``qtbench.command``.
    """
    runs_dir = Path(runs_dir).resolve()
    folder = sweep_state.sweep_dir(runs_dir, spec.name)
    cells = load_cells(spec, runs_dir)  # raises before anything is written when a cell is bad
    res = SweepResult(cells=cells)
    statuses = sweep_state.cell_statuses(cells)
    launch = launchable(spec, cells, statuses)
    todo = [c for c, _ in launch]
    res.skipped = sum(st.status == "done" for st in statuses)
    res.running = sum(st.status == "running" for st in statuses)
    res.unselected = len(cells) - res.skipped - res.running - len(todo)
    retry = sum(st.status == "failed" for _, st in launch)
    later = f", {res.unselected} left for an invocation without --tasks/--seeds/--cells" if res.unselected else ""
    uri = tracking_uri(runs_dir, uri)
    sweep_state.write_meta(folder, name=spec.name, file=str(spec.path.resolve()), scale=spec.scale,
                           table=spec.table, tracking_uri_last=uri)
    if not todo:
        what = f"{res.running} still running" if res.running else "all done"
        log(f"sweep {spec.name}: {len(cells)} cells, {res.skipped} done, {res.running} running{later}: nothing to "
            f"launch ({what})")
        if sweep_state.relabel_parent(folder, uri, spec.name, cells, spec.table):
            log(f"sweep {spec.name}: stored the sweep file's current cell labels on its parent run")
        meta = sweep_state.read_meta(folder)
        parent = meta.get("parent_run_id")
        if (not res.running and not res.unselected and parent and meta.get("tracking_uri") == uri
                and meta.get("parent_finished") != parent):
            sweep_state.finish_parent_later(folder, uri, spec.name, parent)
        return res
    parent = sweep_state.parent_run(uri, spec.name, folder, cells, spec.path, spec.table, command)
    threads = threads_per_run(lc)
    configs = [_job_config(c, uri, spec.name, parent, threads) for c in todo]
    run_dirs = [Path(c["run_dir"]) for c in todo]
    for rd in run_dirs:
        rd.mkdir(parents=True, exist_ok=True)
    extra = {"sweep": spec.name}
    log(f"sweep {spec.name}: {len(cells)} cells, {res.skipped} done (skipped), {res.running} running{later}, "
        f"launching {len(todo)}{f' ({retry} failed before: retrying)' if retry else ''} with the {lc.name} launcher; "
        f"MLflow {uri} (experiment {sweep_state.experiment_name(spec.name)}, parent run {parent})")
    res.launched = [c["index"] for c in todo]
    if lc.name == "local":
        warning = oversubscription(min(len(todo), int(lc.array_parallelism)),
                                   max(int(c["runtime"]["threads"] or 0) for c in configs), os.cpu_count() or 1)
        if warning:
            log(warning)

    def report(i: int, outcome: str, detail: Any) -> None:
        c = todo[i]
        if outcome == "done":
            res.done.append(c["index"])
            log(f"  done    cell {c['index']:>3} {_name(c)}")
        else:
            log_path = (executor.jobrecord.read(Path(c["run_dir"])) or {}).get("stderr")
            res.failed[c["index"]] = (str(detail), log_path)
            log(f"  FAILED  cell {c['index']:>3} {_name(c)}: {detail}" + (f"\n          log: {log_path}" if log_path else ""))

    sub = folder / "submitit"
    if lc.name == "slurm":
        jobs = executor.submit_slurm(lc, sub, configs, run_dirs, extra, job_name=f"qt-{spec.name}")
        res.job_ids = [j.job_id for j in jobs]
        array = jobs[0].job_id.split("_")[0]
        log(f"submitted SLURM job array {array} ({len(jobs)} tasks, at most {lc.array_parallelism} at once); "
            f"logs in {sub}; `qtbench sweep status {spec.name}` shows progress")
        if wait:
            executor.wait_all(jobs, run_dirs, report)
    elif lc.name == "local":
        executor.run_local(lc, sub, configs, run_dirs, report, extra, job_name=f"qt-{spec.name}")
    else:
        executor.run_debug(configs, run_dirs, report, extra)
    if (lc.name != "slurm" or wait) and not res.failed and not res.running and not res.unselected:
        sweep_state.finish_parent(folder, uri, spec.name, parent)
    return res


def _name(c: dict) -> str:
    extra = [f"{k}={v}" for k, v in c["labels"].items() if k not in ("method", "task", "seed")]
    return f"{c['method']}/{c['task']}/s{c['seed']}" + (f" [{', '.join(extra)}]" if extra else "")


def print_cells(cells: list[dict], statuses: list, out=sys.stdout) -> None:
    """A status table: one line per cell."""
    for c, st in zip(cells, statuses):
        line = f"{c['index']:>4}  {st.status:<8} {_name(c):<48} {c['hash'][:12]}"
        if st.detail:
            line += f"  {st.detail}"
        print(line, file=out)
        if st.status == "failed" and st.log:
            print(f"{'':>14}log: {st.log}", file=out)


def print_rows(cells: list[dict], statuses: list, out=sys.stdout) -> None:
    """Progress per table row: one line per method, task and setting (seeds together), with how many seeds are
    done and the indices of the cells that are not, by status (``--cells`` takes them)."""
    rows: dict[str, list[tuple[dict, Any]]] = {}
    for c, st in zip(cells, statuses):
        key = _name({**c, "seed": "*"}).replace("/s*", "", 1)
        rows.setdefault(key, []).append((c, st))
    width = max((len(k) for k in rows), default=0)
    for key, items in rows.items():
        done = sum(st.status == "done" for _, st in items)
        rest: dict[str, list[str]] = {}
        for c, st in items:
            if st.status != "done":
                rest.setdefault(st.status, []).append(str(c["index"]))
        line = f"{done:>3}/{len(items):<3} {key:<{width}}"
        if rest:
            line += "  " + "; ".join(f"{status}: {', '.join(ix)}" for status, ix in rest.items())
        print(line.rstrip(), file=out)
