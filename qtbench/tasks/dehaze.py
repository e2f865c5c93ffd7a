"""Dehazing: atmospheric scattering with a depth prior (source) vs a shifted real-like haze (target)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig

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
    aliases=("haze",), source="atmospheric scattering model; shift per feasibility.md", config=DehazeConfig,
)
class DehazeTask(Task):
    """Source: I = J t + A(1 - t), t = exp(-beta d), grey A. Target: denser, non-homogeneous, tinted, noisy, JPEG."""

    real_role = "real_haze"

    def prepare(self, clean: np.ndarray) -> np.ndarray:
        return depth_mod.depth_proxy(clean, self.cfg.depth)

    def degrade_source(self, clean, ctx, rng):
        return haze.haze_source(clean, ctx, rng, self.cfg.source)

    def degrade_target(self, clean, ctx, rng):
        return haze.haze_target(clean, ctx, rng, self.cfg.target)

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        """Range checks of the degradation parameters (one-line UserError)."""
        depth_mod.check(cfg.task.depth)
        haze.check(cfg.task.source)
        haze.check(cfg.task.target)
