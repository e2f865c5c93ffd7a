"""Shared pieces of the tuning tests: a tiny space over plain-MT keys and the smoke command line."""

from __future__ import annotations

from pathlib import Path

# Plain MT at smoke scale with a short PL stage: the tests exercise the tuner, not the method.
TUNE = ("tune", "--method", "mt", "--task", "dehaze", "--scale", "smoke")
# what a tuning test never reads (NR metrics, the test-set trajectory) off, a barely trained base model and
# small batches: the tests exercise the tuner, so each trial only has to be a real (tiny) run
CHEAP = ("eval.nr_metrics=[]", "pl.trajectory_points=0", "pl.batch_source=2", "pl.batch_target=2", "base.iters=8")
SPACE = """
params:
  pl.w_pl: {type: float, low: 0.5, high: 2.0}
  pl.lr: {type: float, low: 1e-4, high: 1e-3, log: true}
"""


def write_space(folder: Path, text: str = SPACE, name: str = "space.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def load_study(runs: Path, name: str):
    """Read a study's journal the plain Optuna way (what any user could do)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal = runs / "tuning" / name / "journal.log"
    return optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(journal))))


def states(study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out
