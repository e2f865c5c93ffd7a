"""MLflow tracking for one qtbench run (docs/architecture.md §3, §6): params, metrics, artifacts, resume by run id.

Everything goes through an explicit :class:`mlflow.tracking.MlflowClient` bound to one tracking URI, never
through mlflow's global active run, so several trackers can coexist in a process (sweeps run in-process,
tests point at different stores). mlflow is imported inside functions: ``import mlflow`` takes ~1.2 s and
most qtbench commands never track anything.

Default store: a SQLite file in the runs folder (the file store is disabled in MLflow 3, docs/install.md §7), with
artifacts beside it in ``mlartifacts/`` rather than in ``./mlruns`` of whatever the working directory is.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import json
import os
import platform
import re
import socket
import subprocess
import time
from collections.abc import Mapping
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from qtbench.errors import UserError
from qtbench.tracking.store_faults import store_faults

# MLflow's limits (mlflow.utils.validation): entities per log_batch call and value lengths.
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_PARAM_VALUE_LEN = 6000
MAX_TAG_VALUE_LEN = 8000
MAX_KEY_LEN = 250
TRUNCATED_MARKER = "...[truncated]"

_VERSIONED = ("qtbench", "torch", "torchvision", "pyiqa", "mlflow", "numpy")
_STATUSES = ("FINISHED", "FAILED", "KILLED")


def default_tracking_uri(runs_dir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else a SQLite database in ``runs_dir``.

    Args:
        runs_dir: the runs folder (``--runs-dir``); made absolute so the URI does not depend on the CWD.
    """
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return f"sqlite:///{Path(runs_dir).resolve()}/mlflow.db"


def _plain(v: Any) -> Any:
    """OmegaConf containers, tuples, Paths -> JSON-able builtins (for list values)."""
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)) or type(v).__name__ == "ListConfig":
        return [_plain(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def flatten(d: Mapping, prefix: str = "") -> dict[str, str]:
    """Flatten a nested mapping into dotted keys with string values, for ``log_params``.

    Args:
        d: nested mapping (dicts, OmegaConf ``DictConfig``...).
        prefix: prepended to every key (``"cfg"`` gives ``"cfg.a.b"``).

    Returns:
        ``{"a.b.c": str(value)}``; lists and tuples become their JSON text, an empty mapping ``"{}"``.
    """
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            if len(v) == 0:
                out[key] = "{}"
            else:
                out.update(flatten(v, key))
        elif isinstance(v, (list, tuple)) or type(v).__name__ == "ListConfig":
            out[key] = json.dumps(_plain(v))
        else:
            out[key] = str(v)
    return out


def _git(root: Path, *args: str) -> str | None:
    try:
        r = subprocess.run(
            ["git", "-C", str(root), *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
            # don't take index.lock: many jobs of a sweep may start at once in the same checkout
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


@lru_cache(maxsize=1)
def _static_tags() -> dict[str, str]:
    import qtbench

    tags = {"git_commit": "unknown", "git_dirty": "unknown"}
    root = Path(qtbench.__file__).resolve().parent.parent
    top = _git(root, "rev-parse", "--show-toplevel")
    # only trust git when the package sits at the top of the checkout: an installed copy in a venv that
    # happens to live inside some other repository must not report that repository's commit
    if top and Path(top).resolve() == root:
        commit = _git(root, "rev-parse", "HEAD")
        if commit:
            tags["git_commit"] = commit
            tags["mlflow.source.git.commit"] = commit  # shown by the MLflow UI
            # untracked files don't count: scratch files are not part of what produced the results
            status = _git(root, "status", "--porcelain", "--untracked-files=no")
            if status is not None:
                tags["git_dirty"] = "true" if status else "false"
    for pkg in _VERSIONED:
        try:
            tags[f"version.{pkg}"] = version(pkg)
        except PackageNotFoundError:
            tags[f"version.{pkg}"] = "not installed"
    tags["host"] = socket.gethostname()
    tags["cpu"] = cpu_model()  # training on another CPU model changes results at the float level
    tags["python"] = platform.python_version()
    return tags


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else ``platform.processor()``, else ``"unknown"``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_tags(config_hash: str) -> dict[str, str]:
    """Provenance tags for a run; never raises (unknown facts are ``"unknown"``).

    Args:
        config_hash: the run's resolved-config content hash (its identity).

    Returns:
        ``git_commit``, ``git_dirty`` (``"true"``/``"false"``/``"unknown"``), ``version.<pkg>`` for qtbench,
        torch, torchvision, pyiqa, mlflow and numpy, ``host``, ``python`` and ``config_hash``.
    """
    try:
        tags = dict(_static_tags())
    except Exception:  # noqa: BLE001 - provenance must never stop a run
        tags = {"git_commit": "unknown", "git_dirty": "unknown", "host": "unknown", "python": "unknown"}
        tags.update({f"version.{p}": "unknown" for p in _VERSIONED})
    tags["config_hash"] = str(config_hash)
    return tags


def sanitize_key(name: str) -> str:
    """Make ``name`` a valid MLflow param/metric key: keep ``[A-Za-z0-9_.- /]``, no empty or dot path parts."""
    s = re.sub(r"[^/\w.\- ]", "_", str(name))  # colons are valid on POSIX only: drop them for portability
    parts = ["__" if p == ".." else p for p in s.split("/") if p not in ("", ".")]
    return "/".join(parts)[:MAX_KEY_LEN] or "_"


def _truncate(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - len(TRUNCATED_MARKER)] + TRUNCATED_MARKER


def _sqlite_dir(uri: str) -> Path | None:
    """Folder holding the database of a ``sqlite:///`` URI, or None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    db = uri[len("sqlite:///") :].split("?", 1)[0]
    if not db or db == ":memory:":
        return None
    return Path(db).resolve().parent


@contextlib.contextmanager
def _sqlite_init_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise opening a SQLite store across processes.

    Parallel jobs sharing one ``mlflow.db`` race on its first-use schema creation ("table ... already
    exists"); an exclusive ``flock`` on a sibling lock file makes the first opener create it alone.
    """
    db_dir = _sqlite_dir(tracking_uri)
    if db_dir is None:
        yield
        return
    import fcntl

    db_dir.mkdir(parents=True, exist_ok=True)
    with open(db_dir / ".mlflow.db.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_client(tracking_uri: str):
    """An MlflowClient on ``tracking_uri`` whose store (and SQLite schema) exists, created safely across processes."""
    from mlflow.tracking import MlflowClient

    with store_faults(tracking_uri), _sqlite_init_lock(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri)
        client.search_experiments(max_results=1)  # forces the store (and its schema) into existence
    return client


def ensure_experiment(client, tracking_uri: str, name: str, artifact_root: Path | None = None) -> str:
    """The id of experiment ``name``, created (artifacts under ``artifact_root``) or restored when needed.

    ``artifact_root`` defaults to ``<folder of the SQLite db>/mlartifacts`` (other stores decide themselves).
    """
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        return exp.experiment_id
    if artifact_root is None:
        db_dir = _sqlite_dir(tracking_uri)
        artifact_root = db_dir / "mlartifacts" if db_dir is not None else None
    location = None
    if artifact_root is not None:
        # one sub-folder per experiment, like MLflow's own layout
        location = (Path(artifact_root).resolve() / sanitize_key(name).replace("/", "_")).as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:
        # another process of the same sweep created it between our lookup and create
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


class Tracker:
    """One MLflow run, new or resumed.

    Args:
        tracking_uri: MLflow tracking URI (see :func:`default_tracking_uri`).
        experiment: experiment name; created when missing (restored when deleted).
        run_name: display name of a new run (ignored when resuming).
        run_id: resume this run (after preemption) instead of creating one; it is set back to RUNNING.
        tags: extra run tags, e.g. :func:`run_tags`.
        artifact_root: where a newly created experiment stores artifacts; default
            ``<folder of the SQLite db>/mlartifacts`` (for servers and other stores, the store decides).

    Attributes:
        run_id: the MLflow run id (store it in checkpoints to resume).
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        run_name: str,
        run_id: str | None = None,
        tags: dict | None = None,
        artifact_root: Path | None = None,
    ) -> None:
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self._finished = False
        tag_map = {str(k): _truncate(str(v), MAX_TAG_VALUE_LEN) for k, v in (tags or {}).items()}
        with store_faults(tracking_uri), _sqlite_init_lock(tracking_uri):
            self.client = MlflowClient(tracking_uri=tracking_uri)
            self.client.search_experiments(max_results=1)  # forces the store (and its schema) into existence
            self._open(experiment, run_name, run_id, tag_map, artifact_root)

    def _open(self, experiment: str, run_name: str, run_id: str | None, tag_map: dict, artifact_root: Path | None) -> None:
        from mlflow.exceptions import MlflowException

        if run_id is not None:
            try:
                run = self.client.get_run(run_id)
            except MlflowException as e:
                raise UserError(f"cannot resume MLflow run {run_id!r}: not found in {self.tracking_uri} ({e})") from e
            self.run_id = run.info.run_id
            self.experiment_id = run.info.experiment_id
            self._params: dict[str, str] = dict(run.data.params)
            self.client.update_run(self.run_id, status="RUNNING")
            if tag_map:
                self._log_tags(tag_map)
        else:
            self.experiment_id = ensure_experiment(self.client, self.tracking_uri, experiment, artifact_root)
            run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tag_map)
            self.run_id = run.info.run_id
            self._params = {}

    def _log_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, v) for k, v in tags.items()]
        for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, tags=items[i : i + MAX_PARAMS_PER_BATCH], synchronous=True)

    def log_params(self, params: Mapping[str, str]) -> None:
        """Log parameters in batches of 100; values over 6000 characters are truncated with a marker.

        Keys already logged with the same value are skipped, so a resumed run can log its config again.

        Args:
            params: flat mapping (see :func:`flatten`); keys are sanitised, values converted with ``str``.

        Raises:
            ValueError: a key was already logged with a different value (MLflow params are immutable).
        """
        from mlflow.entities import Param

        new: dict[str, str] = {}
        changed = []
        for k, v in params.items():
            key, val = sanitize_key(k), _truncate(str(v), MAX_PARAM_VALUE_LEN)
            old = self._params.get(key)
            if old is None:
                new[key] = val
            elif old != val:
                changed.append(f"{key}: {old!r} -> {val!r}")
        if changed:
            raise ValueError(f"MLflow run {self.run_id} already has different values for: " + "; ".join(changed))
        items = [Param(k, v) for k, v in new.items()]
        with store_faults(self.tracking_uri):
            for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
                self.client.log_batch(self.run_id, params=items[i : i + MAX_PARAMS_PER_BATCH], synchronous=True)
        self._params.update(new)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metric values at one step, in one ``log_batch`` call per 1000 metrics.

        Args:
            metrics: name -> value (anything ``float()`` accepts: floats, 0-d tensors, numpy scalars); names
                are sanitised (``/`` kept, e.g. ``train/loss``).
            step: training step; MLflow's default 0 when None.
        """
        from mlflow.entities import Metric

        ts = int(time.time() * 1000)
        s = 0 if step is None else int(step)
        items = [Metric(sanitize_key(k), float(v), ts, s) for k, v in metrics.items()]
        with store_faults(self.tracking_uri):
            for i in range(0, len(items), MAX_METRICS_PER_BATCH):
                self.client.log_batch(self.run_id, metrics=items[i : i + MAX_METRICS_PER_BATCH], synchronous=True)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Copy a file (or a whole folder) into the run's artifacts.

        Args:
            path: local file or folder.
            artifact_path: sub-folder inside the run's artifacts, or None for the top level.
        """
        p = Path(path)
        with store_faults(self.tracking_uri):
            if p.is_dir():
                self.client.log_artifacts(self.run_id, str(p), artifact_path)
            else:
                self.client.log_artifact(self.run_id, str(p), artifact_path)

    def log_dict(self, obj: dict, name: str) -> None:
        """Store ``obj`` as a JSON (or YAML, by suffix) artifact file ``name``.

        Args:
            obj: JSON-serialisable mapping.
            name: artifact file name, e.g. ``"summary.json"`` or ``"config/resolved.yaml"``.
        """
        with store_faults(self.tracking_uri):
            self.client.log_dict(self.run_id, obj, name)

    def finish(self, status: str = "FINISHED") -> None:
        """Mark the run terminated (idempotent).

        Args:
            status: ``"FINISHED"``, ``"FAILED"`` or ``"KILLED"``.
        """
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}, got {status!r}")
        if not self._finished:
            with store_faults(self.tracking_uri):
                self.client.set_terminated(self.run_id, status=status)
            self._finished = True

    def __enter__(self) -> Tracker:  # noqa: PYI034 - not subclassed
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish("FINISHED")
        else:
            self.finish("KILLED" if issubclass(exc_type, KeyboardInterrupt) else "FAILED")
