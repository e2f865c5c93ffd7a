"""``python -m qtbench.launch.close_parent FOLDER URI NAME RUN_ID``: mark a sweep's parent run FINISHED.

Started detached by :func:`qtbench.launch.sweep_state.finish_parent_later`, so that a sweep invocation
with nothing to launch returns without importing mlflow. Stands down when the sweep reopened the parent
meanwhile (a later invocation launched cells: its ``parent_closing`` record is gone or names another
process), so a live sweep's parent is never closed under its running children.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from qtbench.launch import sweep_state


def _still_mine(folder: Path, run_id: str) -> bool:
    meta = sweep_state.read_meta(folder)
    closing = meta.get("parent_closing") or {}
    return meta.get("parent_run_id") == run_id and closing.get("run_id") == run_id \
        and closing.get("pid") == os.getpid()


def main(argv: list[str]) -> int:
    folder, uri, name, run_id = Path(argv[0]), argv[1], argv[2], argv[3]
    # importing mlflow is the slow part (~1.5 s): ownership is checked again after it
    from qtbench.tracking.mlflow_tracker import Tracker

    if not _still_mine(folder, run_id):
        return 0
    tracker = Tracker(uri, sweep_state.experiment_name(name), name, run_id=run_id)
    if not _still_mine(folder, run_id):  # reopened while we opened it: leave it RUNNING
        return 0
    tracker.finish("FINISHED")
    sweep_state.write_meta(folder, parent_finished=run_id, parent_closing=None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
