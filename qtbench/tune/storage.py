"""Optuna storage for a study: a journal file (NFS-safe) by default, an RDB URL when given; both with heartbeats.

Why heartbeats: a worker killed mid-trial (``kill -9``, OOM, SLURM time limit) cannot mark its trial
failed, so it would stay RUNNING forever and the study would never reach N finished trials. Optuna's
remedy is the heartbeat: a running trial records a beat every ``heartbeat_interval`` seconds; any worker
starting a trial first fails the trials whose last beat is older than ``grace_period`` and calls the
stale-trial callback, which re-enqueues them (``RetryFailedTrialCallback``).

Optuna 5 implements heartbeats for ``RDBStorage`` only. :class:`HeartbeatJournalStorage` adds them to
``JournalStorage``: a beat is a trial system attribute (one journal line per beat), and staleness compares
the writer's and the reader's clocks, so hosts must keep their clocks in sync (NTP) to well within
``grace_period``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import optuna
from optuna.storages import JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

BEAT = "qtbench:heartbeat"  # system attribute holding the last beat (seconds since the epoch)
JOURNAL = "journal.log"


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """``JournalStorage`` with Optuna's heartbeat protocol (see the module docstring).

    Args:
        path: the journal file (created when missing); its folder may be on NFS.
        heartbeat_interval: seconds between beats of a running trial.
        grace_period: a RUNNING trial without a beat for this long is stale.
        stale_callback: called with ``(study, failed_trial)`` for every trial this process failed.
    """

    def __init__(self, path: Path, heartbeat_interval: int, grace_period: int,
                 stale_callback: Optional[Callable[[optuna.Study, FrozenTrial], None]] = None) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # the default lock (symlink-based) is the one Optuna documents as safe on NFS v2 and later
        super().__init__(JournalFileBackend(str(path)))
        self._path = Path(path)
        self._interval = int(heartbeat_interval)
        self._grace = int(grace_period)
        self._stale_callback = stale_callback

    def __reduce__(self) -> tuple:  # picklable for submitit: rebuild from the file, not from a snapshot
        return (HeartbeatJournalStorage, (self._path, self._interval, self._grace, self._stale_callback))

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, BEAT, time.time())
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            pass  # the trial finished between two beats: nothing to keep alive

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            last = t.system_attrs.get(BEAT)
            if last is None:
                last = t.datetime_start.timestamp() if t.datetime_start is not None else now
            if now - float(last) > self._grace:
                stale.append(t._trial_id)
        return stale

    def get_heartbeat_interval(self) -> Optional[int]:
        return self._interval

    def get_heartbeat_stale_trial_callback(self) -> Optional[Callable[[optuna.Study, FrozenTrial], None]]:
        return self._stale_callback


def make_storage(url: Optional[str], study_dir: Path, heartbeat_interval: int, grace_period: int,
                 stale_callback: Optional[Callable[[optuna.Study, FrozenTrial], None]] = None) -> Any:
    """The study's storage.

    Args:
        url: an RDB URL (``sqlite:///...``, ``postgresql://...``) or None for ``<study_dir>/journal.log``;
            a path ending in ``.log`` (or a ``journal://PATH`` URL) names another journal file.
        study_dir: the study folder (``<runs_dir>/tuning/<study>``).
        heartbeat_interval, grace_period, stale_callback: see :class:`HeartbeatJournalStorage`.
    """
    journal = journal_path(url, study_dir)
    if journal is not None:
        return HeartbeatJournalStorage(journal, heartbeat_interval, grace_period, stale_callback)
    from optuna.storages import RDBStorage

    return RDBStorage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                      heartbeat_stale_trial_callback=stale_callback)


def journal_path(url: Optional[str], study_dir: Path) -> Optional[Path]:
    """The journal file a storage argument names, or None for an RDB URL."""
    if not url:
        return Path(study_dir) / JOURNAL
    if url.startswith("journal://"):
        return Path(url[len("journal://"):]).expanduser().resolve()
    if "://" not in url:
        return Path(url).expanduser().resolve()
    return None


def describe(url: Optional[str], study_dir: Path) -> str:
    """Where the study is stored, for messages (never prints a password of an RDB URL)."""
    j = journal_path(url, study_dir)
    if j is not None:
        return f"journal file {j}"
    head, _, tail = url.partition("://")
    return f"{head}://{tail.split('@', 1)[-1]}" if "@" in tail else url
