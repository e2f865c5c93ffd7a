"""``<run_dir>/job.json``: which job runs a cell, where its logs are, and whether it is still alive.

Written by the submitting command (``queued``) and by the job itself (``running``, ``requeued``,
``failed``, ``done``), always atomically. ``qtbench sweep status`` and a re-invoked sweep read it to tell
a running cell from a failed one without any daemon: SLURM jobs are looked up with one ``squeue`` call,
local and in-process jobs by process id on the same host.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Iterable, Optional

from qtbench import atomic

JOB = "job.json"
ACTIVE = ("queued", "running", "requeued")


def read(run_dir: Path) -> Optional[dict[str, Any]]:
    """The job record of ``run_dir``, or None (never submitted, or unreadable)."""
    try:
        return json.loads((Path(run_dir) / JOB).read_text())
    except (OSError, ValueError):
        return None


def update(run_dir: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into the record (created if missing) and write it atomically."""
    rec = read(run_dir) or {}
    rec.update(fields, updated=time.time())
    atomic.write_json(Path(run_dir) / JOB, rec)
    return rec


def slurm_states(job_ids: Iterable[Any]) -> Optional[dict[str, str]]:
    """``{job id: SLURM state}`` for those of ``job_ids`` that SLURM still knows (one ``squeue`` call).

    Array tasks are listed one per line (``-r``), as ``ARRAYID_TASK``; finished jobs are absent. The user's
    jobs are listed and filtered here: ``squeue -j`` exits 1 for an id SLURM has forgotten, which would be
    indistinguishable from a controller that did not answer. None when ``squeue`` fails (slurmctld busy,
    restarting or down): "unknown", not "no jobs", which would make live jobs look finished.
    """
    ids = {str(j).split("_")[0] for j in job_ids}
    if not ids:
        return {}
    try:
        proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T", "-u", getpass.getuser()], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    states = {}
    for line in proc.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        if jid and jid.split("_")[0] in ids:
            states[jid] = state
    return states


def pid_alive(pid: Any) -> bool:
    """Whether process ``pid`` exists on this host (False for a missing or malformed pid)."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


LOOKUP: Any = object()  # alive(): look the SLURM state up


def alive(rec: Optional[dict], slurm: Any = LOOKUP) -> bool:
    """Whether the job of ``rec`` may still be queued or running.

    Args:
        rec: a job record.
        slurm: :func:`slurm_states` of the records' SLURM job ids (None: squeue failed; default: look up).
    """
    if not rec or rec.get("state") not in ACTIVE:
        return False
    if rec.get("launcher") == "slurm":
        states = slurm_states([rec["job_id"]]) if slurm is LOOKUP else slurm
        return True if states is None else str(rec.get("job_id")) in states  # unknown: assume it lives
    if rec.get("host") not in (None, socket.gethostname()):
        return True  # another machine's process: cannot check, assume it lives
    pids = [p for p in (rec.get("controller_pid"), rec.get("pid")) if p]
    return any(pid_alive(p) for p in pids)
