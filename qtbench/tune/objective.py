"""What a study optimises: a target-**val** summary metric and its direction.

Target-test is never an objective: it is what the tables report, so tuning on it would leak the test set
into the method. The objective is read from ``summary.json`` at the end of a trial; during training the
same model's val PSNR/SSIM is reported (:mod:`qtbench.tune.monitor`) so a pruner can stop it early.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from qtbench.errors import UserError

DEFAULT_METRIC = "student/val_psnr"  # the model the method ships (the student), scored on the val split
DIRECTIONS = ("maximize", "minimize")
# metrics whose direction needs no declaration: PSNR and SSIM are higher-better
_IMPLIED = {"psnr": "maximize", "ssim": "maximize"}
# student/val_psnr, teacher/val_ssim, delta/student-base/val_psnr: the model and measure to monitor
_MONITORABLE = re.compile(r"^(?:delta/)?(student|teacher)(?:-base)?/val_(psnr|ssim)$")


@dataclass(frozen=True)
class Objective:
    """A validated objective.

    Args:
        metric: a key of ``summary["metrics"]`` computed on target-val (a ``val_`` metric).
        direction: ``maximize`` or ``minimize``.
    """

    metric: str = DEFAULT_METRIC
    direction: str = "maximize"

    @property
    def monitored(self) -> Optional[tuple[str, str]]:
        """(model, measure) reported during training, or None when the metric has no per-step form."""
        m = _MONITORABLE.match(self.metric)
        return (m.group(1), m.group(2)) if m else None

    def value(self, summary: dict) -> float:
        """The objective value of a finished run."""
        metrics = summary["metrics"]
        if self.metric not in metrics:
            have = sorted(k for k in metrics if any(p.startswith("val_") for p in k.split("/")))
            raise KeyError(f"objective metric {self.metric!r} is not in the run's summary (val metrics: {have})")
        return float(metrics[self.metric])


def make_objective(metric: Optional[str], direction: Optional[str]) -> Objective:
    """Validate ``--metric`` and ``--direction``.

    Raises:
        UserError: a metric that is not computed on target-val, an unknown direction, or a metric whose
            direction cannot be implied and was not given.
    """
    metric = metric or DEFAULT_METRIC
    parts = metric.split("/")
    if not any(p.startswith("val_") for p in parts) or "trajectory" in parts[0]:
        raise UserError(f"--metric {metric!r}: tuning must use a target-val metric (e.g. {DEFAULT_METRIC} or "
                        "delta/student-base/val_psnr); target-test metrics are for reports only")
    if direction is None:
        measure = parts[-1][len("val_"):]
        direction = _IMPLIED.get(measure)
        if direction is None:
            raise UserError(f"--metric {metric!r}: declare its direction with --direction maximize|minimize")
    if direction not in DIRECTIONS:
        raise UserError(f"--direction {direction!r}: choose maximize or minimize")
    return Objective(metric, direction)
