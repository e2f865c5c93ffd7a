"""Low-light enhancement: mild darkening + noise (source) vs dark, noisy, uneven, colour-cast night (target)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qtbench.data import lowlight
from qtbench.registry import tasks
from qtbench.tasks.base import DataConfig, Task


@dataclass
class LowLightConfig:
    """Options of the lowlight task (degradation constants: qtbench/data/lowlight.py)."""

    name: str = "lowlight"
    data: DataConfig = field(default_factory=DataConfig)
    source: lowlight.SourceLowLightConfig = field(default_factory=lowlight.SourceLowLightConfig)
    target: lowlight.TargetLowLightConfig = field(default_factory=lowlight.TargetLowLightConfig)


@tasks.register(
    "lowlight", "low-light enhancement: darkening + mild Poisson-Gaussian noise (source) -> darker, noisier, uneven "
    "warm light, JPEG (target); real set: debian real_lowlight", aliases=("llie", "low-light", "night"),
    source="linear-light darkening + Poisson-Gaussian noise of docs/data.md §5.2", config=LowLightConfig,
)
class LowLightTask(Task):
    """Source: x = k J_lin^gamma + Poisson-Gaussian noise. Target: darker, noisier, uneven, warm cast, JPEG."""

    real_role = "real_lowlight"
    source_fn = staticmethod(lowlight.lowlight_source)
    target_fn = staticmethod(lowlight.lowlight_target)
    check_fn = staticmethod(lowlight.check)
