"""Dehazing: atmospheric scattering with a depth prior (source) vs a shifted real-like haze (target)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qtbench.data import depth as depth_mod
from qtbench.data import haze
from qtbench.registry import tasks
from qtbench.tasks.base import DataConfig, Task


@dataclass
class DehazeConfig:
    """Options of the dehaze task (degradation constants: qtbench/data/haze.py, depth.py)."""

    name: str = "dehaze"
    data: DataConfig = field(default_factory=DataConfig)
    depth: depth_mod.DepthConfig = field(default_factory=depth_mod.DepthConfig)
    source: haze.SourceHazeConfig = field(default_factory=haze.SourceHazeConfig)
    target: haze.TargetHazeConfig = field(default_factory=haze.TargetHazeConfig)


@tasks.register(
    "dehaze", "haze removal: homogeneous grey haze (source) -> non-homogeneous coloured noisy JPEG haze (target)",
    aliases=("haze",), source="atmospheric scattering model; shift per docs/feasibility.md", config=DehazeConfig,
)
class DehazeTask(Task):
    """Source: I = J t + A(1 - t), t = exp(-beta d), grey A. Target: denser, non-homogeneous, tinted, noisy, JPEG."""

    real_role = "real_haze"
    uses_depth = True
    source_fn = staticmethod(haze.haze_source)
    target_fn = staticmethod(haze.haze_target)
    check_fn = staticmethod(haze.check)
