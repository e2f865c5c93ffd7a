"""Tuning workers as a SLURM job array sharing one journal file (needs sbatch; .ci/run starts a one-node cluster)."""

import shutil

import pytest
from conftest import run_cli
from tune_helpers import CHEAP, TUNE, load_study, states, write_space

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(shutil.which("sbatch") is None,
                       reason="no SLURM here (sbatch not on PATH); .ci/slurm-setup.sh starts a one-node cluster"),
]


def test_two_slurm_workers_share_the_study(tmp_path):
    runs = tmp_path / "runs"
    out = run_cli(*TUNE, "--space", str(write_space(tmp_path)), "--study", "s", "--runs-dir", str(runs),
                  "--n-trials", "3", "--launcher", "slurm", "--workers", "2", "--threads", "1",
                  "--slurm-param", "cpus_per_task=1", "--slurm-param", "mem_gb=2", "--slurm-param", "timeout_min=20",
                  "pl.iters=4", *CHEAP, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 slurm worker(s)" in out.stdout
    study = load_study(runs, "s")
    c = states(study)
    assert c.get("COMPLETE", 0) + c.get("PRUNED", 0) >= 3 and "RUNNING" not in c, c
