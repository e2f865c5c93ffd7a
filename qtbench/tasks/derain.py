"""Deraining: one layer of sharp streaks (source) vs layered soft streaks, veil, noise, JPEG (target)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qtbench.data import depth as depth_mod
from qtbench.data import rain
from qtbench.registry import tasks
from qtbench.tasks.base import DataConfig, Task

NO_REAL_RAIN = "the offline photo sources hold no real rain photo (docs/data.md §4); synthetic pairs only"


@dataclass
class DerainConfig:
    """Options of the derain task (degradation constants: qtbench/data/rain.py, depth.py for the veil)."""

    name: str = "derain"
    data: DataConfig = field(default_factory=DataConfig)
    depth: depth_mod.DepthConfig = field(default_factory=depth_mod.DepthConfig)
    source: rain.SourceRainConfig = field(default_factory=rain.SourceRainConfig)
    target: rain.TargetRainConfig = field(default_factory=rain.TargetRainConfig)


@tasks.register(
    "derain", "rain removal: sharp streaks + faint veil (source) -> layered soft streaks, patchy veil, noise, JPEG "
    "(target); no real set", aliases=("rain",), source="streak + veil model of docs/data.md §5.2", config=DerainConfig,
)
class DerainTask(Task):
    """Source: I = J t + A(1 - t) + S, one streak layer. Target: three layers, denser patchy veil, darker, noisy."""

    no_real_set = NO_REAL_RAIN
    uses_depth = True
    source_fn = staticmethod(rain.rain_source)
    target_fn = staticmethod(rain.rain_target)
    check_fn = staticmethod(rain.check)
