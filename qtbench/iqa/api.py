"""The contract between IQA members, the ensemble and the add-ons that use them (method.md §3).

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


@dataclass
class MemberConfig:
    """One ensemble member.

    Args:
        name: a registered member (``niqe_fit``, ``degprob``) or any pyiqa NR metric name (``piqe``, ``musiq``...).
        weight: weight in the combined score.
        lo, hi: raw score range used for normalisation (None: the metric's own range).
        lower_better: direction of the raw score (None: the metric's own metadata).
        clamp: clip the normalised score to [0, 1] (the official code does not clip MUSIQ; BRISQUE only from below).
    """

    name: str = "piqe"
    weight: float = 1.0
    lo: Optional[float] = None
    hi: Optional[float] = None
    lower_better: Optional[bool] = None
    clamp: bool = False


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
    """

    name: str = "member"
    differentiable: bool = False
    blockwise: bool = True
    lower_better: bool = False
    lo: float = 0.0
    hi: float = 1.0
    clamp: bool = False

    def raw(self, images: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] raw scores (one batched call). Grad only if ``differentiable``."""
        raise NotImplementedError

    def normalise(self, raw: Tensor) -> Tensor:
        """Raw -> higher-is-better: ``(raw - lo) / (hi - lo)``, flipped when ``lower_better``."""
        n = (raw - self.lo) / (self.hi - self.lo)
        n = 1.0 - n if self.lower_better else n
        return n.clamp(0.0, 1.0) if self.clamp else n

    def forward(self, images: Tensor) -> Tensor:
        """Normalised scores [N]."""
        return self.normalise(self.raw(images))


@dataclass
class Scores:
    """Scores of N images: per-member normalised scores and the weighted combination."""

    members: dict[str, Tensor]
    combined: Tensor

