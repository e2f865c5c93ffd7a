"""A sweep's finished runs as plain JSON files that travel with the repository, and back into a store.

Run folders and MLflow stores live on one machine; a sweep that spans machines or sessions needs its finished
runs to go with the code. ``export_sweep`` writes, for every finished cell, one JSON record with everything
the tables, plots and ``qtbench sweep`` need: MLflow params, tags and full metric histories, the run's
``summary.json`` and ``config.yaml`` artifacts, start/end times and the cell's labels. ``import_archive``
recreates those runs in another store (same values, same metric steps, a new run id and a
``qtbench.imported_from`` tag with the old one) and the run folders' ``summary.json`` / ``config.yaml``, so
``qtbench sweep`` counts the cells as done and ``qtbench table`` rebuilds the same table.

Not archived: checkpoints, base models, ``grid.png`` (binary, large). An imported run cannot be resumed or
re-evaluated (``qtbench eval --checkpoint`` needs the checkpoint); score it before exporting.

Records are JSON only (nothing is unpickled or executed); folder names come from the record's task, method,
seed and hash, each checked to be a plain name, so an archive cannot write outside the runs folder it is
imported into.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from qtbench import atomic
from qtbench.errors import UserError
from qtbench.names import is_plain

FORMAT = "qtbench-run-archive/1"
SWEEP_FILE = "sweep.json"
IMPORTED_FROM = "qtbench.imported_from"  # tag: the run id in the store the record was exported from
IMPORTED_PARENT = "qtbench.imported_parent"  # tag: that run's parent there (the import re-parents it here)
_HASH = re.compile(r"[0-9a-f]{12,64}")
_BATCH = 1000  # MLflow's per-call limits: 1000 metrics, 100 params, 100 tags


@dataclass
class ArchiveResult:
    """What an export or import did: counts and the files or runs it touched."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def record_path(root: Path, task: str, method: str, seed: int, config_hash: str) -> Path:
    """``root/<task>/<method>/s<seed>-<hash12>.json``: the run folder's name, checked to be plain."""
    for what, name in (("task", task), ("method", method)):
        if not is_plain(str(name)):
            raise UserError(f"archive record has {what} {name!r}, which is not a plain name: the record is damaged "
                            "or was not written by `qtbench archive export`")
    if not _HASH.fullmatch(str(config_hash)) or not isinstance(seed, int) or seed < 0:
        raise UserError(f"archive record has a bad seed {seed!r} or config hash {config_hash!r}: the record is "
                        "damaged or was not written by `qtbench archive export`")
    return Path(root) / task / method / f"s{seed}-{config_hash[:12]}.json"


def _artifact_text(client, run_id: str, name: str) -> Optional[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            return Path(client.download_artifacts(run_id, name, tmp)).read_text(encoding="utf-8")
        except Exception:  # noqa: BLE001 - a run without that artifact simply has none in its record
            return None


def _run_record(client, cell, run, experiment: str) -> dict[str, Any]:
    histories = {}
    for key in sorted(run.data.metrics):
        hist = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))
        histories[key] = [[m.step, m.value, m.timestamp] for m in hist]
    summary = _artifact_text(client, run.info.run_id, "summary.json")
    return {
        "format": FORMAT,
        "hash": cell.hash,
        "labels": cell.labels,
        "experiment": experiment,
        "run_id": run.data.tags.get(IMPORTED_FROM) or run.info.run_id,
        "run_name": run.info.run_name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "params": dict(sorted(run.data.params.items())),
        "tags": _original_tags(run.data.tags),
        "metrics": histories,
        "summary": json.loads(summary) if summary else None,
        "config_yaml": _artifact_text(client, run.info.run_id, "config.yaml"),
    }


def _original_tags(tags: dict[str, str]) -> dict[str, str]:
    """A run's tags as its record holds them: an imported run gets back the parent it had where it ran, and loses
    the import's own tags, so that exporting an imported run writes the record it was imported from."""
    out = dict(tags)
    if IMPORTED_FROM in out:
        out.pop(IMPORTED_FROM)
        out.pop("mlflow.parentRunId", None)
        if out.get(IMPORTED_PARENT):
            out["mlflow.parentRunId"] = out[IMPORTED_PARENT]
        out.pop(IMPORTED_PARENT, None)
    return dict(sorted(out.items()))


def _archived_already(path: Path, run) -> bool:
    """``path`` holds the very record ``run`` was imported from (imported runs are finished and never change)."""
    original = run.data.tags.get(IMPORTED_FROM)
    if not original or not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("run_id") == original
    except (OSError, ValueError):
        return False


def export_sweep(name: str, uri: str, dest: Path, parent_id: Optional[str] = None,
                 progress: Callable[[Any], Any] = lambda it: it) -> ArchiveResult:
    """Write every ended cell of sweep ``name`` to ``dest`` (one JSON per run, plus ``sweep.json``).

    Finished and failed runs are archived (a table shows failed cells as failed); running and missing cells
    are listed in ``skipped``. Records already in ``dest`` are rewritten (atomically), except the record an imported
    run came from, which is left as it is: export after import gives back the same record files.

    Args:
        name: the sweep's name.
        uri: the MLflow tracking URI holding its runs.
        dest: the archive folder, e.g. ``results/archive/<name>``.
        parent_id: a specific parent run (default: the sweep's latest).
        progress: wraps the iteration over finished cells (a progress bar).
    """
    from qtbench.report.collect import client_for, collect, parent_run

    runs = collect(name, uri, parent_id)
    client = client_for(uri)
    parent = parent_run(client, name, runs.parent_run_id)
    sweep_json = _artifact_text(client, parent.info.run_id, "sweep.json")
    res = ArchiveResult()
    atomic.write_json(Path(dest) / SWEEP_FILE, {
        # an archive of an imported sweep names the original parent, as its runs name their original runs
        "format": FORMAT, "name": name, "parent_run_id": parent.data.tags.get(IMPORTED_FROM) or parent.info.run_id,
        "parent_tags": _original_tags(parent.data.tags), "parent_params": dict(sorted(parent.data.params.items())),
        "sweep": json.loads(sweep_json) if sweep_json else None,
    })
    experiments: dict[str, str] = {}
    ended = [c for c in runs.cells if c.status in ("done", "failed")]
    for cell in progress(ended):
        run = client.get_run(cell.run.run_id)
        exp_id = run.info.experiment_id
        if exp_id not in experiments:
            experiments[exp_id] = client.get_experiment(exp_id).name
        path = record_path(dest, str(cell.labels["task"]), str(cell.labels["method"]), cell.seed, cell.hash)
        if not _archived_already(path, run):  # an archive carried through import/export stays byte-for-byte
            rec = _run_record(client, cell, run, experiments[exp_id])
            atomic.write_text(path, json.dumps(rec, indent=1, sort_keys=False, allow_nan=True) + "\n")
        res.written.append(str(path))
    res.skipped = [f"{c.labels.get('method')}/{c.labels.get('task')}/s{c.labels.get('seed')} ({c.status})"
                   for c in runs.cells if c not in ended]
    return res


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path`` if it is in this archive format; UserError (one line) otherwise."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {what} {path}: {exc}; re-export it with `qtbench archive export`") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise UserError(f"{path} is not a {what} (format {FORMAT!r}); re-export it with `qtbench archive export`")
    return obj


def read_record(path: Path) -> dict[str, Any]:
    """One archive record, checked: format, hash, labels and where its run folder would go."""
    rec = _read_json(path, "qtbench run archive record")
    if not isinstance(rec.get("labels") or {}, dict):
        raise UserError(f"archive record {path} has no labels; re-export it with `qtbench archive export`")
    run_folder(Path("."), rec)  # first: a record naming a folder outside is refused as such
    missing = [k for k in ("run_id", "experiment", "params", "tags", "metrics") if k not in rec]
    if missing:
        raise UserError(f"archive record {path} lacks {', '.join(missing)}; re-export it with `qtbench archive export`")
    return rec


def run_folder(runs_dir: Path, rec: dict[str, Any]) -> Path:
    """``runs_dir/<task>/<method>/s<seed>-<hash12>``: the run folder of a record (plain names checked)."""
    labels = rec.get("labels") or {}
    return record_path(runs_dir, str(labels.get("task")), str(labels.get("method")), labels.get("seed"),
                       str(rec.get("hash"))).with_suffix("")


def _present(client) -> tuple[set[str], set[str]]:
    """The config hashes with a finished run in the store, and the original run ids already imported."""
    from qtbench.report.collect import runs_by_hash

    finished, imported = set(), set()
    for h, runs in runs_by_hash(client).items():
        if any(r.info.status == "FINISHED" for r in runs):
            finished.add(h)
        imported.update(r.data.tags[IMPORTED_FROM] for r in runs if IMPORTED_FROM in r.data.tags)
    return finished, imported


def _import_parent(uri: str, meta: dict[str, Any]) -> str:
    from qtbench.launch.sweep_state import experiment_name
    from qtbench.tracking.mlflow_tracker import Tracker

    tags = dict(meta.get("parent_tags") or {})
    tags[IMPORTED_FROM] = str(meta.get("parent_run_id"))
    tr = Tracker(uri, experiment_name(meta["name"]), meta["name"], tags=tags)
    tr.log_params(meta.get("parent_params") or {})
    if meta.get("sweep") is not None:
        tr.log_dict(meta["sweep"], "sweep.json")
    tr.finish("FINISHED")
    return tr.run_id


def _import_run(client, uri: str, rec: dict[str, Any], parent_id: Optional[str]) -> str:
    from mlflow.entities import Metric, Param, RunTag

    from qtbench.tracking.mlflow_tracker import ensure_experiment

    tags = dict(rec["tags"])
    tags[IMPORTED_FROM] = str(rec["run_id"])
    if tags.get("mlflow.parentRunId"):
        tags[IMPORTED_PARENT] = tags["mlflow.parentRunId"]
    if parent_id:
        tags["mlflow.parentRunId"] = parent_id  # the original parent does not exist in this store
    else:
        tags.pop("mlflow.parentRunId", None)
    exp_id = ensure_experiment(client, uri, rec["experiment"])
    run = client.create_run(exp_id, start_time=rec.get("start_time"), run_name=rec.get("run_name"),
                            tags={k: str(v) for k, v in tags.items()})
    rid = run.info.run_id
    params = [Param(k, str(v)) for k, v in rec["params"].items()]
    for i in range(0, len(params), 100):
        client.log_batch(rid, params=params[i:i + 100], synchronous=True)
    metrics = [Metric(k, float(v), int(ts), int(step)) for k, hist in rec["metrics"].items() for step, v, ts in hist]
    for i in range(0, len(metrics), _BATCH):
        client.log_batch(rid, metrics=metrics[i:i + _BATCH], synchronous=True)
    if rec.get("summary") is not None:
        client.log_dict(rid, rec["summary"], "summary.json")
    if rec.get("config_yaml") is not None:
        client.log_text(rid, rec["config_yaml"], "config.yaml")
    client.set_terminated(rid, status=rec.get("status") or "FINISHED", end_time=rec.get("end_time"))
    return rid


def import_archive(src: Path, runs_dir: Path, uri: str,
                   progress: Callable[[Any], Any] = lambda it: it) -> ArchiveResult:
    """Recreate the runs archived in ``src`` in the store at ``uri`` and their folders under ``runs_dir``.

    Idempotent: a record already imported, or whose config hash already has a finished run in the store, is
    skipped (and its run folder left alone). Every record is read and checked before anything is written.
    Only finished runs get a run folder (``summary.json``), so ``qtbench sweep`` reruns failed cells.

    Args:
        src: an archive folder written by :func:`export_sweep`.
        runs_dir: the runs folder that receives ``<task>/<method>/s<seed>-<hash12>/{summary.json,config.yaml}``.
        uri: the MLflow tracking URI to import into.
        progress: wraps the iteration over records (a progress bar).
    """
    from qtbench.tracking.mlflow_tracker import open_client

    src = Path(src)
    meta_path = src / SWEEP_FILE
    if not meta_path.is_file():
        raise UserError(f"{src} is not a sweep archive (no {SWEEP_FILE}); archives are made by "
                        "`qtbench archive export SWEEP`")
    meta = read_record_meta(meta_path)
    paths = sorted(p for p in src.rglob("*.json") if p != meta_path)
    records = [(p, read_record(p)) for p in paths]  # all checked before anything is written
    client = open_client(uri)
    finished, imported = _present(client)
    res = ArchiveResult()
    todo = [(p, r) for p, r in records if r["hash"] not in finished and r["run_id"] not in imported]
    chosen = {p for p, _ in todo}
    res.skipped = [str(p) for p, _ in records if p not in chosen]
    if not todo:
        return res
    parent_id = _import_parent(uri, meta)
    for p, rec in progress(todo):
        rid = _import_run(client, uri, rec, parent_id)
        folder = run_folder(Path(runs_dir), rec)
        if rec.get("config_yaml") is not None and rec.get("status") == "FINISHED":
            atomic.write_text(folder / "config.yaml", rec["config_yaml"])
        if rec.get("summary") is not None and rec.get("status") == "FINISHED":
            summary = dict(rec["summary"])
            summary["mlflow_run_id"] = rid
            summary[IMPORTED_FROM] = rec["run_id"]
            summary["run_dir"] = str(folder.resolve())
            atomic.write_json(folder / "summary.json", summary)
        res.written.append(rid)
    return res


def read_record_meta(path: Path) -> dict[str, Any]:
    """The archive's ``sweep.json``: the sweep's name and its parent run's tags, params and cells."""
    meta = _read_json(path, "qtbench sweep archive")
    if not is_plain(str(meta.get("name"))):
        raise UserError(f"{path} is not a qtbench sweep archive (format {FORMAT!r} with a plain sweep name)")
    return meta
