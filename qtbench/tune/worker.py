"""A tuning worker: take trials until the study has ``target`` finished ones (COMPLETE + PRUNED).

Run as ``python -m qtbench.tune.worker SPEC.json INDEX`` (local launcher) or as the function
:func:`work` (submitit on SLURM). Workers coordinate only through the study's storage:

- before each trial a worker fails trials whose heartbeat stopped (their worker died) and Optuna's retry
  callback re-enqueues them as WAITING trials, which ``ask`` hands out first;
- a worker starts a trial only while finished + running < target, so the study does not overshoot
  (two workers deciding at the same instant can still add one extra trial each);
- when the remaining trials are all running elsewhere it waits and re-checks instead of leaving, so a
  trial whose worker dies is still retried by someone.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

# a worker that waits polls at most this often (seconds): fast enough for tests, cheap on NFS
MAX_POLL_S = 5.0


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", message=".*constant_liar.*")


def work(spec_path: str, index: int) -> int:
    """Run trials of the study described by ``spec_path``; return the number this worker finished.

    Args:
        spec_path: the invocation's :class:`StudySpec` JSON (written by the driver).
        index: worker number (for its log lines).

    Returns:
        Trials this worker finished (COMPLETE or PRUNED).

    Raises:
        RuntimeError: ``max_failures`` trials in a row failed for a reason other than divergence.
    """
    from optuna.storages import fail_stale_trials
    from optuna.trial import TrialState

    from qtbench.tune.algorithms import make_pruner, make_sampler
    from qtbench.tune.study import StudySpec, counts, finished, open_study
    from qtbench.tune.trial import TrialObjective

    _quiet()
    spec = StudySpec.load(Path(spec_path))
    study = open_study(spec, make_sampler(spec.sampler, None), make_pruner(spec.pruner, spec.pruner_args),
                       create=False)
    objective = TrialObjective(spec)
    log = logging.getLogger("qtbench.tune.worker")
    done = failures = 0
    poll = min(MAX_POLL_S, float(spec.heartbeat_interval))
    last: list[Any] = []
    while True:
        fail_stale_trials(study)  # a dead worker's trial -> FAIL -> retried (WAITING)
        c = counts(study)
        if finished(c) >= spec.target:
            return done
        if finished(c) + c.get("RUNNING", 0) >= spec.target and not c.get("WAITING", 0):
            time.sleep(poll)  # the rest is running elsewhere; stay to retry it if its worker dies
            continue
        last.clear()
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[lambda s, t: last.append(t)],
                       gc_after_trial=True)
        t = last[0] if last else None
        if t is not None and t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done, failures = done + 1, 0
        elif t is not None and not t.user_attrs.get("diverged"):
            failures += 1
            log.warning("trial %s failed: %s", t.number, t.user_attrs.get("error", "?"))
            if failures >= spec.max_failures:
                raise RuntimeError(f"{failures} trials in a row failed; last: {t.user_attrs.get('error', '?')}")
        print(f"worker {index}: trial {t.number if t else '?'} {t.state.name if t else '?'}", flush=True)
    return done  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    """Entry point of a local worker process."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m qtbench.tune.worker SPEC.json INDEX", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        n = work(args[0], int(args[1]))
    except RuntimeError as exc:
        print(f"worker {args[1]}: stopped: {exc}", file=sys.stderr)
        return 1
    print(f"worker {args[1]}: finished {n} trial(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
