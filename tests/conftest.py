"""Shared test setup: an isolated qtbench cache, offline hubs, and helpers to run the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session", autouse=True)
def qtbench_home(tmp_path_factory) -> Path:
    """One cache for the whole session (base models and synthetic data are shared between tests)."""
    home = tmp_path_factory.mktemp("qtbench_home")
    os.environ["QTBENCH_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return home


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``qtbench ARGS`` in a fresh interpreter (as a user would) and capture its output."""
    return subprocess.run([sys.executable, "-m", "qtbench.cli.main", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ))


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())


# Module fixtures that train a run or a study: every test that uses one belongs to the slow tier, whatever its own
# duration (the fixture's cost lands on whichever test of the module runs first). So do SLURM tests.
SLOW_FIXTURES = {"smoke_run", "study8"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        # real SLURM jobs take tens of seconds each (they are skipped where sbatch is missing)
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.slow)
