"""A run's final evaluation: base, teacher and student on target-test, target-val and the real set.

PSNR/SSIM on target-test and target-val, the NR metrics of ``eval.nr_metrics`` (outputs and inputs, real photos
too), paired differences against the base, the student's trajectory, level diagnostics, measured reward agreement,
and the ``grid.png`` of the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from qtbench.engine.build import build_backbone
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
    models = {"base": (base, None), "teacher": (trainer.teacher, level), "student": (trainer.student, level)}
    metrics: dict[str, float] = {}
    per_image: dict[str, list[float]] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    inp = evaluate_set(None, test, None, device)
    metrics["input/target_psnr"], metrics["input/target_ssim"] = mean_or_nan(inp.psnr), mean_or_nan(inp.ssim)
    for name, (model, lvl) in models.items():
        model.eval()
        res = evaluate_set(model, test, lvl, device)
        outputs[name] = res.outputs
        metrics[f"{name}/target_psnr"], metrics[f"{name}/target_ssim"] = mean_or_nan(res.psnr), mean_or_nan(res.ssim)
        per_image[f"{name}/target_psnr"], per_image[f"{name}/target_ssim"] = res.psnr.tolist(), res.ssim.tolist()
        val = evaluate_set(model, data.evaluation.val, lvl, device)
        metrics[f"{name}/val_psnr"], metrics[f"{name}/val_ssim"] = mean_or_nan(val.psnr), mean_or_nan(val.ssim)
        for nr in cfg.eval.nr_metrics:
            metrics[f"{name}/target_{nr}"] = mean_or_nan(nr_scores(nr, res.outputs))
            if data.evaluation.real:
                metrics[f"{name}/real_{nr}"] = mean_or_nan(nr_scores(nr, restore(model, data.evaluation.real, lvl, device)))
    for nr in cfg.eval.nr_metrics:
        metrics[f"input/target_{nr}"] = mean_or_nan(nr_scores(nr, test.inputs))
        if data.evaluation.real:
            metrics[f"input/real_{nr}"] = mean_or_nan(nr_scores(nr, data.evaluation.real))
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
