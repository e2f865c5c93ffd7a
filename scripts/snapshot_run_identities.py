"""Write tests/fixtures/run_identities.json: the identity (config hash) of every cell of every committed sweep.

Run identities must never change by accident: a committed table is rebuilt from the runs whose hashes match its
sweep's cells, so a refactor that moved a hash would orphan every tracked run. ``tests/test_run_identities.py``
compares the current code against this snapshot. Re-snapshot only for a change that is *meant* to create new
identities, and say so in the commit message.

Usage: python scripts/snapshot_run_identities.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "fixtures" / "run_identities.json"


def current_identities(sweep_files: list[Path] | None = None) -> dict[str, dict[str, str]]:
    """``{sweep file name: {"method/task/s<seed>[ overrides]": config hash}}`` for the given (default: all) sweeps."""
    from qtbench.launch.expand import expand
    from qtbench.launch.sweep_file import load_sweep

    files = sweep_files if sweep_files is not None else sorted((ROOT / "sweeps").glob("*.yaml"))
    out: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as runs:
        for f in files:
            spec = load_sweep(f)
            cells = expand(spec, Path(runs), cache_file=None)
            out[f.name] = {
                f"{c['method']}/{c['task']}/s{c['seed']}" + "".join(f" {o}" for o in c["overrides"]): c["hash"]
                for c in cells
            }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the snapshot instead of writing it")
    args = ap.parse_args()
    now = current_identities()
    if args.check:
        old = json.loads(SNAPSHOT.read_text())
        moved = [(s, k) for s, cells in old.items() for k, h in cells.items() if now.get(s, {}).get(k) != h]
        for s, k in moved:
            print(f"moved: {s}: {k}")
        return 1 if moved else 0
    SNAPSHOT.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}: {sum(len(v) for v in now.values())} cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
