"""Sweep files: shape checks with line numbers, expansion (grid, zip, include), identity, dry run, plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from qtbench.errors import UserError
from qtbench.launch.sweep_file import load_sweep

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: t
scale: smoke
base: [pl.iters=2]
axes:
  methods: [mt, srconly]
  seeds: [0, 1]
  grid: {pl.lr: [1.0e-4, 2.0e-4]}
  zip: [{pl.w_pl: [0.5, 1.0], pl.w_sup: [1.0, 2.0]}]
include:
  - {method: oracle}
table: {rows: method, columns: pl.lr, metrics: [delta/student-base/target_psnr]}
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_axes_expand_to_the_product_plus_includes(tmp_path):
    spec = load_sweep(_write(tmp_path, GOOD))
    assert len(spec.cells) == 2 * 2 * 2 * 2 + 2  # methods x seeds x grid x zip, + oracle x seeds
    c = spec.cells[0]
    assert c.overrides == ("pl.iters=2", "pl.lr=0.0001", "pl.w_pl=0.5", "pl.w_sup=1.0")
    assert spec.cells[-1].method == "oracle" and spec.cells[-1].line == 10


@pytest.mark.parametrize("text, line, message", [
    (GOOD.replace("  seeds:", "  seedz:"), 6, "unknown axis key 'seedz'"),
    (GOOD.replace("seeds: [0, 1]", "seeds: []"), 6, "is empty"),
    (GOOD.replace("name: t", "nme: t"), 1, "unknown key 'nme'"),
    (GOOD.replace("pl.w_sup: [1.0, 2.0]", "pl.w_sup: [1.0]"), 8, "differ in length"),
    (GOOD.replace("rows: method", "rows: methd"), 11, "not an axis"),
    (GOOD.replace("seeds: [0, 1]", "seeds: [0, a]"), 6, "wrong type"),
])
def test_bad_sweep_files_name_the_line(tmp_path, text, line, message):
    p = _write(tmp_path, text)
    with pytest.raises(UserError) as e:
        load_sweep(p)
    assert f"{p}:{line}:" in str(e.value) and message in str(e.value)


@pytest.mark.parametrize("text, line, message", [
    (GOOD.replace("[mt, srconly]", "[mt, mtt]"), 5, "unknown framework"),
    (GOOD.replace("[mt, srconly]", "[mt, mt]"), 5, "duplicate cell"),
    (GOOD.replace("base: [pl.iters=2]", "base: [pl.iterz=2]"), 5, "pl.iterz"),
])
@pytest.mark.slow
def test_bad_cells_fail_before_launching_anything(tmp_path, text, line, message):
    p = _write(tmp_path, text)
    runs = tmp_path / "runs"
    out = run_cli("sweep", str(p), "--runs-dir", str(runs), "--launcher", "slurm")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"{p}:{line}:" in out.stderr and message in out.stderr
    assert not runs.exists()


@pytest.mark.slow
def test_seed_sharing_gives_the_same_identity_as_a_direct_compose(tmp_path):
    from qtbench.config.compose import compose_run, config_hash
    from qtbench.launch.expand import expand

    cells = expand(load_sweep(_write(tmp_path, GOOD)), tmp_path / "runs")
    for c in cells[:: 5]:
        cfg = compose_run(c["method"], c["task"], c["seed"], "smoke", c["overrides"], runs_dir=str(tmp_path / "runs"))
        assert config_hash(cfg) == c["hash"]


@pytest.mark.slow
def test_dry_run_and_plan_write_nothing(tmp_path):
    p = _write(tmp_path, GOOD)
    runs = tmp_path / "runs"
    out = run_cli("sweep", str(p), "--dry-run", "--runs-dir", str(runs))
    assert out.returncode == 0, out.stderr
    assert "18 cells" in out.stdout and "18 pending" in out.stdout and "dry run" in out.stdout
    # the lowest seed of every row first (after each seed's first cell, which trains its base model)
    assert "launch order (--order seeds): cells 0, 4, 1, 2, 3, 8, 9, 10, 11, 16, 5, 6" in out.stdout
    out = run_cli("plan", str(p), "--runs-dir", str(runs), "--bench", str(ROOT / "results/bench/step.json"))
    assert out.returncode == 0, out.stderr
    # mt and srconly run the 4 settings of grid x zip, the oracle include none: not a product of the axes
    assert "18 cells over 3 methods x 1 tasks (dehaze) x 2 seeds (0, 1) x 4 override settings (not a full product" \
        in out.stdout and "smoke (the sweep's scale)" in out.stdout
    assert not runs.exists()


@pytest.mark.slow
def test_narrowing_seeds_or_tasks_chooses_what_to_launch_and_keeps_the_sweep(tmp_path):
    from qtbench.launch.sweep_file import with_overrides

    spec = load_sweep(_write(tmp_path, GOOD))
    narrowed = with_overrides(spec, seeds=[1])
    assert narrowed.cells == spec.cells  # parent run and table keep all 18 cells
    assert narrowed.launches("dehaze", 1) and not narrowed.launches("dehaze", 0)
    assert with_overrides(spec, tasks=["dehaze"]).launch_only == frozenset({("dehaze", 0), ("dehaze", 1)})
    assert with_overrides(spec).launch_only is None and spec.launches("dehaze", 0)
    extended = with_overrides(spec, seeds=[0, 5])  # a seed outside the file's: a different sweep
    assert extended.launch_only is None and sorted({c.seed for c in extended.cells}) == [0, 5]
    out = run_cli("sweep", str(tmp_path / "s.yaml"), "--seeds", "1", "--dry-run", "--runs-dir", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "18 cells" in out.stdout and "would launch 9 local processes" in out.stdout
    out = run_cli("sweep", str(tmp_path / "s.yaml"), "--cells", "0,3", "--dry-run", "--runs-dir", str(tmp_path / "r"))
    assert out.returncode == 0 and "18 cells" in out.stdout and "would launch 2 local processes" in out.stdout
    out = run_cli("sweep", str(tmp_path / "s.yaml"), "--cells", "3,99", "--dry-run", "--runs-dir", str(tmp_path / "r"))
    assert out.returncode == 2 and "no cell 99 in this sweep" in out.stderr and len(out.stderr.splitlines()) == 1


# Sweeps that replicate a 5-seed study's settings elsewhere may use 3 seeds (docs/agreement.md): the replicate on a
# task with a real set, and the faithfulness rows beside the study.
REPLICATES = {"reward_agreement_underwater", "reward_faithfulness"}


@pytest.mark.parametrize("path", sorted((ROOT / "sweeps").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_sweep_file_is_well_formed(path):
    spec = load_sweep(path)
    seeds = 3 if path.stem in REPLICATES else 5
    assert len({c.seed for c in spec.cells}) >= seeds, f"tables use >= {seeds} seeds (docs/architecture.md §2)"
    assert spec.table.get("metrics") and "qtbench sweep sweeps/" in path.read_text()


def test_launcher_settings_are_checked():
    from qtbench.launch.config import compose_launcher

    lc = compose_launcher("slurm", ["launcher.partition=gpu", "launcher.extra.exclude=n1"])
    assert lc.partition == "gpu" and lc.extra.exclude == "n1" and lc.array_parallelism >= 1
    with pytest.raises(UserError, match="partitoin"):
        compose_launcher("slurm", ["launcher.partitoin=gpu"])
    with pytest.raises(UserError, match="unknown launcher"):
        compose_launcher("pbs")


def test_sweep_command_line_is_named_qtbench(monkeypatch):
    """The parent run's ``qtbench.command`` tag: sys.argv shell-quoted, program name ``qtbench``."""
    from qtbench.cli.sweep_cmd import command_line

    monkeypatch.setattr("sys.argv", ["/venv/lib/qtbench/cli/main.py", "sweep", "my sweep.yaml", "pl.lr=1e-4"])
    assert command_line() == "qtbench sweep 'my sweep.yaml' pl.lr=1e-4"
