"""The contract between IQA members, the ensemble and the add-ons that use them (docs/method.md §3).

A *member* wraps one no-reference metric and knows how to turn its raw score into ``[0, 1]``-ish,
higher-is-better (``normalise``). The *ensemble* combines members with fixed weights
(``s = sum_i w_i * n_i``), scores whole batches with one call per member, gives a differentiable
*reward* through the differentiable members only, and block-wise trust masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import Tensor

from qtbench.errors import UserError
from qtbench.iqa.member_config import MemberConfig  # torch-free for the config schema; part of this contract

__all__ = ["IQAContext", "Member", "MemberConfig", "Scores"]


@dataclass
class IQAContext:
    """What a member may use to build itself (fitting/training on *training* data only).

    Args:
        task: task name.
        seed: run seed.
        data_key: content hash of the task data (cache keys of fitted members).
        train: the run's ``TrainData`` (source pairs and degraded target images; no clean target).
        device: torch device.
        progress: show progress bars while fitting.
    """

    task: str
    seed: int
    data_key: str
    train: Any
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: bool = True


class Member(torch.nn.Module):
    """Base class of ensemble members.

    Attributes:
        name: member name.
        differentiable: gradients flow from the score to the input (usable in rewards).
        blockwise: supports scoring tiles (block-wise masks).
        lower_better: direction of the raw score.
        lo, hi: raw score range for normalisation.
        clamp: clip normalised scores to [0, 1].
        floor: raw scores are clipped from below at ``floor`` before normalising (None: no floor).
        batched: ``raw`` scores a whole batch in one call; False when the member loops over images inside.
    """

    name: str = "member"
    differentiable: bool = False
    blockwise: bool = True
    lower_better: bool = False
    lo: float = 0.0
    hi: float = 1.0
    clamp: bool = False
    floor: Optional[float] = None
    batched: bool = True

    def configure(self, cfg: MemberConfig) -> "Member":
        """Take name, normalisation overrides and clipping from ``cfg`` (None keeps the member's own lo/hi/direction).

        Args:
            cfg: the member's config (docs/method.md §3.1 normalisations are expressed this way, see presets.py).
        """
        self.name = cfg.name
        self.lo = self.lo if cfg.lo is None else float(cfg.lo)
        self.hi = self.hi if cfg.hi is None else float(cfg.hi)
        self.lower_better = self.lower_better if cfg.lower_better is None else bool(cfg.lower_better)
        self.clamp = bool(cfg.clamp)
        self.floor = None if cfg.floor is None else float(cfg.floor)
        if not self.hi > self.lo:
            raise UserError(f"IQA member {self.name!r}: normalisation needs hi > lo, got lo={self.lo}, hi={self.hi}")
        return self

    @classmethod
    def build(cls, cfg: MemberConfig, iqa_cfg: Any, ctx: IQAContext) -> "Member":
        """Factory every member class provides (``qtbench.iqa.ensemble.build_ensemble`` calls it).

        Args:
            cfg: this member's config (name, weight, normalisation overrides).
            iqa_cfg: the run's ``iqa`` section (member-specific options such as ``iqa_cfg.degprob``).
            ctx: training data, seed, device (fitted members fit or load from the cache here).
        """
        raise NotImplementedError

    def raw(self, images: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] raw scores (one batched call). Grad only if ``differentiable``."""
        raise NotImplementedError

    def normalise(self, raw: Tensor) -> Tensor:
        """Raw -> higher-is-better: ``(raw - lo) / (hi - lo)``, flipped when ``lower_better`` (docs/method.md §3.1)."""
        if self.floor is not None:
            raw = raw.clamp_min(self.floor)
        n = (raw - self.lo) / (self.hi - self.lo)
        n = 1.0 - n if self.lower_better else n
        return n.clamp(0.0, 1.0) if self.clamp else n

    def forward(self, images: Tensor) -> Tensor:
        """Normalised scores [N]."""
        return self.normalise(self.raw(images))


@dataclass
class Scores:
    """Scores of N images: per-member normalised scores, the weighted combination and the raw member scores.

    ``oracle`` is the (noisy) oracle score of the agreement mixing (docs/agreement.md), None without it.
    """

    members: dict[str, Tensor]
    combined: Tensor
    raw: dict[str, Tensor] = field(default_factory=dict)
    oracle: Optional[Tensor] = None

