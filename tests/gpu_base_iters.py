"""Does a longer-trained base model remove the source-only control's gain? A by-hand check (not collected by pytest).

    python tests/gpu_base_iters.py OUT_JSONL TASK SEED BASE_ITERS[,BASE_ITERS...] [cuda|cpu] [OVERRIDE...]

Runs ``srconly`` and ``mt`` at cpu scale on the debian pool for one seed and each base length, and appends one
JSON line per run (target-val and target-test deltas against the same base) to OUT_JSONL. Decisions read the
val columns only (DESIGN.md: no tuning on the test split). Why it exists: at cpu scale the tasks sweep found
derain's ``srconly`` +1.70 dB over its base while ``mt`` gained +0.07 dB, which says the 2000-iteration base is
not converged on the source domain. Results: ``results/checks/derain_base_iters.*`` (BENCHMARKS.md).
MLflow is replaced by an in-memory stand-in (the GPU machines have no mlflow); everything else is the real runner.
The recorded run (H200, 2026-11-27): one process per seed and base length, the debian pool carried to the device
as lossless WebP and decoded back to PNG (pixel-identical; the pool's manifest and cache keys are unchanged).
"""
import json
import sys
import time

from qtbench.tracking import mlflow_tracker


class MemoryTracker:
    """Stands in for the MLflow tracker; records nothing."""

    def __init__(self, uri, experiment, name, run_id=None, tags=None, **kw):
        self.run_id = run_id or f"mem-{name}"

    def log_params(self, p): pass
    def log_metrics(self, m, step=None): pass
    def log_artifact(self, path, artifact_path=None): pass
    def log_dict(self, obj, name): pass
    def finish(self, status="FINISHED"): pass


mlflow_tracker.Tracker = MemoryTracker
from qtbench.config.compose import compose_run
from qtbench.runner import execute

KEYS = ("base/val_psnr", "delta/student-base/val_psnr", "delta/student-base/target_psnr",
        "delta/teacher-base/val_psnr", "base/target_psnr")


def main(out: str, task: str, seed: int, base_iters: list[int], device: str, extra: list[str]) -> None:
    for iters in base_iters:
        for method in ("srconly", "mt"):
            cfg = compose_run(method, task, seed, "cpu", [
                "task.data.pool=debian", f"base.iters={iters}", f"runtime.device={device}",
                "runtime.progress=false", "runtime.threads=2", *extra], runs_dir=f"/tmp/runs_{task}_{iters}")
            t = time.perf_counter()
            s = execute(cfg, None)
            row = {"task": task, "seed": seed, "base_iters": iters, "method": method,
                   "seconds": round(time.perf_counter() - t, 1), "base_train_seconds": s["timing"]["base_train_seconds"],
                   **{k: s["metrics"][k] for k in KEYS if k in s["metrics"]}}
            with open(out, "a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(x) for x in sys.argv[4].split(",")],
         sys.argv[5] if len(sys.argv) > 5 else "cuda", sys.argv[6:])
