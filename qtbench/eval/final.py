"""A run's final evaluation: base, teacher and student on target-test, target-val and the real set.

PSNR/SSIM on target-test and target-val, the NR metrics of ``eval.nr_metrics`` (outputs and inputs, real photos
too), paired differences against the base, the student's trajectory, level diagnostics, measured reward agreement,
and the ``grid.png`` of the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from qtbench.engine.build import build_backbone
from qtbench.eval import base_eval_cache
from qtbench.eval.evaluate import evaluate_set, nr_scores, restore
from qtbench.eval.grid import save_grid
from qtbench.eval.levels import level_diagnostics, level_metrics


@dataclass
class FinalEval:
    """What the final evaluation measured.

    Args:
        metrics: flat metric name -> value (the summary's ``metrics``).
        per_image: per-image PSNR/SSIM of base, teacher and student on target-test.
        levels: level diagnostics (``qcond`` with ``diagnostics``), else None.
        addons: each add-on's summary, in method order.
    """

    metrics: dict[str, float]
    per_image: dict[str, list[float]]
    levels: Optional[dict[str, Any]]
    addons: dict[str, Any]


def mean_or_nan(x: np.ndarray) -> float:
    """Mean of ``x``, NaN for an empty set (a metric nobody could measure, not 0)."""
    return float(np.mean(x)) if len(x) else float("nan")


def final_evaluation(run: Any, trainer: Any) -> FinalEval:
    """Evaluate a run's base model, EMA teacher and student (:class:`qtbench.run_context.RunContext`,
    :class:`qtbench.engine.trainer.PLTrainer`) and write its ``grid.png``."""
    cfg, device, level, data = run.cfg, run.device, run.level, run.data
    test = data.evaluation.test
    base = build_backbone(cfg.backbone).to(device)
    base.load_state_dict(run.base_state)
    base.eval()
    models = {"base": (base, None), "teacher": (trainer.teacher, level), "student": (trainer.student, level)}
    metrics: dict[str, float] = {}
    per_image: dict[str, list[float]] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    nrs = list(cfg.eval.nr_metrics)
    real = data.evaluation.real

    def model_eval(name: str, model, lvl) -> tuple[dict[str, float], dict[str, list[float]]]:
        m: dict[str, float] = {}
        model.eval()
        res = evaluate_set(model, test, lvl, device)
        outputs[name] = res.outputs
        m[f"{name}/target_psnr"], m[f"{name}/target_ssim"] = mean_or_nan(res.psnr), mean_or_nan(res.ssim)
        pi = {f"{name}/target_psnr": res.psnr.tolist(), f"{name}/target_ssim": res.ssim.tolist()}
        val = evaluate_set(model, data.evaluation.val, lvl, device)
        m[f"{name}/val_psnr"], m[f"{name}/val_ssim"] = mean_or_nan(val.psnr), mean_or_nan(val.ssim)
        for nr in nrs:
            m[f"{name}/target_{nr}"] = mean_or_nan(nr_scores(nr, res.outputs))
            if real:
                m[f"{name}/real_{nr}"] = mean_or_nan(nr_scores(nr, restore(model, real, lvl, device)))
        return m, pi

    def base_and_inputs() -> dict[str, Any]:
        inp = evaluate_set(None, test, None, device)
        m = {"input/target_psnr": mean_or_nan(inp.psnr), "input/target_ssim": mean_or_nan(inp.ssim)}
        bm, pi = model_eval("base", base, None)
        m.update(bm)
        for nr in nrs:
            m[f"input/target_{nr}"] = mean_or_nan(nr_scores(nr, test.inputs))
            if real:
                m[f"input/real_{nr}"] = mean_or_nan(nr_scores(nr, real))
        return {"metrics": m, "per_image": pi}

    shared = base_eval_cache.cached(_base_cache_file(run, device), base_and_inputs)
    if "base" not in outputs:  # read from the cache: restore only what the grid shows
        outputs["base"] = restore(base, test.inputs[:min(cfg.eval.grid_images, len(test))], None, device)
    # the summary's key order of before the cache: inputs' FR metrics, base, teacher, student, inputs' NR metrics
    metrics.update({k: shared["metrics"][k] for k in ("input/target_psnr", "input/target_ssim")})
    metrics.update({k: v for k, v in shared["metrics"].items() if k.startswith("base/")})
    per_image.update(shared["per_image"])
    for name, (model, lvl) in models.items():
        if name != "base":
            m, pi = model_eval(name, model, lvl)
            metrics.update(m)
            per_image.update(pi)
    metrics.update({k: v for k, v in shared["metrics"].items() if k not in metrics})
    for name in ("teacher", "student"):
        for m in ("target_psnr", "target_ssim", "val_psnr"):
            metrics[f"delta/{name}-base/{m}"] = metrics[f"{name}/{m}"] - metrics[f"base/{m}"]
    for step, values in trainer.trajectory.items():
        metrics[f"trajectory/student/target_psnr@{step}"] = values["student/target_psnr"]
    addons = {name: a.summary() for name, a in run.method.by_name.items()}
    levels = None
    if "qcond" in run.method.by_name and cfg.addons.qcond.diagnostics:
        q = cfg.addons.qcond
        levels = level_diagnostics(trainer.student, trainer.teacher, test, run.ensemble, q.num_levels, device,
                                   q.diag_max_images)
        levels["pl_level_histogram"] = addons["qcond"]["pl_level_histogram"]
        metrics.update(level_metrics(levels))
    if trainer.probe is not None:  # measured reward agreement (docs/agreement.md)
        metrics.update(trainer.probe.metrics())

    k = min(cfg.eval.grid_images, len(test))
    rows = [[test.inputs[i], outputs["base"][i], outputs["student"][i], test.target(i)] for i in range(k)]
    save_grid(run.run_dir / "grid.png", [[im.astype(np.float32) / 255.0 for im in r] for r in rows],
              ["input", "base", f"student ({cfg.method})", "clean (hidden)"], [test.ids[i] for i in range(k)])
    return FinalEval(metrics, per_image, levels, addons)


def _base_cache_file(run: Any, device) -> Optional[Path]:
    """Where this run's base/input evaluation is cached (None: the base model is not a cached file)."""
    path = Path(str(run.base_info.get("path") or ""))
    if not path.is_file():
        return None
    data = run.data.evaluation
    images = list(data.test.inputs) + [data.test.target(i) for i in range(len(data.test))]
    images += list(data.val.inputs) + [data.val.target(i) for i in range(len(data.val))] + list(data.real)
    key = base_eval_cache.digest(path, images, list(run.cfg.eval.nr_metrics), str(getattr(device, "type", device)))
    return base_eval_cache.cache_path(path, key)
