"""Torch threads of a sweep's jobs: the launcher's share of the cores unless the command line named a count."""

from qtbench.launch.sweep import _job_config, oversubscription


def _cell(threads: int) -> dict:
    return {"index": 3, "config": {"method": "mt", "runtime": {"threads": threads, "progress": True}}}


def test_a_cell_without_a_thread_count_gets_the_launchers_share():
    cfg = _job_config(_cell(0), "sqlite:///x.db", "demo", "parent", threads=4)
    assert cfg["runtime"]["threads"] == 4 and cfg["runtime"]["progress"] is False


def test_runtime_threads_on_the_command_line_wins_over_the_launcher():
    # two 1-thread streams on 2 cores with array_parallelism=1 must not become two 2-thread jobs
    cfg = _job_config(_cell(1), "sqlite:///x.db", "demo", "parent", threads=4)
    assert cfg["runtime"]["threads"] == 1
    assert cfg["runtime"]["tags"] == {"qtbench.sweep": "demo", "qtbench.cell": "3"}


def test_oversubscribed_local_jobs_are_named_with_the_fix():
    assert oversubscription(jobs=2, threads=1, cores=2) is None
    assert oversubscription(jobs=1, threads=2, cores=2) is None
    assert oversubscription(jobs=2, threads=0, cores=2) is None  # torch's default: nothing set to check
    msg = oversubscription(jobs=2, threads=2, cores=2)
    assert msg.startswith("warning: 2 jobs x 2 torch threads on 2 cores") and "launcher.threads=1" in msg
