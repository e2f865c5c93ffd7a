"""SLURM job lookup: a controller that does not answer means "unknown", never "the job is gone".

The live paths run against a real cluster in tests/launch/test_slurm.py; a failing controller cannot be produced
on demand there, so these tests put a stand-in ``squeue`` first on PATH.
"""

import os
import stat

import pytest

from qtbench.launch import jobrecord


@pytest.fixture
def fake_squeue(tmp_path, monkeypatch):
    """Write a ``squeue`` that prints ``out`` and exits with ``rc``; returns the writer."""
    def write(out: str, rc: int = 0) -> None:
        path = tmp_path / "squeue"
        path.write_text(f"#!/bin/sh\nprintf '{out}'\nexit {rc}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return write


def test_states_are_filtered_to_the_asked_jobs_array_tasks_included(fake_squeue):
    fake_squeue("158|RUNNING\\n160_0|PENDING\\n160_1|RUNNING\\n999|RUNNING\\n")
    assert jobrecord.slurm_states(["158", "160_1"]) == {"158": "RUNNING", "160_0": "PENDING", "160_1": "RUNNING"}
    assert jobrecord.slurm_states(["42"]) == {}  # forgotten by SLURM: gone


def test_a_controller_that_does_not_answer_is_unknown_and_the_job_stays_alive(fake_squeue):
    fake_squeue("slurm_load_jobs error: Socket timed out on send/recv operation\\n", rc=1)
    assert jobrecord.slurm_states(["158"]) is None
    rec = {"state": "running", "launcher": "slurm", "job_id": "158"}
    assert jobrecord.alive(rec)  # looked up: no answer
    assert jobrecord.alive(rec, None)  # passed in: no answer
    assert not jobrecord.alive(rec, {})  # answered: not listed


def test_a_waiter_keeps_waiting_while_squeue_is_silent_then_reports_the_job_lost(fake_squeue, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from qtbench.launch import executor

    fake_squeue("slurm_load_jobs error: Unable to contact slurm controller\\n", rc=1)
    job = SimpleNamespace(job_id="158", paths=SimpleNamespace(result_pickle=tmp_path / "158_result.pkl"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    polls, reports = [], []
    monkeypatch.setattr(executor.time, "sleep", lambda s: polls.append(s))  # no real waiting
    clock = iter(range(0, 10_000, 100))  # each poll is 100 s later
    monkeypatch.setattr(executor.time, "monotonic", lambda: float(next(clock)))
    executor.wait_all([job], [run_dir], lambda i, outcome, detail: reports.append((i, outcome, detail)))
    # poll sleeps (2 s) come before giving up at ~600 s of silence, not after the first failed squeue
    assert polls.count(2.0) >= 3
    assert reports and reports[0][1] == "failed" and "without a result" in reports[0][2]
