"""Plain Mean Teacher (``mt``): trust every pseudo-label (docs/frameworks.md §1)."""

from __future__ import annotations

from dataclasses import dataclass

from qtbench.engine.plugin_api import Framework
from qtbench.registry import frameworks


@dataclass
class MTConfig:
    """Mean Teacher has no options beyond the engine's ``pl`` group (EMA decay, weights, views)."""


@frameworks.register(
    "mt", "Mean Teacher: EMA teacher on the weak view labels the student's strong view; every PL trusted",
    aliases=("meanteacher", "mean_teacher"),
    source="Tarvainen & Valpola, NeurIPS 2017; docs/frameworks.md §1",
    config=MTConfig,
)
class MeanTeacher(Framework):
    """One unconditioned teacher pass per crop, weight 1, L1 to the student's strong-view output."""
