"""One training per run identity at a time, whatever started it (``qtbench run``, a sweep job, a tuning trial).

An exclusive ``flock`` on ``<run_dir>/.job.lock``. The holder writes its pid, host and start time into the file,
so a second command can name it. The kernel drops the lock when its process dies (even on ``kill -9``), so a lock
file left by a dead process is simply taken over. The lock is re-entrant within one process: a sweep job holds it
around :func:`qtbench.runner.execute`, which takes it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from qtbench.errors import UserError

LOCK_NAME = ".job.lock"
_held: dict[Path, int] = {}  # run folders this process holds -> nesting depth


def holder(run_dir: Path) -> str:
    """``pid N on host H (since T)`` as written by the lock's holder, or ``another process`` if unreadable."""
    try:
        text = (Path(run_dir) / LOCK_NAME).read_text().split()
        pid, host, since = text[0], text[1], text[2]
        return f"pid {pid} on host {host} (since {time.strftime('%H:%M:%S', time.localtime(float(since)))})"
    except (OSError, IndexError, ValueError):
        return "another process"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock of ``run_dir`` (created if needed) for the duration of the block.

    Raises:
        UserError: another live process holds it (message names its pid and host).
    """
    key = Path(run_dir).resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(key / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)  # no truncation: the holder's note survives
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{key} is being trained by {holder(key)}; wait for it to finish (the same command "
                            "then reuses the finished run) or stop that process") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()} {time.time():.0f}\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
