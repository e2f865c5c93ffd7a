"""``semiuir``: Semi-UIR's reliable-bank mean teacher (Huang et al., CVPR 2023; docs/frameworks.md §3).

Per crop key one stored PL, initialised black (``create_candidate.py``). Each step the teacher's candidate
replaces it only when its MUSIQ-role score (the preset's quality role) beats *both* the student's strong-view
output and the stored PL; the student then trains toward the (possibly new) stored PL with L1 plus the
contrastive regulariser (positive = PL, negative = strong input). The PL term is weighted by a sigmoid ramp-up
``0.2 exp(-5 (1 - t/T)^2)`` over the first half of the stage (100 of 200 epochs), and the teacher follows
the warm-up EMA ``min(1 - 1/(t+1), 0.996)``.

qtbench differences, all documented in methods/README.md: crops keyed on the ``grid`` instead of whole
resized images; the bank is read fresh (not one loader step stale, §3.6); scoring under no-grad in
batched calls; the supervised loss is the engine's L1 (AIM-Net's gradient and VGG16 terms need its
gradient branch); the student's score comes from an extra unconditioned no-grad pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.features import build_features, check_features
from qtbench.engine.plugin_api import Framework, FrameworkContext, PLBatch, TargetBatch
from qtbench.engine.referee import BLACK, STUDENT, needs_ref
from qtbench.errors import UserError
from qtbench.iqa.presets import QUALITY
from qtbench.registry import frameworks
from qtbench_methods.pl_common import (
    STRONG,
    gather_k,
    one_label_per_crop,
    pl_loss,
    require_grid,
    resolve_members,
    sigmoid_rampup,
    warmup_ema,
)
from qtbench_methods.store import STORAGES, LabelStore

EMA_MODES = ("warmup", "engine")
INITS = ("black", "teacher")


@dataclass
class SemiUIRConfig:
    """Options of :class:`ReliableBank`."""

    # the MUSIQ-role member; None = the preset's quality role (qtbench/iqa/presets.py ROLES: paper musiq, offline
    # piqe, classic niqe); source: docs/frameworks.md §3.3 step 3
    members: Optional[list[str]] = None
    consistency_weight: float = 0.2  # lambda_max; source: docs/frameworks.md §3.3 step 5, §3.4
    rampup: float = 0.5  # ramp-up length as a fraction of the stage; source: docs/frameworks.md §3.4 (100 of 200 epochs)
    ema: str = "warmup"  # warmup: min(1 - 1/(t+1), ema_max); engine: pl.ema_decay; source: docs/frameworks.md §3.2
    ema_max: float = 0.996  # source: docs/frameworks.md §3.2, §3.4
    cp_weight: float = 1.0  # contrastive regulariser weight; source: docs/frameworks.md §3.3 step 4
    cp_eps: float = 1e-7  # source: docs/frameworks.md §3.4 (contrastive eps)
    features: str = "base"  # base (offline) | vgg19 (official, docs/frameworks.md §3.3); source: qtbench choice (offline default)
    storage: str = "uint8"  # source: docs/frameworks.md §3.1 (the bank is uint8 PNG files)
    # initial bank: "black" images (source: docs/frameworks.md §3.1, create_candidate.py); "teacher": a crop's first
    # PL is stored unconditionally (a qtbench option: no pull toward black while the teacher loses to the student)
    init: str = "black"


@frameworks.register(
    "semiuir", "Semi-UIR reliable bank: a PL replaces the stored one only if it beats the student and the bank "
    "(MUSIQ); L1 + contrastive loss, ramp-up, warm-up EMA",
    aliases=("semi_uir",),
    source="Huang et al., CVPR 2023, arXiv 2303.09101 (github.com/Huang-ShiRui/Semi-UIR b30a1ac); docs/frameworks.md §3",
    config=SemiUIRConfig,
)
class ReliableBank(Framework):
    """One PL per crop key; with the ``bank`` add-on the top-k bank replaces the 1-slot store and Semi-UIR's
    test against the student survives as a per-candidate filter.

    Args:
        cfg: :class:`SemiUIRConfig`.
    """

    needs_iqa = True
    select_before = "memory"  # after gate, before bank

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__(cfg)
        self.store = LabelStore(cfg.storage)
        self.member = ""
        self.use_store = True
        self.ensemble = self.student = self.features = None
        self.total_iters = 0
        self.black: dict[tuple, Tensor] = {}  # crop shape -> [member, combined] score of a black image
        self.seen = torch.zeros((), dtype=torch.long)
        self.accepted = torch.zeros((), dtype=torch.long)
        self.last: dict[str, Tensor] = {}

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        o = cfg.framework
        if o.ema not in EMA_MODES:
            raise UserError(f"framework.ema={o.ema!r}: choose {' or '.join(EMA_MODES)}")
        if not 0.0 <= o.ema_max < 1.0:
            raise UserError(f"framework.ema_max={o.ema_max} must be in [0, 1)")
        if not 0.0 <= o.rampup <= 1.0:
            raise UserError(f"framework.rampup={o.rampup} is a fraction of the PL stage: use [0, 1]")
        if o.consistency_weight < 0 or o.cp_weight < 0:
            raise UserError("framework.consistency_weight and framework.cp_weight are loss weights: use >= 0")
        for key, allowed in (("storage", STORAGES), ("init", INITS)):
            if o[key] not in allowed:
                raise UserError(f"framework.{key}={o[key]!r}: choose {' or '.join(allowed)}")
        check_features(o.features)
        resolve_members(cfg, o.members, (QUALITY,), "semiuir")
        require_grid(cfg, "semiuir")

    def setup(self, ctx: FrameworkContext) -> None:
        self.member = resolve_members(ctx.cfg, self.cfg.members, (QUALITY,), "semiuir")[0]
        self.use_store = "bank" not in ctx.addons  # the top-k bank replaces the reliable bank
        self.ensemble, self.student, self.total_iters = ctx.ensemble, ctx.student, ctx.total_iters
        self.store.setup(ctx.n_keys, ctx.device)
        self.seen, self.accepted = self.seen.to(ctx.device), self.accepted.to(ctx.device)
        if self.cfg.cp_weight > 0:
            self.features = build_features(self.cfg.features, ctx.base, ctx.device)

    def ema_decay(self, step: int, default: float) -> float:
        return warmup_ema(step, self.cfg.ema_max) if self.cfg.ema == "warmup" else default

    def pl_weight(self, step: int) -> float:
        return self.cfg.consistency_weight * sigmoid_rampup(step, self.cfg.rampup * self.total_iters)

    def _black_scores(self, like: Tensor, batch: TargetBatch) -> Tensor:
        """[2] (member, combined) score of an all-black label: the bank's initial content ([2,B] with an
        oracle reward, which scores black against each crop's clean image)."""
        if needs_ref(self.ensemble, batch):
            b = like.shape[0]
            s = self.ensemble.score(torch.zeros_like(like), ref=batch.ref.rows(torch.arange(b, device=like.device), BLACK))
            return torch.stack([s.members[self.member], s.combined])
        shape = tuple(like.shape[1:])
        if shape not in self.black:
            s = self.ensemble.score(like.new_zeros(1, *shape))
            self.black[shape] = torch.stack([s.members[self.member][0], s.combined[0]])
        return self.black[shape]

    def select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        s = pl.scores[self.member]  # [B,K]
        with torch.no_grad():  # Semi-UIR scores the student's strong-view output (docs/frameworks.md §3.3 step 3)
            out = self.student(batch.strong).clamp(0, 1)
            ref = batch.ref.rows(torch.arange(out.shape[0], device=out.device), STUDENT) \
                if needs_ref(self.ensemble, batch) else None
            s_student = (self.ensemble.member_scores(out, [self.member], ref=ref) if ref is not None
                         else self.ensemble.member_scores(out, [self.member]))[self.member]
        pl.cache[STRONG] = batch.strong
        keep = pl.keep if pl.keep is not None else torch.ones_like(s_student, dtype=torch.bool)
        if not self.use_store:
            beat = s > s_student[:, None]
            if pl.cand_keep is not None:
                beat = beat & pl.cand_keep
            pl.cand_keep, pl.keep = beat, keep & beat.any(dim=1)
            self._count(beat)
            return pl
        j = s.argmax(dim=1)  # with maug: the best view by the own scorer, then the acceptance test
        cand, s_t, comb = gather_k(pl.candidates, j), gather_k(s, j), gather_k(pl.score, j)
        mask = pl.cand_mask.gather(j) if pl.cand_mask is not None else None
        self.store.ensure(cand, 2, mask is not None)
        stored, old, smask, filled = self.store.read(batch.key)
        black = self._black_scores(cand, batch)
        s_r = torch.where(filled, old[:, 0], black[0])
        accept = keep & (s_t > s_student) & (s_t > s_r)
        if self.cfg.init == "teacher":
            accept = accept | (keep & ~filled)
        self.store.write(batch.key, accept, cand, torch.stack([s_t, comb], dim=1), mask)
        self._count(accept[:, None])
        a4 = accept.view(-1, 1, 1, 1)
        label = torch.where(a4, cand, stored)  # the positive: the new PL if accepted, else the bank's (maybe black)
        score = torch.where(accept, comb, torch.where(filled, old[:, 1], black[1]))
        mask = torch.where(a4, mask, smask) if mask is not None else None
        # a gate-dropped crop trains on a stored PL only
        weight = torch.where(keep, torch.ones_like(score), (filled | accept).to(score.dtype))
        return one_label_per_crop(pl, label, weight, score, mask)

    def _count(self, accepted: Tensor) -> None:
        self.seen += accepted.shape[0]
        self.accepted += accepted.any(dim=1).sum()
        self.last = {"semiuir/accept_rate": accepted.any(dim=1).float().mean(),
                     "semiuir/keys_stored": torch.tensor(float(self.store.n_used))}

    def target_loss(self, pred: Tensor, pl: PLBatch) -> Tensor:
        return pl_loss(pred, pl, self.features, self.cfg.cp_weight, self.cfg.cp_eps)

    def step_metrics(self) -> dict[str, Tensor]:
        return self.last

    def summary(self) -> dict[str, Any]:
        return {"member": self.member, "bank": "reliable" if self.use_store else "bank add-on",
                "accept_rate": int(self.accepted) / max(1, int(self.seen)), "keys_stored": self.store.n_used,
                "ema": self.cfg.ema, "features": self.cfg.features if self.cfg.cp_weight > 0 else None}

    def state_dict(self) -> dict[str, Any]:
        return {"store": self.store.state_dict(), "seen": self.seen.cpu().clone(),
                "accepted": self.accepted.cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.seen.device
        self.store.load_state_dict(state["store"])
        self.seen, self.accepted = state["seen"].to(dev).clone(), state["accepted"].to(dev).clone()
