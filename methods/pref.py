"""``pref``: score-based preference loss between quality levels ("DPO-inspired", docs/method.md §8).

Per crop, with the strong view ``u_s`` and the reward ``r`` (the ensemble with gradients through its
differentiable members):

    y_w = clamp(S(u_s; top)),  y_l = clamp(S(u_s; q_low)),  q_low ~ U{4, 5, 6}
    L1 = -log sigma(beta (r(y_w) - r(y_l) - delta))          inter-level separation (``loser_grad``: through y_l too)
    L2 = -log sigma(beta (r(y_w) - r_T*))                      upward anchor beyond the teacher
    L  = lambda (sum L1 + lambda2 sum L2) / B

``r_T*`` is the best (official) combined score among the crop's labels (its banked PLs, or the current
PL without a bank); crops without a label skip L2. No reference model, no log-probabilities (§8).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.plugin_api import PLBatch, TargetBatch
from qtbench.engine.referee import STUDENT, needs_ref
from qtbench.engine.student_pass import StudentPass
from qtbench.errors import UserError
from qtbench.registry import addons
from qtbench_methods.reward_addon import RewardAddOn


@dataclass
class PrefConfig:
    """Options of :class:`PreferenceLoss`."""

    beta: float = 1.0  # source: docs/method.md §8, §19 (dpo_beta)
    delta: float = 0.1  # margin; source: docs/method.md §8, §19 (dpo_delta)
    lam: float = 1.0  # source: docs/method.md §8, §19 (dpo_lambda)
    lam2: float = 0.5  # weight of the teacher anchor; source: docs/method.md §8, §19 (dpo_lambda2)
    q_low: list[int] = field(default_factory=lambda: [4, 5, 6])  # source: docs/method.md §8 (uniform, of 8 levels)
    q_low_levels: int = 8  # the level count q_low is written for; rescaled to qcond.num_levels
    start: float = 0.2  # fraction of the PL stage; source: docs/method.md §8 (dpo_start_iter 2000 of 10000)
    anchor: str = "best"  # r_T*: best stored PL score (official, docs/method.md §8) or "worst" (the note [N])
    # source: docs/method.md §8 ("gradient through both branches"). false (qtbench variant): the loser branch is a
    # constant, so L1 can only lift the top level; with a hackable reward the official form instead learns to
    # wreck the loser levels, and the shared weights drag the top level along (BENCHMARKS.md)
    loser_grad: bool = True


def scaled_levels(levels: list[int], written_for: int, num_levels: int) -> list[int]:
    """Rescale level indices written for ``written_for`` levels to ``num_levels`` (unique, sorted)."""
    if written_for == num_levels:
        return sorted(set(levels))
    return sorted({round(q * (num_levels - 1) / (written_for - 1)) for q in levels})


def preference_loss(r_w: Tensor, r_l: Tensor, anchor: Tensor, has_anchor: Tensor, beta: float, delta: float,
                    lam: float, lam2: float) -> tuple[Tensor, Tensor, Tensor]:
    """The preference objective of docs/method.md §8.

    Args:
        r_w, r_l: [B] rewards of the top-level and the low-level outputs.
        anchor: [B] r_T* (detached).
        has_anchor: [B] bool, False where the crop has no PL (L2 skipped).
        beta, delta, lam, lam2: constants of §8.

    Returns:
        (total, sum of L1, sum of L2); ``-log sigma(z)`` is computed as ``softplus(-z)``.
    """
    l1 = F.softplus(-beta * (r_w - r_l - delta)).sum()
    l2 = (F.softplus(-beta * (r_w - anchor)) * has_anchor.to(r_w.dtype)).sum()
    return lam * (l1 + lam2 * l2) / r_w.shape[0], l1, l2


def label_anchor(pl: PLBatch, b: int, best: bool) -> tuple[Tensor, Tensor]:
    """Per-crop max (or min) combined score over its labels of positive weight: ([B], has [B])."""
    score = pl.label_score.detach()
    owner, live = pl.owners(), pl.weight > 0
    fill = float("-inf") if best else float("inf")
    vals = torch.where(live, score, torch.full_like(score, fill))
    out = torch.full((b,), fill, device=score.device, dtype=score.dtype)
    out = out.scatter_reduce(0, owner, vals, reduce="amax" if best else "amin")
    has = torch.isfinite(out)
    return torch.where(has, out, torch.zeros_like(out)), has


@addons.register(
    "pref", "score-based preference loss: top level must out-score a lower level and the best teacher PL",
    source="docs/method.md §8 (official qualiteacher_model.py, DPO-inspired)", config=PrefConfig, requires=("qcond",),
)
class PreferenceLoss(RewardAddOn):
    """Adds ``loss/pref`` from ``start`` x the PL stage on.

    Args:
        cfg: the run config (``cfg.addons.qcond.num_levels`` gives the top level).
        options: :class:`PrefConfig`.
    """

    phase = "preference"
    seed_offset = 601

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        super().__init__(cfg, options)
        n = self.top + 1
        self.q_low = torch.tensor(scaled_levels(list(options.q_low), options.q_low_levels, n), dtype=torch.long)

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        o = cfg.addons.pref
        n = cfg.addons.qcond.num_levels
        RewardAddOn.check_start("pref", o.start)
        if o.anchor not in ("best", "worst"):
            raise UserError(f"addons.pref.anchor={o.anchor!r}: choose best or worst")
        q = scaled_levels(list(o.q_low), o.q_low_levels, n)
        if not q or min(q) < 0 or max(q) >= n - 1:
            raise UserError(f"addons.pref.q_low={list(o.q_low)} (for {o.q_low_levels} levels) maps to {q} for "
                            f"{n} levels: every low level must be in [0, {n - 2}]")

    def extra_losses(self, student: StudentPass, batch: TargetBatch, pl: PLBatch, step: int) -> dict[str, Tensor]:
        if step < self.start_step:
            return {}
        o = self.options
        x = batch.strong
        b = x.shape[0]
        q = self.q_low[torch.randint(len(self.q_low), (b,), generator=self.gen)].to(x.device)
        rows = torch.arange(b, device=x.device)
        levels = torch.cat([torch.full((b,), self.top, device=x.device, dtype=torch.long), q])
        # winner and loser in one call; pairs the labels already restored this step are reused
        out = student.at(torch.cat([rows, rows]), levels).clamp(0, 1)
        if not o.loser_grad:  # the loser as a constant target: no gradient through y_l
            out = torch.cat([out[:b], out[b:].detach()])
        # one call per member for both branches; an oracle reward scores each against its clean crop
        ref = batch.ref.rows(torch.cat([rows, rows]), STUDENT) if needs_ref(self.ensemble, batch) else None
        r = self.ensemble.reward(out, ref=ref) if ref is not None else self.ensemble.reward(out)
        anchor, has = label_anchor(pl, b, best=o.anchor == "best")
        loss, l1, l2 = preference_loss(r[:b], r[b:], anchor, has, o.beta, o.delta, o.lam, o.lam2)
        self.last = {"pref/margin": (r[:b] - r[b:]).detach().mean(), "pref/l1": l1.detach() / b,
                     "pref/l2": l2.detach() / b}
        return {"pref": loss}
