"""Controls that bracket every PL comparison (docs/architecture.md §2).

- ``srconly``: the same schedule on source pairs only, with the strong photometric view on the source
  inputs: the gain that needs no target data at all.
- ``oracle``: the MT recipe with the *true clean* target images as labels: the ceiling any PL method can
  reach. It reads hidden labels, so every output of an oracle run is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from qtbench.engine.plugin_api import Framework, TargetBatch
from qtbench.registry import frameworks


@dataclass
class ControlConfig:
    """Controls have no options of their own."""


@frameworks.register(
    "srconly", "control: same schedule on source pairs only, strong photometric view on source inputs (no target data)",
    aliases=("source_only",), source="docs/feasibility.md ('source+strong' control)", config=ControlConfig,
)
class SourceOnly(Framework):
    """Continues supervised training; never sees target images."""

    uses_target_images = False
    strong_source = True


@frameworks.register(
    "oracle", "control (CEILING, uses hidden labels): MT recipe with the true clean target images as labels",
    source="docs/feasibility.md ('oracle' control)", config=ControlConfig,
)
class Oracle(Framework):
    """Student on the strong view of a target crop, L1 to its true clean crop."""

    uses_target_labels = True

    def candidates(self, teacher: torch.nn.Module, batch: TargetBatch) -> Tensor:
        return batch.clean.unsqueeze(1)
