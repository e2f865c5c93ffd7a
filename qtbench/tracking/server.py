"""A local ``mlflow server`` for parallel jobs (docs/architecture.md §6): start, health check, record, stop.

Many processes writing one SQLite file directly is fine on one machine but not across SLURM nodes or on
NFS; jobs of a sweep then log over HTTP to one server. The server is bound to 127.0.0.1 unless told
otherwise and recorded in ``<runs_dir>/tracking-server.json``; sweeps started later with the same runs
folder point their jobs at it. Job execution (huey workers) is disabled: 2 processes instead of 9
(docs/install.md §7).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Optional

from qtbench import atomic
from qtbench.errors import UserError

RECORD = "tracking-server.json"


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url``'s ``/health`` answers OK."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def read_record(runs_dir: Path) -> Optional[dict[str, Any]]:
    try:
        return json.loads((Path(runs_dir) / RECORD).read_text())
    except (OSError, ValueError):
        return None


def running_url(runs_dir: Path) -> Optional[str]:
    """The URL of this runs folder's server when it is up, else None."""
    rec = read_record(runs_dir)
    return rec["url"] if rec and healthy(rec["url"], timeout=1.0) else None


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def start(runs_dir: Path, host: str = "127.0.0.1", port: int = 5000, backend: Optional[str] = None,
          artifacts: Optional[Path] = None, wait_s: float = 90.0) -> dict[str, Any]:
    """Start ``mlflow server`` in its own session and wait until it is healthy; return its record.

    Args:
        runs_dir: the runs folder; holds the record, the log and (by default) the store.
        host: interface to bind; 127.0.0.1 keeps it private to this machine (use 0.0.0.0 for other nodes).
        port: TCP port.
        backend: backend store URI (default ``sqlite:///<runs_dir>/mlflow.db``, the store runs use without a
            server, so everything stays in one place; ``postgresql://...`` works too).
        artifacts: where the server stores artifacts (default ``<runs_dir>/mlartifacts``).
        wait_s: give up (and stop the process) after this long without a healthy answer.

    Raises:
        UserError: a server of this runs folder already runs, the port is taken, or it never became healthy.
    """
    runs = Path(runs_dir).resolve()
    if running_url(runs):
        raise UserError(f"a tracking server for {runs} already runs at {read_record(runs)['url']}; "
                        "`qtbench tracking stop` first")
    if not _port_free(host, port):
        raise UserError(f"port {port} on {host} is in use; pass --port")
    runs.mkdir(parents=True, exist_ok=True)
    backend = backend or f"sqlite:///{runs}/mlflow.db"
    artifacts = Path(artifacts or runs / "mlartifacts").resolve()
    log = runs / "tracking-server.log"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend, "--artifacts-destination",
           str(artifacts), "--host", host, "--port", str(port), "--workers", "1"]
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with open(log, "ab") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    deadline = time.time() + wait_s
    while not healthy(url):
        if proc.poll() is not None or time.time() > deadline:
            _kill(proc.pid)
            raise UserError(f"mlflow server did not come up at {url} (exit {proc.poll()}); see {log}")
        time.sleep(0.5)
    rec = {"url": url, "pid": proc.pid, "host": host, "port": port, "backend": backend,
           "artifacts": str(artifacts), "log": str(log), "started": time.time()}
    atomic.write_json(runs / RECORD, rec)
    return rec


def _kill(pid: int, wait_s: float = 20.0) -> None:
    """SIGTERM the server's process group (uvicorn and its worker), SIGKILL what is left after ``wait_s``."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    if pgid != pid:  # not the session leader we started: a reused pid, leave it alone
        return
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        try:  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def stop(runs_dir: Path) -> Optional[dict[str, Any]]:
    """Stop the recorded server of ``runs_dir``; return its record (None when none was recorded)."""
    rec = read_record(runs_dir)
    if rec is None:
        return None
    _kill(int(rec["pid"]))
    (Path(runs_dir) / RECORD).unlink(missing_ok=True)
    return rec
