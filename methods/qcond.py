"""``qcond``: condition the student on the quality level of each pseudo-label (docs/method.md §4-§5).

Every PL is scored by the IQA ensemble (the engine scores all candidates of a step in one batched call);
the combined score ``s`` is mapped to one of ``L`` levels and the student is trained on that PL with
``S(u_s; q(s))``. At inference the student is asked for the top level ``L-1`` (``eval.level`` overrides).
Optionally (official) the PL loss is weighted by a block-wise trust mask (docs/method.md §3.3, §11).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.candidate_masks import CandidateMasks, LabelMasks
from qtbench.engine.plugin_api import AddOn, AddOnContext, PLBatch, TargetBatch
from qtbench.errors import UserError
from qtbench.registry import addons

OFFICIAL_LEVELS = 8  # the official rule below is defined for 8 levels (docs/method.md §4)


@dataclass
class QCondConfig:
    """Options of :class:`QualityConditioning`."""

    num_levels: int = 8  # source: docs/method.md §4 (8 bins, Embedding(8, C))
    top_threshold: float = 0.7  # s >= this -> top level; source: docs/method.md §4
    bins_per_unit: float = 10.0  # below the top: clamp(floor(10 s), 0, L-1); source: docs/method.md §4
    # ascending lower edges of levels 1..L-1 (level = number of edges <= s); required when num_levels != 8
    thresholds: Optional[list[float]] = None
    # weight the PL L1 by the block-wise trust mask (tile size: iqa.block_size); source: docs/method.md §3.3, §11
    mask: bool = True
    diagnostics: bool = True  # level diagnostics on target-test at evaluation (docs/protocol.md §4)
    diag_max_images: int = 0  # target-test images used by the diagnostics; 0 = all


def quality_levels(score: Tensor, num_levels: int = 8, thresholds: Optional[list[float]] = None,
                   top_threshold: float = 0.7, bins_per_unit: float = 10.0) -> Tensor:
    """Map combined scores to quality levels (docs/method.md §4).

    Args:
        score: [N] combined ensemble scores (any real value; normalised scores are not clipped).
        num_levels: L.
        thresholds: ascending lower edges of levels 1..L-1; None = the official rule:
            ``L-1 if s >= top_threshold else clamp(floor(bins_per_unit * s), 0, L-1)``.
        top_threshold, bins_per_unit: constants of the official rule (0.7, 10).

    Returns:
        [N] long levels in ``[0, L-1]``.
    """
    if thresholds is not None:
        edges = torch.as_tensor(list(thresholds), dtype=score.dtype, device=score.device)
        return torch.bucketize(score, edges, right=True)  # number of edges <= s
    below = torch.floor(score * bins_per_unit).clamp(0, num_levels - 1).long()
    return torch.where(score >= top_threshold, torch.full_like(below, num_levels - 1), below)


@addons.register(
    "qcond", "quality-conditioned student: each PL's ensemble score -> one of L levels; inference at the top level",
    source="docs/method.md §4-§5 (official qualiteacher_model.py, AIMNet_arch.py)", config=QCondConfig,
)
class QualityConditioning(AddOn):
    """Sets ``pl.level`` from each label's combined score, keeps the histogram of levels seen in training.

    Args:
        cfg: the run config (``cfg.backbone.num_levels`` must be >= ``num_levels``).
        options: :class:`QCondConfig`.
    """

    phase = "levels"  # after gate and bank: levels are those of the labels finally trained on
    needs_iqa = True

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        super().__init__(cfg, options)
        self.num_levels = int(options.num_levels)
        self.thresholds = list(options.thresholds) if options.thresholds is not None else None
        self.histogram = torch.zeros(self.num_levels, dtype=torch.long)
        self.ensemble = None

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        """Compose-time checks: level count vs backbone, thresholds."""
        o = cfg.addons.qcond
        if o.num_levels < 2:
            raise UserError(f"addons.qcond.num_levels={o.num_levels} must be >= 2")
        if "num_levels" not in cfg.backbone:
            raise UserError(f"qcond needs a backbone with a quality-level input (num_levels); "
                            f"backbone {cfg.backbone.name!r} has none")
        if cfg.backbone.num_levels < o.num_levels:
            raise UserError(f"addons.qcond.num_levels={o.num_levels} exceeds backbone.num_levels="
                            f"{cfg.backbone.num_levels}: the level embedding has too few entries; set "
                            f"backbone.num_levels={o.num_levels} (or lower addons.qcond.num_levels)")
        if o.thresholds is None and o.num_levels != OFFICIAL_LEVELS:
            raise UserError(f"addons.qcond.num_levels={o.num_levels}: the official level rule is defined for "
                            f"{OFFICIAL_LEVELS} levels; give addons.qcond.thresholds, {o.num_levels - 1} ascending "
                            f"lower edges of levels 1..{o.num_levels - 1}")
        if o.thresholds is not None:
            t = list(o.thresholds)
            if len(t) != o.num_levels - 1 or any(b <= a for a, b in zip(t, t[1:])):
                raise UserError(f"addons.qcond.thresholds={t} must be {o.num_levels - 1} strictly ascending values")

    def setup(self, ctx: AddOnContext) -> None:
        self.ensemble = ctx.ensemble
        self.histogram = self.histogram.to(ctx.device)  # counted on the device: no host sync per step

    def levels(self, score: Tensor) -> Tensor:
        """[N] levels of scores ``score`` under this run's rule."""
        o = self.options
        return quality_levels(score, self.num_levels, self.thresholds, o.top_threshold, o.bins_per_unit)

    def on_score(self, pl: PLBatch) -> PLBatch:
        """Block-wise trust masks of the candidates, computed for those that become labels (on request)."""
        if not self.options.mask:
            return pl
        block = self.cfg.iqa.block_size
        if pl.ref is not None:  # an oracle reward: each candidate's tiles against its clean crop's tiles
            pl.cand_mask = CandidateMasks(pl.candidates, lambda images, ref: self.ensemble.block_mask(images, block, ref=ref),
                                          ref=pl.ref)
        else:
            pl.cand_mask = CandidateMasks(pl.candidates, lambda images: self.ensemble.block_mask(images, block))
        pl.mask = LabelMasks(pl.cand_mask, first_only=pl.owner is None)
        return pl

    def on_select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        if pl.label_score is None:
            raise RuntimeError("qcond: labels carry no scores; the engine scores candidates only when an "
                               "IQA ensemble was built")
        pl.level = self.levels(pl.label_score)
        # histogram of the levels actually trained on (weight > 0)
        self.histogram.index_add_(0, pl.level, (pl.weight > 0).long())
        return pl

    def inference_level(self) -> Optional[int]:
        return self.num_levels - 1

    def state_dict(self) -> dict[str, Any]:
        return {"histogram": self.histogram.cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.histogram = state["histogram"].to(self.histogram.device).clone()

    def summary(self) -> dict[str, Any]:
        return {"num_levels": self.num_levels, "pl_level_histogram": self.histogram.tolist()}
