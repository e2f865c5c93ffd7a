"""Where qtbench keeps its cache (base models, photo pools, fitted IQA parameters)."""

from __future__ import annotations

import os
from pathlib import Path


def qtbench_home() -> Path:
    """Cache root: ``$QTBENCH_HOME`` or the user cache dir (``~/.cache/qtbench``)."""
    env = os.environ.get("QTBENCH_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qtbench"))


def cache_dir(*parts: str) -> Path:
    """A sub-folder of the cache root (not created)."""
    return qtbench_home().joinpath(*parts)


def ensure_writable(path: Path, flag: str = "--runs-dir") -> None:
    """Fail with a one-line error when folder ``path`` cannot be created or written (cheap: no torch import).

    Args:
        path: the folder (it may not exist yet: its nearest existing parent must be a writable folder).
        flag: the option that gave it, named in the message.
    """
    from qtbench.errors import UserError

    probe = Path(path).expanduser().absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    what = "runs dir" if flag == "--runs-dir" else flag
    if not probe.is_dir():
        raise UserError(f"{what} {path} is not writable ({probe} is a file, not a folder); pass {flag} DIR")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{what} {path} is not writable (no write access to {probe}); pass {flag} DIR")
