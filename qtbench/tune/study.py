"""A study's settings (:class:`StudySpec`), its Optuna study, and the bookkeeping shared by driver and workers.

The spec is plain JSON: the driver writes it once (atomically) and every worker, local or on SLURM, reads
it, so all workers of an invocation share one target and one set of settings. The settings that define
*what* is tuned (method, task, seed, scale, base overrides, space, objective) are also stored in the
Optuna study itself: re-running a command continues the study only when they match.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from qtbench import atomic
from qtbench.errors import UserError

IDENTITY_ATTR = "qtbench.identity"
PARENT_ATTR = "qtbench.mlflow_parent_run_id"
IDENTITY_KEYS = ("method", "task", "seed", "scale", "overrides", "space", "metric", "direction")
FINISHED_STATES = ("COMPLETE", "PRUNED")  # what counts towards --n-trials

# Heartbeats: a minute between beats is one journal line per running trial per minute (nothing on NFS),
# and a dead worker's trial is retried within grace + one trial start. The grace of 3 beats tolerates an
# NFS stall or a slow beat without failing a live trial.
DEFAULT_HEARTBEAT_S = 60
DEFAULT_GRACE_S = 180
# A trial whose worker dies 3 times (OOM, node failure) is the trial's fault: stop retrying it.
DEFAULT_MAX_RETRY = 3
# A worker stops after this many failures in a row (a systematic error would otherwise loop forever);
# diverged trials (NaN loss at some weights) are a property of their parameters and do not count.
DEFAULT_MAX_FAILURES = 3
# 4 val reports per trial: the pruner can act at 20/40/60/80 % of training; each costs one val pass.
DEFAULT_REPORT_POINTS = 4


@dataclass
class StudySpec:
    """Everything a worker needs (JSON-able).

    Args:
        name: study name (Optuna and folder name).
        study_dir: ``<runs_dir>/tuning/<name>``: journal, trial run folders, worker logs.
        storage: RDB URL, or None for the journal file in ``study_dir``.
        method, task, seed, scale, overrides: the run every trial starts from.
        space: :meth:`SearchSpace.to_dict`.
        metric, direction: the objective (:mod:`qtbench.tune.objective`).
        pruner, pruner_args, sampler: :mod:`qtbench.tune.algorithms`.
        report_points: val reports per trial (0: no pruning).
        heartbeat_interval, grace_period, max_retry: see :mod:`qtbench.tune.storage`.
        max_failures: consecutive failed trials after which a worker gives up.
        tracking_uri, experiment, parent_run_id: MLflow (parent run of the study).
        target: workers stop once this many trials are COMPLETE or PRUNED.
        threads: torch threads per worker (0: torch's default).
    """

    name: str
    study_dir: str
    storage: Optional[str]
    method: str
    task: str
    seed: int
    scale: str
    overrides: list[str]
    space: dict[str, Any]
    metric: str
    direction: str
    pruner: str = "median"
    pruner_args: dict[str, Any] = field(default_factory=dict)
    sampler: str = "tpe"
    report_points: int = DEFAULT_REPORT_POINTS
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S
    grace_period: int = DEFAULT_GRACE_S
    max_retry: int = DEFAULT_MAX_RETRY
    max_failures: int = DEFAULT_MAX_FAILURES
    tracking_uri: str = ""
    experiment: str = ""
    parent_run_id: Optional[str] = None
    target: int = 0
    threads: int = 0

    def identity(self) -> dict[str, Any]:
        """The settings a continued study must share."""
        d = asdict(self)
        return {k: d[k] for k in IDENTITY_KEYS}

    def save(self, path: Path) -> Path:
        return atomic.write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> StudySpec:
        return cls(**json.loads(Path(path).read_text()))


def study_name(method: str, task: str, space_stem: str, scale: str) -> str:
    """Default study name, safe as a folder name: ``mt+qualiteacher-dehaze-loss_weights-smoke``."""
    return safe_name(f"{method}-{task}-{space_stem}-{scale}")


def safe_name(name: str) -> str:
    """A study's folder name: other characters become ``_``; a path (``/``, ``..``) is refused (UserError)."""
    if any(c in name for c in "/\\") or ".." in name or name.startswith("."):
        raise UserError(f"--study {name!r} is not a plain name: use letters, digits and . _ + - (no '/', no "
                        "'..'); it becomes a folder name")
    s = re.sub(r"[^\w.+\-]", "_", name).strip("._")
    if not s:
        raise UserError(f"--study {name!r}: the name needs letters or digits")
    return s


class StaleTrialCallback:
    """Retry a trial whose worker died (Optuna's retry callback) and fail its MLflow run.

    Picklable (submitit ships it to SLURM workers inside the storage).
    """

    def __init__(self, max_retry: int, tracking_uri: str) -> None:
        self.max_retry, self.tracking_uri = max_retry, tracking_uri

    def __call__(self, study: Any, trial: Any) -> None:
        import warnings

        from optuna.storages import RetryFailedTrialCallback

        from qtbench.tune import tracking

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks the retry callback experimental
            RetryFailedTrialCallback(max_retry=self.max_retry)(study, trial)
        tracking.mark_trial(self.tracking_uri, trial.user_attrs.get("mlflow_run_id"), "FAIL",
                            error="worker died (no heartbeat); trial retried")


def storage_for(spec: StudySpec) -> Any:
    from qtbench.tune.storage import make_storage

    return make_storage(spec.storage, Path(spec.study_dir), spec.heartbeat_interval, spec.grace_period,
                        StaleTrialCallback(spec.max_retry, spec.tracking_uri))


def open_study(spec: StudySpec, sampler: Any = None, pruner: Any = None, create: bool = True) -> Any:
    """Create the Optuna study or load it; a loaded study must have the same identity.

    Raises:
        UserError: the study exists with other settings (or does not exist and ``create`` is False).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = storage_for(spec)
    exists = spec.name in {s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)}
    if not exists and not create:
        raise UserError(f"no study {spec.name!r} in {spec.storage or spec.study_dir}")
    if exists:  # load first: create_study would fail on a changed direction before our clearer check
        study = optuna.load_study(study_name=spec.name, storage=storage, sampler=sampler, pruner=pruner)
    else:
        study = optuna.create_study(study_name=spec.name, storage=storage, direction=spec.direction,
                                    load_if_exists=True, sampler=sampler, pruner=pruner)
    stored = study.user_attrs.get(IDENTITY_ATTR)
    if stored is None:
        if create:
            study.set_user_attr(IDENTITY_ATTR, spec.identity())
    elif stored != spec.identity():
        diff = [k for k in IDENTITY_KEYS if stored.get(k) != spec.identity()[k]]
        raise UserError(f"study {spec.name!r} exists with different {', '.join(diff)}; continue it with the same "
                        "settings or pass another --study NAME")
    return study


def load_existing(name: str, storage_url: Optional[str], study_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Load a study for reading (``tune report``): the study and its stored identity."""
    import optuna

    from qtbench.tune.storage import describe, journal_path, make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    j = journal_path(storage_url, study_dir)
    if j is not None and not j.exists():
        raise UserError(f"no study {name!r}: {j} does not exist (pass --runs-dir or --storage of the study)")
    storage = make_storage(storage_url, study_dir, DEFAULT_HEARTBEAT_S, DEFAULT_GRACE_S)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        raise UserError(f"no study {name!r} in {describe(storage_url, study_dir)}") from None
    ident = study.user_attrs.get(IDENTITY_ATTR)
    if ident is None:
        raise UserError(f"study {name!r} was not created by qtbench tune (no {IDENTITY_ATTR} attribute)")
    return study, ident


def counts(study: Any) -> dict[str, int]:
    """Trials per state name (COMPLETE, PRUNED, FAIL, RUNNING, WAITING)."""
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def finished(c: dict[str, int]) -> int:
    return sum(c.get(s, 0) for s in FINISHED_STATES)
