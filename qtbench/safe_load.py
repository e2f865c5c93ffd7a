"""Load qtbench's own files (checkpoints, cached base models, data caches) without running code they carry.

A pickle can name any importable callable (``os.system``...) and have the loader call it. qtbench's files hold
only tensors, numpy arrays, plain Python values and qtbench's data classes, so every loader here admits exactly
those and refuses any other global *before* anything is called:

- ``.pt`` files: ``torch.load(weights_only=True)`` with numpy's array reconstruction allowlisted (checkpoints of
  earlier builds stored numpy's global RNG state as an array; numpy rebuilds an array from bytes, it calls
  nothing else).
- data caches (``.pkl``): a :class:`pickle.Unpickler` whose ``find_class`` admits only the classes listed in
  :data:`DATA_GLOBALS`.

A refused or damaged file raises :class:`UnsafeFile` or :class:`DamagedFile` (both :class:`UserError`: one line,
exit code 2).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

from qtbench.errors import UserError

# numpy's array pickling: rebuild an ndarray of a dtype from raw bytes (no other callable is reachable)
_NUMPY_GLOBALS = (
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
)
# the data classes of a task's data cache (qtbench/data/containers.py; caches written before they moved there
# name them under qtbench.tasks.base, which still re-exports them)
DATA_GLOBALS = frozenset(
    {(m, n) for m in ("qtbench.data.containers", "qtbench.tasks.base")
     for n in ("TaskData", "TrainData", "EvalData", "ImageSet")} | set(_NUMPY_GLOBALS)
)
CONVERT_HINT = "python -m qtbench.engine.convert_checkpoint FILE"


class UnsafeFile(UserError):
    """The file asks the loader to call something qtbench never stores: refused, nothing was run."""


class DamagedFile(UserError):
    """The file is truncated or is not a file of this kind."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _numpy_allowlist() -> list[Any]:
    """The numpy callables and classes admitted into ``torch.load(weights_only=True)``."""
    import numpy as np

    out: list[Any] = [np.ndarray, np.dtype]
    try:
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
        from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]
    out += [_reconstruct, _frombuffer]
    # the dtype classes of the arrays qtbench stores (numpy >= 1.25 pickles a dtype by its class)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [type(np.dtype(t)) for t in ("uint8", "uint32", "int64", "float32", "float64", "bool")]
    return out


def load_torch(path: str | Path, what: str) -> Any:
    """``torch.load`` of a qtbench ``.pt`` file (CPU), refusing any global outside the allowlist.

    Args:
        path: the file.
        what: what the file is, for messages (``checkpoint``, ``cached base model``...).

    Raises:
        UnsafeFile: the file names a callable or class qtbench never stores (nothing was called).
        DamagedFile: truncated, empty or not a torch file.
    """
    import torch

    path = Path(path)
    try:
        with torch.serialization.safe_globals(_numpy_allowlist()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            name = found.group(1)
            raise UnsafeFile(
                f"refused to load the {what} {path}: it asks to run {name}, which qtbench never stores (a crafted "
                f"or foreign file; nothing was executed). Use only files written by qtbench; a file of an older "
                f"build that you trust converts with: {CONVERT_HINT.replace('FILE', str(path))}"
            ) from None
        raise DamagedFile(f"the {what} {path} is truncated or damaged (not a file torch.save wrote)") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, TypeError, AttributeError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, IsADirectoryError)) \
                and exc.errno is not None:
            raise UserError(f"cannot read the {what} {path}: {exc.strerror}") from None
        raise DamagedFile(f"the {what} {path} is truncated or damaged ({type(exc).__name__}: "
                          f"{_first_line(exc)})") from None


class _DataUnpickler(pickle.Unpickler):
    """Admits only :data:`DATA_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in DATA_GLOBALS:
            raise UnsafeFile(f"asks to run {module}.{name}")
        return super().find_class(module, name)


def load_data_pickle(path: str | Path) -> Any:
    """A task's data cache (``$QTBENCH_HOME/data/*.pkl``), admitting only qtbench's data classes and arrays.

    Raises:
        UnsafeFile: any other global (nothing was called); DamagedFile: truncated or foreign.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            return _DataUnpickler(fh).load()
    except UnsafeFile as exc:
        raise UnsafeFile(f"refused to load the data cache {path}: it {exc} (not written by qtbench; nothing was "
                         f"executed). Delete the file: qtbench rebuilds it") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise DamagedFile(f"the data cache {path} is truncated or damaged ({type(exc).__name__}: "
                          f"{_first_line(exc)}); delete it and qtbench rebuilds it") from None
