"""One run, end to end (docs/architecture.md §3): build -> fit (PL stage) -> final evaluation -> summary.

``<run_dir>/summary.json`` is written last, atomically: it marks the run finished and is the contract
later commands (tables, plots, sweeps) read.
"""

from __future__ import annotations

import json
import time
from typing import Any, Optional

import numpy as np
import torch
from omegaconf import DictConfig

from qtbench import atomic, registry
from qtbench.config.compose import config_hash, run_dir
from qtbench.engine.interrupt import Preempted
from qtbench.engine.trainer import PLTrainer
from qtbench.errors import UserError
from qtbench.eval.evaluate import evaluate_set
from qtbench.eval.final import FinalEval, final_evaluation, mean_or_nan
from qtbench.engine.factory import Method
from qtbench.eval.levels import reward_metric_names
from qtbench.paths import ensure_writable  # noqa: F401 - re-exported (cli run imports it from here)
from qtbench.run_context import RunContext, build_iqa, build_run, preflight  # noqa: F401 - build_iqa re-exported (bench)

SUMMARY = "summary.json"


def finished_summary(cfg: DictConfig) -> Optional[dict]:
    """The summary of an already finished run with the same identity, if any."""
    path = run_dir(cfg) / SUMMARY
    if path.exists():
        summary = json.loads(path.read_text())
        if summary.get("config_hash") == config_hash(cfg):
            return summary
    return None


def execute(cfg: DictConfig, monitor: Any = None, method: Optional[Method] = None) -> dict[str, Any]:
    """Run (or resume, or reuse) the run described by ``cfg``; return its summary.

    Args:
        cfg: the composed run config.
        monitor: optional target-val monitor (:class:`qtbench.tune.monitor.ValMonitor`): started with the
            run's val set and MLflow run, then called after every PL step; it may raise to stop training.
        method: ``cfg``'s method from :func:`preflight`, when the caller already checked it.
    """
    done = finished_summary(cfg)
    if done is not None:
        return dict(done, reused=True)
    from qtbench.launch.runlock import run_lock

    method = method or preflight(cfg)  # a missing weight file fails before the lock creates the run folder
    with run_lock(run_dir(cfg)):  # never two trainings of one identity, whichever launcher started them
        done = finished_summary(cfg)  # finished while this process waited for its turn
        if done is not None:
            return dict(done, reused=True)
        run = build_run(cfg, method)
        trainer = fit(run, monitor)
        return write_summary(run, trainer, final_evaluation(run, trainer))


def fit(run: RunContext, monitor: Any = None) -> PLTrainer:
    """The PL stage from the run's checkpoint (or step 0); a failure marks the MLflow run FAILED or KILLED."""
    cfg, test, tracker = run.cfg, run.data.evaluation.test, run.tracker

    def trajectory_eval(student: torch.nn.Module) -> dict[str, float]:
        res = evaluate_set(student, test, run.level, run.device, with_ssim=False)
        return {"student/target_psnr": mean_or_nan(res.psnr)}

    if monitor is not None:  # tuning: val (never test) reports during training, for pruning
        monitor.start(run_id=tracker.run_id, val=run.data.evaluation.val, level=run.level, device=run.device,
                      log=tracker.log_metrics)
    trainer = PLTrainer(cfg, run.data.train, run.base_state, run.method.framework, run.method.addons, run.run_dir,
                        run.device, trajectory_eval, tracker.log_metrics, run.progress, ensemble=run.ensemble,
                        on_step=monitor.on_step if monitor is not None else None)
    try:
        trainer.fit({"mlflow_run_id": tracker.run_id, "config_hash": run.config_hash})
    except BaseException as exc:
        if not isinstance(exc, Preempted):  # a preempted run stays RUNNING: its requeued job resumes it
            try:
                tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            except UserError:  # the store itself is broken: report the original failure, not this one
                pass
        raise
    return trainer


def write_summary(run: RunContext, trainer: PLTrainer, final: FinalEval) -> dict[str, Any]:
    """Assemble ``summary.json``, log metrics and artifacts, finish the MLflow run; return the summary."""
    cfg, rd, tracker, data, ensemble = run.cfg, run.run_dir, run.tracker, run.data, run.ensemble
    metrics, oracle, oracle_reward = final.metrics, run.method.oracle, run.oracle_reward
    test = data.evaluation.test
    pl_iters = max(1, cfg.pl.iters)
    timing = {
        "s_per_iter": trainer.run_seconds / pl_iters,
        "wall_s": time.perf_counter() - run.t_start,
        "pl_seconds": trainer.run_seconds,
        "base_train_seconds": run.base_info["train_seconds"],
        "base_cached": run.base_info["cached"],
        "stages": {k: v for k, v in trainer.timer.state_dict().items()},
    }
    summary = {
        "method": cfg.method,
        "task": cfg.task.name,
        "seed": cfg.seed,
        "scale": cfg.scale,
        "pool": cfg.task.data.pool,
        "config_hash": run.config_hash,
        "mlflow_run_id": tracker.run_id,
        "uses_target_labels": oracle or oracle_reward,
        # the reward read hidden clean targets: an oracle number, never a method's result (docs/agreement.md)
        "oracle_reward": oracle_reward,
        "agreement": {"alpha": float(cfg.iqa.agreement.alpha), "sigma": float(cfg.iqa.agreement.sigma),
                      "every": int(cfg.iqa.agreement.every),
                      "n_candidates": trainer.probe.n if trainer.probe is not None else 0},
        "inference_level": run.level,
        "metrics": metrics,
        "per_image": final.per_image,
        "test_ids": list(test.ids),
        "split_sizes": {k: len(v) for k, v in data.split.items()},
        "n_real": len(data.evaluation.real),
        "real_set": run.task.real_set_note(len(data.evaluation.real)),  # "no real set: ..." for derain/desnow (no real photos offline)
        "skipped_files": list(data.skipped),  # unreadable own-data files skipped with task.data.skip_bad
        "iqa_preset": ensemble.preset if ensemble is not None else None,
        # NR metrics that were also training signals (ensemble members): flagged in tables
        "reward_metrics": reward_metric_names(ensemble, set(registry.iqa.names())),
        "levels": final.levels,
        "addons": final.addons,
        "framework": run.method.framework.summary(),
        "base_model": run.base_info,
        "timing": timing,
        "run_dir": str(rd),
    }
    tracker.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
    tracker.log_metrics({"timing/s_per_iter": timing["s_per_iter"], "timing/wall_s": timing["wall_s"],
                         **{f"timing/{k}_s": v for k, v in timing["stages"].items()}})
    atomic.write_json(rd / SUMMARY, summary)
    for name in ("config.yaml", SUMMARY, "grid.png"):
        tracker.log_artifact(rd / name)
    tracker.finish()
    return summary
