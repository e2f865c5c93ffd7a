"""``qtbench tracking``: a local ``mlflow server`` for parallel jobs (serve, status, stop)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from qtbench.errors import UserError

EPILOG = """examples:
  qtbench tracking serve                    # foreground; Ctrl-C stops it
  qtbench tracking serve --detach --port 5599
  qtbench tracking status
  qtbench tracking stop

Sweeps started with the same --runs-dir send their jobs' runs to the recorded server
(<runs-dir>/tracking-server.json) unless --tracking-uri or $MLFLOW_TRACKING_URI says otherwise.
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tracking", help="serve MLflow for parallel jobs (serve | status | stop)", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Start, inspect or stop an `mlflow server` (127.0.0.1 by default) over the runs "
                       "folder's store, so parallel jobs log over HTTP instead of sharing a SQLite file.")
    p.add_argument("action", choices=("serve", "status", "stop"))
    p.add_argument("--runs-dir", default="runs", help="runs folder: record, log and default store (default: ./runs)")
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1; 0.0.0.0 for other nodes)")
    p.add_argument("--port", type=int, default=5000, help="TCP port (default 5000)")
    p.add_argument("--backend-store-uri", default=None, help="default sqlite:///<runs-dir>/mlflow.db; "
                   "postgresql://user@host/db works too")
    p.add_argument("--artifacts", default=None, help="artifact folder (default <runs-dir>/mlartifacts)")
    p.add_argument("--detach", action="store_true", help="return once the server is healthy; stop it with "
                   "`qtbench tracking stop`")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from qtbench.tracking import server

    runs = Path(args.runs_dir)
    if args.action == "status":
        rec = server.read_record(runs)
        if rec is None:
            print(f"no tracking server recorded for {runs}")
            return 1
        up = server.healthy(rec["url"])
        print(f"{rec['url']} ({'up' if up else 'DOWN'}; pid {rec['pid']}; store {rec['backend']}; log {rec['log']})")
        return 0 if up else 1
    if args.action == "stop":
        rec = server.stop(runs)
        if rec is None:
            raise UserError(f"no tracking server recorded for {runs}")
        print(f"stopped {rec['url']} (pid {rec['pid']})")
        return 0
    from qtbench.paths import ensure_writable

    ensure_writable(runs)
    if not is_loopback(args.host):
        print(f"qtbench: warning: the MLflow server on {args.host}:{args.port} has no authentication: anyone who can "
              "reach that port can read, change and delete every run. Use it on a trusted network only, or put "
              "authentication in front (README: Tracking)", file=sys.stderr, flush=True)
    rec = server.start(runs, args.host, args.port, args.backend_store_uri, args.artifacts)
    print(f"MLflow server at {rec['url']} (pid {rec['pid']}; store {rec['backend']}; log {rec['log']})", flush=True)
    if args.detach:
        return 0
    try:
        while server.healthy(rec["url"], timeout=5.0) or _alive(rec["pid"]):
            time.sleep(2.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop(runs)
    return 0


def is_loopback(host: str) -> bool:
    """True when ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
