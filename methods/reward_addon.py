"""Shared machinery of the reward-driven add-ons (``pref``, ``crop``; docs/method.md §8-§9).

Both restore at the top quality level, score with the ensemble's differentiable reward, switch on at a
fraction ``options.start`` of the PL stage, and draw their randomness from an own checkpointed generator.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.plugin_api import AddOn, AddOnContext
from qtbench.errors import UserError


class RewardAddOn(AddOn):
    """Base class: top level, ensemble, start step, generator state and last step metrics.

    Subclasses set ``seed_offset`` (their generator is seeded with ``cfg.seed + seed_offset``).
    """

    needs_iqa = True
    seed_offset: int = 0

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        super().__init__(cfg, options)
        self.top = int(cfg.addons.qcond.num_levels) - 1
        self.gen = torch.Generator().manual_seed(int(cfg.seed) + self.seed_offset)
        self.ensemble = None
        self.start_step = 0
        self.last: dict[str, Tensor] = {}

    @staticmethod
    def check_start(name: str, start: float) -> None:
        """``start`` is a fraction of the PL stage."""
        if not 0.0 <= start <= 1.0:
            raise UserError(f"addons.{name}.start={start} is a fraction of the PL stage: use [0, 1]")

    def setup(self, ctx: AddOnContext) -> None:
        self.ensemble = ctx.ensemble
        self.start_step = round(self.options.start * ctx.total_iters)

    def step_metrics(self) -> dict[str, Tensor]:
        return self.last

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
