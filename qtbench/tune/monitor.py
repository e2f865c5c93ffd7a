"""Target-val reports during the PL stage, for pruning.

:func:`qtbench.runner.execute` accepts a ``monitor``: it calls :meth:`ValMonitor.start` once the run's
data and MLflow run exist, and passes :meth:`ValMonitor.on_step` to the trainer, which calls it after every
PL step. At the chosen steps the monitor scores one model on the **val** split (never test), logs the value
to the run and hands it to ``on_report`` (an Optuna trial's ``report`` + ``should_prune``), which may raise
to stop training. Evaluation runs under ``no_grad`` on a model that is put back in its previous mode and
touches no random generator, so a monitored run computes the same weights as an unmonitored one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

import numpy as np


def report_steps(iters: int, points: int) -> list[int]:
    """``points`` evenly spaced PL steps before the last one (a report at the end cannot save any time)."""
    if iters <= 1 or points <= 0:
        return []
    return sorted({max(1, round(iters * k / (points + 1))) for k in range(1, points + 1)} - {iters})


class ValMonitor:
    """Reports ``model``'s val ``measure`` at ``steps``.

    Args:
        steps: PL steps (1-based, after the update) to report at.
        model: ``student`` or ``teacher`` (a :class:`~qtbench.engine.trainer.PLTrainer` attribute).
        measure: ``psnr`` or ``ssim``.
        on_report: ``(step, value) -> None``; may raise (``optuna.TrialPruned``) to stop training.
        on_start: ``(mlflow_run_id) -> None``, called once the run's MLflow run exists.
    """

    def __init__(self, steps: Iterable[int], model: str, measure: str,
                 on_report: Callable[[int, float], None], on_start: Optional[Callable[[str], None]] = None) -> None:
        self.steps = {int(s) for s in steps}
        self.model, self.measure = model, measure
        self.on_report, self.on_start = on_report, on_start
        self.values: dict[int, float] = {}
        self.run_id: Optional[str] = None
        self._val = self._level = self._device = self._log = None

    def start(self, *, run_id: str, val: Any, level: Optional[int], device: Any,
              log: Callable[[dict[str, float], int], None]) -> None:
        """Bind the run's val set, inference level, device and MLflow logger (called by the runner)."""
        self.run_id, self._val, self._level, self._device, self._log = run_id, val, level, device, log
        if self.on_start is not None:
            self.on_start(run_id)

    def on_step(self, trainer: Any) -> None:
        """Trainer hook: report at the chosen steps."""
        step = int(trainer.step)
        if step not in self.steps or self._val is None:
            return
        from qtbench.eval.evaluate import evaluate_set

        model = getattr(trainer, self.model)
        was_training = model.training
        model.eval()
        res = evaluate_set(model, self._val, self._level, self._device, with_ssim=self.measure != "psnr")
        model.train(was_training)
        scores = res.psnr if self.measure == "psnr" else res.ssim
        value = float(np.mean(scores)) if len(scores) else float("nan")
        self.values[step] = value
        self._log({"tune/intermediate": value, f"tune/{self.model}_val_{self.measure}": value}, step)
        self.on_report(step, value)
