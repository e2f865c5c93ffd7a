"""Atomic file writes: write to a temporary file in the same folder, then rename.

A crash or ``kill -9`` leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions instead
        os.replace(tmp, path)
    except BaseException as exc:
        full = not isinstance(exc, OSError) and _disk_full(path.parent)  # before the temp file frees its space
        if os.path.exists(tmp):
            os.unlink(tmp)
        if full:  # torch.save reports a full disk as a RuntimeError about a stream position
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise
    return path


def _disk_full(folder: Path) -> bool:
    """True when the file system of ``folder`` has (almost) no space left (< 1 MiB)."""
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def write_bytes(path: Path, data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    return _atomic(path, lambda p: p.write_bytes(data))


def write_text(path: Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    return _atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: Path, obj: Any) -> Path:
    """Atomically write ``obj`` as indented, key-sorted JSON."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def torch_save(path: Path, obj: Any) -> Path:
    """Atomically ``torch.save`` ``obj`` to ``path``."""
    import torch

    return _atomic(path, lambda p: torch.save(obj, p))


def save_figure(path: Path, fig: Any, **kwargs: Any) -> Path:
    """Atomically save a matplotlib figure (format from the final suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return _atomic(path, lambda p: fig.savefig(p, format=fmt, **kwargs))
