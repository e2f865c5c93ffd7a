"""One run, end to end (docs/architecture.md §3): data -> cached base model -> PL stage -> evaluation -> MLflow.

``<run_dir>/summary.json`` is written last, atomically: it marks the run finished and is the contract
later commands (tables, plots, sweeps) read.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from qtbench import atomic, registry
from qtbench.config.compose import config_hash, identity, run_dir
from qtbench.engine import checkpoint
from qtbench.engine.base_stage import get_base_model
from qtbench.engine.build import build_backbone, resolve_device
from qtbench.engine.trainer import PLTrainer
from qtbench.engine.interrupt import Preempted
from qtbench.errors import UserError
from qtbench.eval.evaluate import evaluate_set, nr_scores, restore
from qtbench.eval.grid import save_grid
from qtbench.eval.levels import level_diagnostics, level_metrics, reward_metric_names
from qtbench.engine.factory import create_method
from qtbench.paths import ensure_writable  # noqa: F401 - re-exported (cli run imports it from here)

SUMMARY = "summary.json"


def finished_summary(cfg: DictConfig) -> Optional[dict]:
    """The summary of an already finished run with the same identity, if any."""
    path = run_dir(cfg) / SUMMARY
    if path.exists():
        summary = json.loads(path.read_text())
        if summary.get("config_hash") == config_hash(cfg):
            return summary
    return None


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def _tracker(cfg: DictConfig, h: str, run_id: Optional[str], oracle: bool, oracle_reward: bool = False):
    from qtbench.tracking.mlflow_tracker import Tracker, default_tracking_uri, run_tags

    runs = Path(cfg.runtime.runs_dir)
    uri = cfg.runtime.tracking_uri or default_tracking_uri(runs)
    tags = run_tags(h)
    tags.update({"qtbench.method": cfg.method, "qtbench.task": cfg.task.name, "qtbench.seed": str(cfg.seed),
                 "qtbench.scale": cfg.scale, "qtbench.uses_target_labels": str(oracle or oracle_reward).lower()})
    if oracle_reward:  # the reward read hidden clean targets (fidelity / iqa.agreement): flagged like the oracle
        tags["qtbench.oracle_reward"] = "true"
    rt = cfg.runtime
    tags.update({str(k): str(v) for k, v in (rt.get("tags") or {}).items()})
    if rt.get("parent_run_id"):  # a sweep's cell: nested under the sweep's parent run
        tags["mlflow.parentRunId"] = rt.parent_run_id
    experiment = rt.get("experiment") or f"qtbench-{cfg.task.name}"
    return Tracker(uri, experiment, f"{cfg.method}-{cfg.task.name}-s{cfg.seed}", run_id=run_id, tags=tags)


def build_iqa(cfg: DictConfig, data: Any, device: torch.device, progress: bool) -> torch.nn.Module:
    """The run's IQA ensemble (built once, only when the framework or an add-on ``needs_iqa``; fitted members
    are cached)."""
    from qtbench.iqa.api import IQAContext
    from qtbench.iqa.ensemble import build_ensemble

    ctx = IQAContext(task=cfg.task.name, seed=cfg.seed, data_key=data.key, train=data.train, device=device,
                     progress=progress)
    return build_ensemble(cfg.iqa, ctx, scale=cfg.scale)


def _check_weight_files(cfg: DictConfig, needs_iqa: bool) -> None:
    """Missing weight files of eval NR metrics and pyiqa ensemble members fail now, before data and base model.

    Raises:
        UserError: names the file, the cache dir and the fetch command (qtbench.iqa.weights).
    """
    from qtbench.eval.metrics import nr_metric
    from qtbench.iqa import weights
    from qtbench.iqa.config import resolve_preset
    from qtbench.iqa.presets import preset_members

    for nr in cfg.eval.nr_metrics:
        nr_metric(nr)
    if needs_iqa:
        members = list(cfg.iqa.members) or preset_members(resolve_preset(cfg.iqa.preset, cfg.scale))
        for m in members:
            if m.name not in registry.iqa:
                weights.require(m.name)


def execute(cfg: DictConfig, monitor: Any = None) -> dict[str, Any]:
    """Run (or resume, or reuse) the run described by ``cfg``; return its summary.

    Args:
        cfg: the composed run config.
        monitor: optional target-val monitor (:class:`qtbench.tune.monitor.ValMonitor`): started with the
            run's val set and MLflow run, then called after every PL step; it may raise to stop training.
    """
    done = finished_summary(cfg)
    if done is not None:
        return dict(done, reused=True)
    from qtbench.launch.runlock import run_lock

    with run_lock(run_dir(cfg)):  # never two trainings of one identity, whichever launcher started them
        done = finished_summary(cfg)  # finished while this process waited for its turn
        if done is not None:
            return dict(done, reused=True)
        return _execute_locked(cfg, monitor)


def _execute_locked(cfg: DictConfig, monitor: Any) -> dict[str, Any]:
    """:func:`execute` once the run folder's lock is held."""
    t_start = time.perf_counter()
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    device = resolve_device(cfg.runtime.device)
    progress = bool(cfg.runtime.progress)
    h = config_hash(cfg)
    rd = run_dir(cfg)
    method = create_method(cfg)
    framework, addons, oracle = method.framework, method.addons, method.oracle
    _check_weight_files(cfg, method.needs_iqa)  # before anything is written
    rd.mkdir(parents=True, exist_ok=True)
    atomic.write_text(rd / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    task = registry.tasks.get(cfg.task.name).obj(cfg.task)
    data = task.build(cfg.seed, progress=progress)
    base_state, base_info = get_base_model(cfg, data.train, device, progress)
    ensemble = build_iqa(cfg, data, device, progress) if method.needs_iqa else None

    oracle_reward = ensemble is not None and bool(ensemble.needs_reference)
    previous = checkpoint.load(rd)
    tracker = _tracker(cfg, h, previous["mlflow_run_id"] if previous else None, oracle, oracle_reward)
    if previous is None:
        from qtbench.tracking.mlflow_tracker import flatten

        tracker.log_params(flatten(identity(cfg)))
        tracker.log_dict(OmegaConf.to_container(cfg, resolve=True), "config.json")
        if ensemble is not None:
            tracker.log_params({"iqa_preset": ensemble.preset})

    level = cfg.eval.level
    if level is None:
        levels = [a.inference_level() for a in method.by_name.values() if a.inference_level() is not None]
        level = levels[0] if levels else None
    test = data.evaluation.test

    def trajectory_eval(student: torch.nn.Module) -> dict[str, float]:
        return {"student/target_psnr": _mean(evaluate_set(student, test, level, device).psnr)}

    if monitor is not None:  # tuning: val (never test) reports during training, for pruning
        monitor.start(run_id=tracker.run_id, val=data.evaluation.val, level=level, device=device,
                      log=tracker.log_metrics)
    trainer = PLTrainer(cfg, data.train, base_state, framework, addons, rd, device, trajectory_eval,
                        tracker.log_metrics, progress, ensemble=ensemble,
                        on_step=monitor.on_step if monitor is not None else None)
    try:
        trainer.fit({"mlflow_run_id": tracker.run_id, "config_hash": h})
    except BaseException as exc:
        if not isinstance(exc, Preempted):  # a preempted run stays RUNNING: its requeued job resumes it
            try:
                tracker.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
            except UserError:  # the store itself is broken: report the original failure, not this one
                pass
        raise

    # -- final evaluation --------------------------------------------------------------------------
    base = build_backbone(cfg.backbone).to(device)
    base.load_state_dict(base_state)
    models = {"base": (base, None), "teacher": (trainer.teacher, level), "student": (trainer.student, level)}
    metrics: dict[str, float] = {}
    per_image: dict[str, list[float]] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    inp = evaluate_set(None, test, None, device)
    metrics["input/target_psnr"], metrics["input/target_ssim"] = _mean(inp.psnr), _mean(inp.ssim)
    for name, (model, lvl) in models.items():
        model.eval()
        res = evaluate_set(model, test, lvl, device)
        outputs[name] = res.outputs
        metrics[f"{name}/target_psnr"], metrics[f"{name}/target_ssim"] = _mean(res.psnr), _mean(res.ssim)
        per_image[f"{name}/target_psnr"], per_image[f"{name}/target_ssim"] = res.psnr.tolist(), res.ssim.tolist()
        val = evaluate_set(model, data.evaluation.val, lvl, device)
        metrics[f"{name}/val_psnr"], metrics[f"{name}/val_ssim"] = _mean(val.psnr), _mean(val.ssim)
        for nr in cfg.eval.nr_metrics:
            metrics[f"{name}/target_{nr}"] = _mean(nr_scores(nr, res.outputs))
            if data.evaluation.real:
                metrics[f"{name}/real_{nr}"] = _mean(nr_scores(nr, restore(model, data.evaluation.real, lvl, device)))
    for nr in cfg.eval.nr_metrics:
        metrics[f"input/target_{nr}"] = _mean(nr_scores(nr, test.inputs))
        if data.evaluation.real:
            metrics[f"input/real_{nr}"] = _mean(nr_scores(nr, data.evaluation.real))
    for name in ("teacher", "student"):
        for m in ("target_psnr", "target_ssim", "val_psnr"):
            metrics[f"delta/{name}-base/{m}"] = metrics[f"{name}/{m}"] - metrics[f"base/{m}"]
    for step, values in trainer.trajectory.items():
        metrics[f"trajectory/student/target_psnr@{step}"] = values["student/target_psnr"]
    addon_summaries = {name: a.summary() for name, a in method.by_name.items()}
    levels = None
    if "qcond" in method.by_name and cfg.addons.qcond.diagnostics:
        q = cfg.addons.qcond
        levels = level_diagnostics(trainer.student, trainer.teacher, test, ensemble, q.num_levels, device,
                                   q.diag_max_images)
        levels["pl_level_histogram"] = addon_summaries["qcond"]["pl_level_histogram"]
        metrics.update(level_metrics(levels))
    if trainer.probe is not None:  # measured reward agreement (docs/agreement.md)
        metrics.update(trainer.probe.metrics())

    k = min(cfg.eval.grid_images, len(test))
    rows = [[test.inputs[i], outputs["base"][i], outputs["student"][i], test.target(i)] for i in range(k)]
    save_grid(rd / "grid.png", [[im.astype(np.float32) / 255.0 for im in r] for r in rows],
              ["input", "base", f"student ({cfg.method})", "clean (hidden)"], [test.ids[i] for i in range(k)])

    pl_iters = max(1, cfg.pl.iters)
    timing = {
        "s_per_iter": trainer.run_seconds / pl_iters,
        "wall_s": time.perf_counter() - t_start,
        "pl_seconds": trainer.run_seconds,
        "base_train_seconds": base_info["train_seconds"],
        "base_cached": base_info["cached"],
        "stages": {k: v for k, v in trainer.timer.state_dict().items()},
    }
    summary = {
        "method": cfg.method,
        "task": cfg.task.name,
        "seed": cfg.seed,
        "scale": cfg.scale,
        "pool": cfg.task.data.pool,
        "config_hash": h,
        "mlflow_run_id": tracker.run_id,
        "uses_target_labels": oracle or oracle_reward,
        # the reward read hidden clean targets: an oracle number, never a method's result (docs/agreement.md)
        "oracle_reward": oracle_reward,
        "agreement": {"alpha": float(cfg.iqa.agreement.alpha), "sigma": float(cfg.iqa.agreement.sigma),
                      "every": int(cfg.iqa.agreement.every),
                      "n_candidates": trainer.probe.n if trainer.probe is not None else 0},
        "inference_level": level,
        "metrics": metrics,
        "per_image": per_image,
        "test_ids": list(test.ids),
        "split_sizes": {k: len(v) for k, v in data.split.items()},
        "n_real": len(data.evaluation.real),
        "real_set": task.real_set_note(len(data.evaluation.real)),  # "no real set: ..." for derain/desnow (no real photos offline)
        "skipped_files": list(data.skipped),  # unreadable own-data files skipped with task.data.skip_bad
        "iqa_preset": ensemble.preset if ensemble is not None else None,
        # NR metrics that were also training signals (ensemble members): flagged in tables
        "reward_metrics": reward_metric_names(ensemble, set(registry.iqa.names())),
        "levels": levels,
        "addons": addon_summaries,
        "framework": framework.summary(),
        "base_model": base_info,
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
