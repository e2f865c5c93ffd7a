"""What frameworks and add-ons implement, and the pseudo-label record they exchange (DESIGN.md §4).

One PL-training step, and where plugins act:

1. ``Framework.candidates`` — the teacher's candidate PL(s) per unlabelled crop; add-ons may add views
   (``AddOn.on_candidates``);
2. ``AddOn.on_score`` — candidates scored (IQA ensemble; batched, one call per member per step);
3. ``Framework.select`` then ``AddOn.on_select`` — choose and weight the PL (MT: take all);
4. the student is run on the strong view, conditioned on ``PLBatch.level`` when an add-on sets it;
5. ``Framework.target_loss`` plus ``AddOn.extra_losses``;
6. optimiser step and EMA update (engine).

Framework and add-on state (banks, running percentiles) goes into the checkpoint via ``state_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor


@dataclass
class TargetBatch:
    """Unlabelled target crops of one step.

    Args:
        index: [B] indices of the unlabelled images the crops come from.
        weak: [B,3,h,w] weak view (teacher input).
        strong: [B,3,h,w] strong photometric view of the same crop (student input).
        clean: [B,3,h,w] true clean crop, present only for frameworks with ``uses_target_labels``.
    """

    index: Tensor
    weak: Tensor
    strong: Tensor
    clean: Optional[Tensor] = None


@dataclass
class PLBatch:
    """Pseudo-label records of one step (one per unlabelled crop).

    Args:
        candidates: [B,K,3,h,w] candidate PLs.
        label: [B,3,h,w] the selected PL.
        weight: [B] per-image weight (0 drops the image).
        mask: optional [B,1,h,w] per-pixel trust.
        scores: per-member scores [B,K] (higher = better, in [0,1]).
        score: combined score [B,K] or None.
        level: [B] quality level the student is conditioned on, or None (unconditioned).
    """

    candidates: Tensor
    label: Tensor
    weight: Tensor
    mask: Optional[Tensor] = None
    scores: dict[str, Tensor] = field(default_factory=dict)
    score: Optional[Tensor] = None
    level: Optional[Tensor] = None


class Framework:
    """Base class of pseudo-labelling frameworks (``methods/``).

    Class attributes:
        uses_target_images: False for controls that never see target data (``srconly``).
        uses_target_labels: True only for the ``oracle`` control: it reads clean target images and
            every output of such a run is flagged.
        strong_source: apply the strong photometric view to source inputs (``srconly``).
    """

    uses_target_images: bool = True
    uses_target_labels: bool = False
    strong_source: bool = False

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    def candidates(self, teacher: torch.nn.Module, batch: TargetBatch) -> Tensor:
        """[B,K,3,h,w] candidate PLs; default: one unconditioned teacher pass on the weak view."""
        with torch.no_grad():
            return teacher(batch.weak).clamp(0, 1).unsqueeze(1)

    def select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        """Choose the label and weights; default: first candidate, weight 1."""
        return pl

    def target_loss(self, pred: Tensor, pl: PLBatch) -> Tensor:
        """Loss of the student's strong-view output against the PL; default: weighted (masked) L1."""
        err = (pred - pl.label).abs()
        if pl.mask is not None:
            err = err * pl.mask
        per_image = err.flatten(1).mean(1)
        return (per_image * pl.weight).sum() / pl.weight.sum().clamp_min(1.0)

    def state_dict(self) -> dict[str, Any]:
        """Framework state saved in checkpoints (banks, running statistics)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


class AddOn:
    """Base class of add-ons (QualiTeacher components). Every hook is a no-op by default."""

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        self.cfg = cfg
        self.options = options

    def on_candidates(self, teacher: torch.nn.Module, batch: TargetBatch, candidates: Tensor) -> Tensor:
        """Add or transform candidates."""
        return candidates

    def on_score(self, pl: PLBatch) -> PLBatch:
        """Score candidates (fills ``scores``/``score``)."""
        return pl

    def on_select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        """Gate, bank or re-weight the selected labels; may set ``level``."""
        return pl

    def extra_losses(self, student: torch.nn.Module, batch: TargetBatch, pl: PLBatch, step: int) -> dict[str, Tensor]:
        """Additional named losses (added to the total)."""
        return {}

    def inference_level(self) -> Optional[int]:
        """The quality level the student is asked for at evaluation (None: unconditioned)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
