"""A sweep's folder (``<runs_dir>/sweeps/<name>/``), its MLflow parent run, and the status of each cell.

Layout: ``cells.json`` (the cached expansion: every cell's identity hash, run folder and config),
``sweep.json`` (sweep file, tracking URI, parent run id and whether it is closed, the table block),
``submitit/`` (job pickles and logs), ``close_parent.log`` (the background closer's errors, if any). A cell's own state lives in its run folder: ``summary.json`` (done) and ``job.json`` (which job,
which logs, running / requeued / failed).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from qtbench import atomic
from qtbench.launch import jobrecord

STATUSES = ("done", "running", "failed", "pending")
SUMMARY = "summary.json"  # = qtbench.runner.SUMMARY (not imported: that would import torch)
CHECKPOINT = "checkpoint.pt"  # = qtbench.engine.checkpoint.CHECKPOINT


def sweep_dir(runs_dir: Path, name: str) -> Path:
    from qtbench.names import plain_name

    return Path(runs_dir) / "sweeps" / plain_name(name, "sweep name")


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "sweep.json").read_text())
    except (OSError, ValueError):
        return {}


def write_meta(folder: Path, **fields: Any) -> dict[str, Any]:
    meta = read_meta(folder)
    meta.update(fields)
    atomic.write_json(folder / "sweep.json", meta)
    return meta


@dataclass
class CellStatus:
    """Where one cell stands; ``detail`` says why (job id, error line, checkpoint), ``log`` where to look."""

    status: str
    detail: str = ""
    log: Optional[str] = None


def is_done(run_dir: Path, h: str) -> bool:
    """The run folder holds the summary of identity ``h`` (a finished run, or an imported one)."""
    try:
        return json.loads((run_dir / SUMMARY).read_text()).get("config_hash") == h
    except (OSError, ValueError):
        return False


def cell_statuses(cells: list[dict]) -> list[CellStatus]:
    """The status of every cell: done / running / failed / pending (one ``squeue`` call at most)."""
    records = [None if is_done(Path(c["run_dir"]), c["hash"]) else jobrecord.read(Path(c["run_dir"])) for c in cells]
    slurm_ids = [r["job_id"] for r in records if r and r.get("launcher") == "slurm" and r.get("state") in jobrecord.ACTIVE]
    slurm = jobrecord.slurm_states(slurm_ids) if slurm_ids else {}
    out = []
    for c, rec in zip(cells, records):
        rd = Path(c["run_dir"])
        if rec is None and is_done(rd, c["hash"]):
            out.append(CellStatus("done"))
            continue
        resumable = " (checkpoint: resumes)" if (rd / CHECKPOINT).exists() else ""
        log = (rec or {}).get("stderr")
        if rec and jobrecord.alive(rec, slurm):
            state = (slurm or {}).get(str(rec.get("job_id")), rec["state"]).lower()
            out.append(CellStatus("running", f"{rec['launcher']} job {rec.get('job_id')} {state}", log))
        elif rec and rec.get("state") == "failed":
            out.append(CellStatus("failed", (rec.get("error") or "failed") + resumable, log))
        elif rec and rec.get("state") in jobrecord.ACTIVE:
            out.append(CellStatus("failed", f"job {rec.get('job_id')} ended without a summary{resumable}", log))
        else:
            out.append(CellStatus("pending", resumable.strip(" ()")))
    return out


def parent_run(uri: str, name: str, folder: Path, cells: list[dict], spec_path: Path, table: dict,
               command: Optional[str] = None) -> str:
    """The sweep's MLflow parent run (created before any job starts, with the experiment); its id.

    One parent per set of cells: re-invoking the same sweep reuses it (and stores the file's current cell labels
    and table layout, ``sweep.json``, which ``qtbench table`` reads; :func:`relabel_parent` does the same when
    nothing is left to launch); changing the cells (another scale, other
    seeds) opens a new one. ``command`` (the command line that opened it) becomes the
    ``qtbench.command`` tag, which ``qtbench table`` reports as the sweep's command.
    """
    from qtbench.tracking.mlflow_tracker import Tracker, run_tags

    ident = _cells_id(cells)
    meta = read_meta(folder)
    layout = parent_layout(cells, table)
    if meta.get("parent_run_id") and meta.get("cells_id") == ident and meta.get("tracking_uri") == uri:
        tr = Tracker(uri, experiment_name(name), name, run_id=meta["parent_run_id"])  # back to RUNNING
        write_meta(folder, parent_finished=None, parent_closing=None)  # a background closer now stands down
        # the same cells (identities); their labels and the table layout follow the sweep file as it is now
        tr.log_dict(layout, "sweep.json")
        write_meta(folder, layout_id=_layout_id(layout))
        return meta["parent_run_id"]
    tags = run_tags(ident)
    tags.update({"qtbench.sweep": name, "qtbench.sweep_file": str(spec_path), "qtbench.role": "sweep"})
    if command:
        tags["qtbench.command"] = command
    tr = Tracker(uri, experiment_name(name), name, tags=tags)
    tr.log_params({"sweep.name": name, "sweep.file": str(spec_path), "sweep.cells": str(len(cells))})
    tr.log_dict(layout, "sweep.json")
    write_meta(folder, parent_run_id=tr.run_id, cells_id=ident, tracking_uri=uri, parent_finished=None,
               parent_closing=None, layout_id=_layout_id(layout))
    return tr.run_id


def parent_layout(cells: list[dict], table: dict) -> dict:
    """What the parent run stores as ``sweep.json``: the table layout and each cell without its config, keys
    sorted (as in the sweep's ``cells.json``), so the same cells store the same bytes however they were loaded."""
    return json.loads(json.dumps({"table": table, "cells": [{k: c[k] for k in c if k != "config"} for c in cells]},
                                 sort_keys=True, default=str))


def relabel_parent(folder: Path, uri: str, name: str, cells: list[dict], table: dict) -> bool:
    """Store the file's current labels on an existing parent whose cells are all launched (nothing to launch, so
    :func:`parent_run` is not called); True when they had changed. Imports mlflow only then."""
    meta = read_meta(folder)
    layout = parent_layout(cells, table)
    if (not meta.get("parent_run_id") or meta.get("cells_id") != _cells_id(cells) or meta.get("tracking_uri") != uri
            or meta.get("layout_id") == _layout_id(layout)):
        return False
    from mlflow.tracking import MlflowClient

    from qtbench.tracking.store_faults import store_faults

    with store_faults(uri):
        MlflowClient(uri).log_dict(meta["parent_run_id"], layout, "sweep.json")  # the run's status is untouched
    write_meta(folder, layout_id=_layout_id(layout))
    return True


def _layout_id(layout: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(layout, sort_keys=True, default=str).encode()).hexdigest()


def finish_parent(folder: Path, uri: str, name: str, run_id: str) -> None:
    """Mark the parent run FINISHED (all cells done)."""
    from qtbench.tracking.mlflow_tracker import Tracker

    Tracker(uri, experiment_name(name), name, run_id=run_id).finish("FINISHED")
    # importing mlflow costs ~1.5 s: remember, so re-invoking a finished sweep stays instant
    write_meta(folder, parent_finished=run_id, parent_closing=None)


def finish_parent_later(folder: Path, uri: str, name: str, run_id: str) -> bool:
    """Close the parent run from a detached process (:mod:`qtbench.launch.close_parent`); False if one already is.

    A re-invocation with nothing to launch (e.g. the first one after a SLURM array finished) would otherwise
    spend ~2 s importing mlflow just to mark the parent FINISHED. The closer records ``parent_finished``
    like :func:`finish_parent`; if it fails, the next invocation tries again (its errors go to
    ``close_parent.log``).
    """
    closing = read_meta(folder).get("parent_closing") or {}
    if closing.get("run_id") == run_id and closing.get("host") == socket.gethostname() \
            and jobrecord.pid_alive(closing.get("pid")):
        return False
    with open(folder / "close_parent.log", "ab") as err:
        proc = subprocess.Popen([sys.executable, "-m", "qtbench.launch.close_parent", str(folder), uri, name, run_id],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True, close_fds=True, env=dict(os.environ))
    # the closer needs > 1 s to import mlflow before it reads this, so it always finds its own pid here
    write_meta(folder, parent_closing={"run_id": run_id, "pid": proc.pid, "host": socket.gethostname()})
    return True


def experiment_name(sweep: str) -> str:
    return f"qtbench-sweep-{sweep}"


def _cells_id(cells: list[dict]) -> str:
    import hashlib

    return hashlib.sha256("".join(sorted(c["hash"] for c in cells)).encode()).hexdigest()
