"""Turn a failure of the MLflow store into one line that names the store and the remedy.

A corrupt, read-only, deleted or full ``mlflow.db`` otherwise surfaces as a long SQLAlchemy traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator

from qtbench.errors import UserError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def describe(uri: str, exc: BaseException) -> str:
    """The one-line message for ``exc`` raised by the store at ``uri``."""
    cause = _first_line(exc)
    low = cause.lower()
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC or "database or disk is full" in low \
            or "no space left" in low:
        return f"the disk holding the MLflow store {uri} is full ({cause}); free space or pass --tracking-uri"
    if uri.startswith("sqlite:///"):
        db = uri[len("sqlite:///"):].split("?", 1)[0]
        what = "is read-only" if "readonly" in low or "read-only" in low else "cannot be used"
        return (f"the MLflow store {db} {what} ({type(exc).__name__}: {cause}); move that file aside "
                f"(e.g. mv {db} {db}.bad) or pass --tracking-uri sqlite:////OTHER/mlflow.db")
    return f"the MLflow store {uri} cannot be used ({type(exc).__name__}: {cause}); check it or pass --tracking-uri"


@contextlib.contextmanager
def store_faults(uri: str) -> Iterator[None]:
    """Re-raise any store failure inside the block as a :class:`UserError` (one line, exit code 2).

    MLflow's own logger prints a store error with its whole traceback before raising it; it is muted inside
    the block (the UserError carries the cause).
    """
    log = logging.getLogger("mlflow.store")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    except (UserError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, sqlite3, MlflowException, OSError: all the store's
        raise UserError(describe(uri, exc)) from None
    finally:
        log.setLevel(level)
