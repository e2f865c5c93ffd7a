"""`qtbench sweep status` on a runs folder where no `qtbench sweep` ran yet (e.g. filled by `archive import`)."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

SWEEP = """\
name: fresh
scale: smoke
axes:
  methods: [mt, srconly]
  seeds: [0, 1]
table: {rows: method, metrics: [delta/student-base/target_psnr]}
"""


def test_status_expands_the_sweep_file_and_writes_nothing(tmp_path):
    f = tmp_path / "fresh.yaml"
    f.write_text(SWEEP)
    runs = tmp_path / "runs"
    out = run_cli("sweep", "status", str(f), "--runs-dir", str(runs))
    assert out.returncode == 0, out.stderr
    assert "expanded from" in out.stdout and "4 cells; 0 done, 0 running, 0 failed, 4 pending" in out.stdout
    assert not runs.exists()


def test_status_of_an_unknown_sweep_says_how_to_name_its_file(tmp_path):
    out = run_cli("sweep", "status", "NOSUCH", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "no sweep file sweeps/NOSUCH.yaml" in out.stderr and out.stderr.count("\n") == 1
