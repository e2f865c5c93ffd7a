"""Run a few cpu-scale cells on a lent GPU and append one JSON line each; a by-hand check (not collected by pytest).

    python scripts/gpu_cells.py OUT_JSONL TASK SEED METHOD[@KEY=VALUE,...] [METHOD...] [-- OVERRIDE...]

Each METHOD runs on the debian pool at cpu scale with ``runtime.device=cuda`` (``QTBENCH_DEVICE`` overrides), the
overrides after ``--`` applying to all of them and ``@KEY=VALUE,...`` to that one. A row holds the target-val and
target-test deltas against the base of the same seed; decisions read the val columns only (docs/architecture.md: no tuning on
the test split). MLflow is replaced by an in-memory stand-in (the GPU machines have no mlflow); everything else is
the real runner. The debian pool travels to the device as lossless WebP and is decoded back to PNG
(pixel-identical; the manifest and cache keys are unchanged).

Recorded checks (H200, 2026-11-27; BENCHMARKS.md "Five tasks"):
- ``results/checks/derain_base_iters.jsonl``: ``derain S srconly mt -- base.iters=B`` for S in 0-2, B in
  {2000, 8000}: is derain's base under-trained (is that why srconly gains +1.7 dB)?
- ``results/checks/strong_on_source.jsonl``: ``TASK S srconly mt mt@strong.on_source=true`` for the five
  tasks and S in 0-2: does MT add anything over srconly once both source branches see the strong view?
"""
import json
import os
import sys
import time

import memory_tracker

memory_tracker.install()  # before the runner is imported
from qtbench.config.compose import compose_run
from qtbench.runner import execute

KEYS = ("base/val_psnr", "delta/student-base/val_psnr", "delta/student-base/target_psnr",
        "delta/teacher-base/val_psnr", "base/target_psnr", "delta/student-base/target_ssim")


def main(out: str, task: str, seed: int, specs: list[str], common: list[str]) -> None:
    device = os.environ.get("QTBENCH_DEVICE", "cuda")
    for spec in specs:
        method, _, own = spec.partition("@")
        overrides = ["task.data.pool=debian", f"runtime.device={device}", "runtime.progress=false",
                     "runtime.threads=1", *common, *[o for o in own.split(",") if o]]
        cfg = compose_run(method, task, seed, "cpu", overrides, runs_dir="/tmp/runs_gpu_cells")
        t = time.perf_counter()
        s = execute(cfg, None)
        row = {"task": task, "seed": seed, "method": spec, "overrides": common, "base_iters": cfg.base.iters,
               "seconds": round(time.perf_counter() - t, 1), **{k: s["metrics"][k] for k in KEYS if k in s["metrics"]}}
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    cut = args.index("--") if "--" in args else len(args)
    main(args[0], args[1], int(args[2]), args[3:cut], args[cut + 1:])
