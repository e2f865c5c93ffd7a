"""Storage units: journal heartbeats fail and retry a dead worker's trial; RDB URLs work the same; identity checks."""

import time

import pytest
from optuna.storages import fail_stale_trials

from qtbench.errors import UserError
from qtbench.tune.storage import HeartbeatJournalStorage, make_storage
from qtbench.tune.study import StudySpec, open_study

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _spec(tmp_path, storage=None, **kw):
    d = dict(name="u", study_dir=str(tmp_path / "study"), storage=storage, method="mt", task="dehaze", seed=0,
             scale="smoke", overrides=[], space={"params": {"pl.w_pl": {"type": "float", "low": 0.5, "high": 2.0}}},
             metric="student/val_psnr", direction="maximize", heartbeat_interval=1, grace_period=1, max_retry=2,
             tracking_uri="")
    d.update(kw)
    return StudySpec(**d)


@pytest.mark.slow
@pytest.mark.parametrize("storage", [None, "rdb"])
def test_a_trial_without_heartbeat_is_failed_and_retried(tmp_path, storage):
    url = f"sqlite:///{tmp_path / 'o.db'}" if storage else None
    study = open_study(_spec(tmp_path, url))
    if storage is None:
        assert isinstance(study._storage, HeartbeatJournalStorage)
        assert (tmp_path / "study" / "journal.log").exists()
    trial = study.ask()  # a worker took it ...
    trial.suggest_float("pl.w_pl", 0.5, 2.0)
    study._storage.record_heartbeat(trial._trial_id)  # ... beat once, then died
    time.sleep(2.5)  # > grace (1 s) even at the RDB timestamp resolution of one second
    fail_stale_trials(study)
    trials = study.get_trials()
    assert trials[0].state.name == "FAIL"
    assert trials[1].state.name == "WAITING" and trials[1].params == trials[0].params
    assert trials[1].system_attrs["failed_trial"] == 0


def test_a_live_trial_is_not_failed(tmp_path):
    study = open_study(_spec(tmp_path, grace_period=30))
    trial = study.ask()
    fail_stale_trials(study)
    assert study.get_trials()[0].state.name == "RUNNING"
    study.tell(trial, 1.0)


def test_continuing_with_other_settings_is_refused(tmp_path):
    open_study(_spec(tmp_path))
    with pytest.raises(UserError, match="exists with different overrides"):
        open_study(_spec(tmp_path, overrides=["pl.iters=3"]))
    with pytest.raises(UserError, match="different metric, direction"):
        open_study(_spec(tmp_path, metric="student/val_ssim", direction="minimize"))


def test_the_journal_storage_pickles_for_submitit(tmp_path):
    import pickle

    s = make_storage(None, tmp_path, 5, 15)
    clone = pickle.loads(pickle.dumps(s))
    assert isinstance(clone, HeartbeatJournalStorage) and clone.get_heartbeat_interval() == 5
