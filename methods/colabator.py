"""``colabator``: Colabator's coherence-based optimal label pool (Fang et al., NeurIPS 2024; docs/frameworks.md §4).

Per crop key one pooled PL with its global scores and its pixel trust mask. The teacher's candidate is
scored globally and on tiles by two members (MUSIQ and DA-CLIP: the preset's quality and degradation
roles); the tile maps, upsampled, make the mask ``M = (M_musiq + M_clip) / 2``. On the first visit the
candidate is stored; later it replaces the pooled PL only if *every* score improves or ties
(``m_new >= m_old`` and ``c_new >= c_old``: a Pareto rule), otherwise the student trains on the pooled PL
and its pooled mask. Loss: masked L1 plus the contrastive
perceptual term (negative = strong input).

Left out (docs/frameworks.md §4.7): the ASM term (needs a backbone that outputs a transmission map; with none it
degenerates to a pull toward the input) and the CLIP loss (computed under no-grad officially: no gradient).
The EMA is the engine's ``pl.ema_decay`` (official 0.999, as QualiTeacher's, docs/method.md §12).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.candidate_masks import CandidateMasks, LabelMasks
from qtbench.engine.features import build_features, check_features
from qtbench.engine.plugin_api import Framework, FrameworkContext, PLBatch, TargetBatch
from qtbench.errors import UserError
from qtbench.iqa.presets import DEGRADATION, QUALITY
from qtbench.registry import frameworks
from qtbench_methods.pl_common import STRONG, gather_k, one_label_per_crop, pl_loss, require_grid, resolve_members
from qtbench_methods.store import STORAGES, LabelStore

WEIGHT_MAPS = ("addition", "multiplication")
CLIP_SIGNS = ("corrected", "official")


@dataclass
class ColabatorConfig:
    """Options of :class:`LabelPool`."""

    # [MUSIQ role, DA-CLIP role]; None = the preset's quality and degradation roles (qtbench/iqa/presets.py ROLES:
    # paper musiq, clipiqa; offline piqe, degprob; classic niqe, degprob);
    # source: docs/frameworks.md §4.2 step 4 (MUSIQ + DA-CLIP, no BRISQUE)
    members: Optional[list[str]] = None
    # trust-mask tile in px; None = iqa.block_size (the scale's tile); source: docs/frameworks.md §4.3 (32 at 288 px)
    block_size: Optional[int] = None
    weight_map: str = "addition"  # (M_m + M_c)/2 or M_m * M_c; source: docs/frameworks.md §4.2 step 4, §4.3
    # "official" reproduces the inverted local DA-CLIP map (M_c = P_hazy); source: docs/frameworks.md §4.2 step 4, §4.7
    clip_mask_sign: str = "corrected"
    # masked PL L1; source: docs/frameworks.md §4.2 step 6: 5 mean(|y - p| M) beside 2.5 mean|out - gt|, i.e. twice the
    # supervised L1, whose weight here is pl.w_sup = 1
    pixel_weight: float = 2.0
    cp_weight: float = 0.08  # source: docs/frameworks.md §4.2 step 6 (L_cp weight 0.2 beside 2.5 on the GT L1: 0.2/2.5)
    cp_eps: float = 0.0  # source: docs/frameworks.md §4.2 step 6 (no eps in the denominator)
    features: str = "base"  # base (offline) | vgg19 (official, docs/frameworks.md §4.2); source: qtbench choice (offline default)
    storage: str = "float32"  # source: docs/frameworks.md §4.2 step 8 (the pool holds float tensors, pickled)


def pareto_ok(m_new: Tensor, c_new: Tensor, m_old: Tensor, c_old: Tensor, filled: Tensor) -> Tensor:
    """Colabator's replacement rule: an empty slot takes anything; a stored PL yields only when both scores
    improve or tie. Shapes broadcast ([B,K] new against [B,1] old)."""
    return ~filled | ((m_new >= m_old) & (c_new >= c_old))


@frameworks.register(
    "colabator", "Colabator label pool: one PL per crop replaced only when every score improves; block-wise "
    "trust masks; masked L1 + contrastive perceptual loss",
    source="Fang et al., NeurIPS 2024, arXiv 2406.07966 (github.com/cnyvfang/CORUN-Colabator b1103fe); "
           "docs/frameworks.md §4",
    config=ColabatorConfig,
)
class LabelPool(Framework):
    """One PL and mask per crop key; with the ``bank`` add-on the top-k bank replaces the pool and stores
    Colabator's masks.

    Args:
        cfg: :class:`ColabatorConfig`.
    """

    needs_iqa = True
    select_before = "memory"  # after gate, before bank

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__(cfg)
        self.store = LabelStore(cfg.storage)
        self.members: list[str] = []
        self.block = 0
        self.use_store = True
        self.ensemble = self.features = None
        self.visits = torch.zeros((), dtype=torch.long)
        self.replaced = torch.zeros((), dtype=torch.long)
        self.last: dict[str, Tensor] = {}

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        o = cfg.framework
        for key, allowed in (("weight_map", WEIGHT_MAPS), ("clip_mask_sign", CLIP_SIGNS), ("storage", STORAGES)):
            if o[key] not in allowed:
                raise UserError(f"framework.{key}={o[key]!r}: choose {' or '.join(allowed)}")
        if o.block_size is not None and o.block_size < 8:
            raise UserError(f"framework.block_size={o.block_size} must be >= 8 px (or null: iqa.block_size)")
        if o.pixel_weight < 0 or o.cp_weight < 0:
            raise UserError("framework.pixel_weight and framework.cp_weight are loss weights: use >= 0")
        check_features(o.features)
        resolve_members(cfg, o.members, (QUALITY, DEGRADATION), "colabator")
        require_grid(cfg, "colabator")

    def setup(self, ctx: FrameworkContext) -> None:
        self.members = resolve_members(ctx.cfg, self.cfg.members, (QUALITY, DEGRADATION), "colabator")
        self.block = int(self.cfg.block_size if self.cfg.block_size is not None else ctx.cfg.iqa.block_size)
        self.use_store = "bank" not in ctx.addons  # the top-k bank replaces the pool
        self.ensemble = ctx.ensemble
        self.store.setup(ctx.n_keys, ctx.device)
        self.visits, self.replaced = self.visits.to(ctx.device), self.replaced.to(ctx.device)
        if self.cfg.cp_weight > 0:
            self.features = build_features(self.cfg.features, ctx.base, ctx.device)

    def trust_mask(self, images: Tensor, ref=None) -> Tensor:
        """[N,1,h,w] Colabator's pixel weights from the two members' tile maps (``ref``: clean references
        of the images when the ensemble reads them, docs/agreement.md)."""
        m, c = self.members
        extra = {} if ref is None else {"ref": ref}
        mm = self.ensemble.block_mask(images, self.block, {m: 1.0}, **extra)
        mc = self.ensemble.block_mask(images, self.block, {c: 1.0}, **extra)
        if self.cfg.clip_mask_sign == "official":
            mc = 1.0 - mc  # the double complement of the released code
        return (mm + mc) / 2.0 if self.cfg.weight_map == "addition" else mm * mc

    def select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        b, k = pl.candidates.shape[:2]
        m_new, c_new = pl.scores[self.members[0]], pl.scores[self.members[1]]  # [B,K]
        # Colabator's masks win over qcond's; computed for the candidates that become labels only
        pl.cand_mask = CandidateMasks(pl.candidates, self.trust_mask, ref=pl.ref)
        pl.cache[STRONG] = batch.strong
        if not self.use_store:
            pl.mask = LabelMasks(pl.cand_mask, first_only=pl.owner is None)
            return pl
        dev = pl.candidates.device
        keep = pl.keep if pl.keep is not None else torch.ones(b, dtype=torch.bool, device=dev)
        ok = pl.cand_keep if pl.cand_keep is not None else torch.ones(b, k, dtype=torch.bool, device=dev)
        self.store.ensure(pl.candidates[:, 0], 3, True)
        stored, old, smask, filled = self.store.read(batch.key)
        ok = ok & pareto_ok(m_new, c_new, old[:, :1], old[:, 1:2], filled[:, None])
        j = (m_new + c_new).masked_fill(~ok, float("-inf")).argmax(dim=1)  # with maug: best qualifying view
        offer = keep & ok.any(dim=1)
        cand, mask = gather_k(pl.candidates, j), pl.cand_mask.gather(j)
        score = gather_k(pl.score, j)
        self.store.write(batch.key, offer, cand, torch.stack([gather_k(m_new, j), gather_k(c_new, j), score], 1), mask)
        o4 = offer.view(-1, 1, 1, 1)
        label, mask = torch.where(o4, cand, stored), torch.where(o4, mask, smask)
        score = torch.where(offer, score, old[:, 2])
        self.visits += filled.sum()
        self.replaced += (offer & filled).sum()
        self.last = {"colabator/replace_rate": (offer & filled).sum() / filled.sum().clamp_min(1),
                     "colabator/mask_mean": mask.mean()}
        return one_label_per_crop(pl, label, (offer | filled).to(score.dtype), score, mask)

    def target_loss(self, pred: Tensor, pl: PLBatch) -> Tensor:
        o = self.cfg
        return pl_loss(pred, pl, self.features, o.cp_weight, o.cp_eps, pixel_weight=o.pixel_weight)

    def step_metrics(self) -> dict[str, Tensor]:
        return self.last

    def summary(self) -> dict[str, Any]:
        return {"members": list(self.members), "block_size": self.block,
                "pool": "pareto" if self.use_store else "bank add-on", "keys_stored": self.store.n_used,
                "replace_rate": int(self.replaced) / max(1, int(self.visits)),
                "features": self.cfg.features if self.cfg.cp_weight > 0 else None}

    def state_dict(self) -> dict[str, Any]:
        return {"store": self.store.state_dict(), "visits": self.visits.cpu().clone(),
                "replaced": self.replaced.cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.visits.device
        self.store.load_state_dict(state["store"])
        self.visits, self.replaced = state["visits"].to(dev).clone(), state["replaced"].to(dev).clone()
