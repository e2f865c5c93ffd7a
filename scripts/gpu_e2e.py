"""End-to-end check of the runner on a GPU, by hand (not collected by pytest: CI has no GPU).

    python scripts/gpu_e2e.py cuda      # or cpu

Runs ``runner.execute`` at smoke scale for mt+qualiteacher twice (two runs must agree), once stopped at step 8
and resumed from its checkpoint (must agree with the uninterrupted run), then mt, srconly and other frameworks.
It prints the largest metric gaps. MLflow is replaced by an in-memory stand-in, so the script also runs on a
GPU machine where mlflow is not installed. Everything else is the real runner. Results of the H100 run:
``results/bench/h100_e2e.txt`` (BENCHMARKS.md).
"""
import sys
import time

import memory_tracker

DEVICE = sys.argv[1] if len(sys.argv) > 1 else "cuda"
memory_tracker.install(verbose=True)
from qtbench.config.compose import compose_run
from qtbench.runner import execute


class Stop(Exception):
    pass

class StopAt:
    def __init__(self, at): self.at = at
    def start(self, **kw): pass
    def on_step(self, trainer):
        if trainer.step == self.at:
            raise Stop()

def run(method, runs, monitor=None, extra=()):
    cfg = compose_run(method, "dehaze", 0, "smoke", [f"runtime.device={DEVICE}", "runtime.progress=false",
                                                     "pl.checkpoint_every=4", *extra], runs_dir=runs)
    t = time.perf_counter()
    s = execute(cfg, monitor)
    m = s["metrics"]
    keys = ("student/target_psnr", "teacher/target_psnr", "base/target_psnr", "levels/spearman_rho")
    print(f"{method:<28} {time.perf_counter() - t:6.1f} s", {k: round(m[k], 4) for k in keys if k in m}, flush=True)
    return m

def gaps(a, b):
    keys = [k for k in a if k in b and isinstance(a[k], float) and a[k] == a[k] and b[k] == b[k]]
    worst = sorted(keys, key=lambda k: -abs(a[k] - b[k]))[:4]
    return ", ".join(f"{k} {abs(a[k] - b[k]):.2e}" for k in worst)

out = {}
out["full"] = run("mt+qualiteacher", "/tmp/runs_a")
out["again"] = run("mt+qualiteacher", "/tmp/runs_c")
print("two uninterrupted runs, largest gaps:", gaps(out["full"], out["again"]))
try:
    run("mt+qualiteacher", "/tmp/runs_b", StopAt(8))
except Stop:
    print("  interrupted at step 8")
out["resumed"] = run("mt+qualiteacher", "/tmp/runs_b")
print("resumed vs uninterrupted, largest gaps:", gaps(out["full"], out["resumed"]))
for m in ("mt", "srconly"):
    a, b = run(m, "/tmp/runs_a"), run(m, "/tmp/runs_c")
    print(f"{m}: two runs, largest gaps:", gaps(a, b))
