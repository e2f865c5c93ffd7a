"""Desnowing: small sharp flakes (source) vs layered defocused flakes, wind, veil, cold light (target)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qtbench.data import depth as depth_mod
from qtbench.data import snow
from qtbench.registry import tasks
from qtbench.tasks.base import DataConfig, Task

NO_REAL_SNOW = "the offline photo sources hold no real snow photo (docs/data.md §4); synthetic pairs only"


@dataclass
class DesnowConfig:
    """Options of the desnow task (degradation constants: qtbench/data/snow.py, depth.py for the veil)."""

    name: str = "desnow"
    data: DataConfig = field(default_factory=DataConfig)
    depth: depth_mod.DepthConfig = field(default_factory=depth_mod.DepthConfig)
    source: snow.SourceSnowConfig = field(default_factory=snow.SourceSnowConfig)
    target: snow.TargetSnowConfig = field(default_factory=snow.TargetSnowConfig)


@tasks.register(
    "desnow", "snow removal: small flakes + faint veil (source) -> layered defocused flakes, wind, patchy veil, "
    "cold light, noise, JPEG (target); no real set", aliases=("snow",),
    source="Snow100K formation model (Liu et al. 2018) + veil", config=DesnowConfig,
)
class DesnowTask(Task):
    """Source: I = K z + J'(1 - z), one flake layer. Target: near/far flake layers, wind, denser veil, tint, noise."""

    no_real_set = NO_REAL_SNOW
    uses_depth = True
    source_fn = staticmethod(snow.snow_source)
    target_fn = staticmethod(snow.snow_target)
    check_fn = staticmethod(snow.check)
