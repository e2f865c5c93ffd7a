"""An in-memory stand-in for the MLflow tracker, for the by-hand GPU scripts (the GPU machines have no mlflow)."""

from qtbench.tracking import mlflow_tracker


class MemoryTracker:
    """Takes the tracker's calls and records nothing; prints the final status when ``verbose``."""

    verbose = False

    def __init__(self, uri, experiment, name, run_id=None, tags=None, **kw):
        self.run_id = run_id or f"mem-{name}"

    def log_params(self, p): pass
    def log_metrics(self, m, step=None): pass
    def log_artifact(self, path, artifact_path=None): pass
    def log_dict(self, obj, name): pass

    def finish(self, status="FINISHED"):
        if self.verbose:
            print("  tracker:", status)


def install(verbose: bool = False) -> None:
    """Replace the MLflow tracker; call before ``qtbench.runner`` is imported."""
    MemoryTracker.verbose = verbose
    mlflow_tracker.Tracker = MemoryTracker
