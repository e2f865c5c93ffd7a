"""Underwater enhancement: clear blue ocean (source) vs green turbid coastal water with lamp, particles (target)."""

from __future__ import annotations

from dataclasses import dataclass, field

from qtbench.data import depth as depth_mod
from qtbench.data import underwater
from qtbench.registry import tasks
from qtbench.tasks.base import DataConfig, Task


@dataclass
class UnderwaterConfig:
    """Options of the underwater task (degradation constants: qtbench/data/underwater.py, depth.py)."""

    name: str = "underwater"
    data: DataConfig = field(default_factory=DataConfig)
    depth: depth_mod.DepthConfig = field(default_factory=depth_mod.DepthConfig)
    source: underwater.SourceWaterConfig = field(default_factory=underwater.SourceWaterConfig)
    target: underwater.TargetWaterConfig = field(default_factory=underwater.TargetWaterConfig)


@tasks.register(
    "underwater", "underwater enhancement: clear-ocean attenuation + backscatter (source) -> green turbid water, "
    "revised backscatter, blur, lamp falloff, marine snow, noise, JPEG (target); real set: debian real_underwater",
    aliases=("uw", "uie"), source="simplified Jaffe-McGlamery model of docs/data.md §5.2; Akkaynak & Treibitz 2018",
    config=UnderwaterConfig,
)
class UnderwaterTask(Task):
    """Source: I_c = J_c exp(-b_c (D + r d)) + B_c (1 - exp(-b_c r d)). Target: another water type and artefacts."""

    real_role = "real_underwater"
    uses_depth = True
    source_fn = staticmethod(underwater.water_source)
    target_fn = staticmethod(underwater.water_target)
    check_fn = staticmethod(underwater.check)
