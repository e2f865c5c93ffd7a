"""Run identities do not move by accident: every committed sweep's cells hash as in the committed snapshot.

A committed table is rebuilt from the tracked runs whose config hashes match its sweep's cells; a refactor that
changed a hash would orphan those runs. The snapshot is written by ``scripts/snapshot_run_identities.py``.
"""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _snapshot_module():
    spec = importlib.util.spec_from_file_location("snapshot_run_identities", ROOT / "scripts" / "snapshot_run_identities.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_every_committed_sweep_cell_keeps_its_identity():
    snap = _snapshot_module()
    old = json.loads(snap.SNAPSHOT.read_text())
    files = [ROOT / "sweeps" / name for name in sorted(old)]
    now = snap.current_identities([f for f in files if f.exists()])
    assert set(now) == set(old), "a snapshotted sweep file disappeared: re-snapshot only if that was meant"
    moved = [f"{s}: {k}" for s, cells in old.items() for k, h in cells.items() if now[s].get(k) != h]
    assert not moved, f"{len(moved)} run identities changed, e.g. {moved[:3]}"
