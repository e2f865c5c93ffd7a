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


def ensure_writable(path: Path) -> None:
    """Fail with a one-line error when ``path`` cannot be created or written (cheap: no torch import)."""
    from qtbench.errors import UserError

    probe = Path(path)
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK) or not probe.is_dir():
        raise UserError(f"runs dir {path} is not writable (no write access to {probe}); pass --runs-dir DIR")
