"""``filter``: Mean Teacher that *discards* low-quality pseudo-labels (docs/frameworks.md §2).

The "discard" side of the paradox QualiTeacher describes: each candidate PL is scored by the same IQA
ensemble QualiTeacher uses (combined global score ``s``) and kept only if ``s >= tau`` (``absolute``) or
``s`` is at or above the ``drop_fraction``-quantile of the last ``window`` scores, the current step's
included (``quantile``). A dropped crop contributes no PL loss, but still counts in the denominator:
dropping *reduces* the unsupervised signal, which is the point of the comparison. The student is
unconditioned; ``filter`` differs from ``mt+qcond`` only in how the score is used (drop vs condition).

``with_bank`` keeps the best passing PL per crop key (a 1-slot store); the ``bank`` add-on replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.features import build_features, check_features
from qtbench.engine.plugin_api import Framework, FrameworkContext, PLBatch, TargetBatch
from qtbench.errors import UserError
from qtbench.registry import frameworks
from qtbench_methods.pl_common import STRONG, gather_k, one_label_per_crop, pl_loss, require_grid
from qtbench_methods.store import STORAGES, LabelStore

MODES = ("absolute", "quantile")


@dataclass
class FilterConfig:
    """Options of :class:`ThresholdFilter` (qtbench's definitions: no paper fixes them, docs/frameworks.md §2)."""

    mode: str = "absolute"  # source: docs/frameworks.md §2 table (absolute | quantile)
    tau: float = 0.7  # source: docs/frameworks.md §2 (QualiTeacher's level-7 boundary, docs/method.md §4)
    drop_fraction: float = 0.5  # quantile mode; source: docs/frameworks.md §2 table
    window: int = 512  # quantile mode: recent scores kept (checkpointed); source: docs/frameworks.md §2 table
    with_bank: bool = False  # keep the best passing PL per crop; source: docs/frameworks.md §2 table
    # source: docs/frameworks.md §2 writes L1 + L_cp; 0 keeps qtbench's mt PL term (L1 only, methods/mt.py), so that
    # filter differs from mt only by the drop. 1.0 = the contrastive term of docs/frameworks.md §1
    cp_weight: float = 0.0
    cp_eps: float = 0.0  # source: docs/method.md §11 (QualiTeacher's L_cp: no eps in the denominator)
    features: str = "base"  # contrastive features: base (offline) | vgg19; source: qtbench choice (offline default)
    storage: str = "uint8"  # with_bank PL precision; source: the bank add-on's default (methods/bank.py)


def threshold(history: Tensor, mode: str, tau: float, drop_fraction: float) -> Tensor:
    """The keep threshold: ``tau``, or the ``drop_fraction``-quantile (linear interpolation) of ``history``."""
    if mode == "absolute":
        return torch.tensor(float(tau), device=history.device)
    return torch.quantile(history, drop_fraction)


@frameworks.register(
    "filter", "Mean Teacher that drops PLs whose IQA-ensemble score is below a threshold (fixed or running quantile)",
    aliases=("threshold",),
    source="docs/frameworks.md §2 (qtbench definition; cf. SemiDDM-Weather arXiv 2409.19679, SnowMaster CVPR 2025)",
    config=FilterConfig,
)
class ThresholdFilter(Framework):
    """Zero weight for candidates below the threshold; ``pl.cand_keep`` tells a bank add-on which passed.

    Args:
        cfg: :class:`FilterConfig`.
    """

    needs_iqa = True
    select_before = "memory"  # after gate: the gate filters first; before bank: it stores passing PLs only

    def __init__(self, cfg: DictConfig) -> None:
        super().__init__(cfg)
        self.history = torch.zeros(int(cfg.window))
        self.count = 0
        self.store = LabelStore(cfg.storage)
        self.features = None
        self.seen = torch.zeros((), dtype=torch.long)
        self.kept = torch.zeros((), dtype=torch.long)
        self.last: dict[str, Tensor] = {}

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        o = cfg.framework
        if o.mode not in MODES:
            raise UserError(f"framework.mode={o.mode!r}: choose {' or '.join(MODES)}")
        if not 0.0 < o.drop_fraction < 1.0:
            raise UserError(f"framework.drop_fraction={o.drop_fraction} must be in (0, 1)")
        if o.window < 1:
            raise UserError(f"framework.window={o.window} must be >= 1")
        if o.storage not in STORAGES:
            raise UserError(f"framework.storage={o.storage!r}: choose {' or '.join(STORAGES)}")
        if o.cp_weight < 0:
            raise UserError(f"framework.cp_weight={o.cp_weight} is a loss weight and must be >= 0")
        if o.with_bank and "bank" in cfg.addons:
            raise UserError("filter: framework.with_bank and the bank add-on both store PLs; the bank replaces "
                            "with_bank, so drop framework.with_bank=true")
        if o.with_bank:
            require_grid(cfg, "filter with_bank")
        if o.cp_weight > 0:
            check_features(o.features)

    def setup(self, ctx: FrameworkContext) -> None:
        self.history = self.history.to(ctx.device)
        self.seen, self.kept = self.seen.to(ctx.device), self.kept.to(ctx.device)
        self.store.setup(ctx.n_keys, ctx.device)
        if self.cfg.cp_weight > 0:
            self.features = build_features(self.cfg.features, ctx.base, ctx.device)

    def _remember(self, scores: Tensor) -> None:
        """Append scores to the ring buffer of the last ``window`` scores."""
        n = self.history.shape[0]
        pos = (self.count + torch.arange(scores.numel(), device=scores.device)) % n
        self.history[pos] = scores.float()
        self.count += scores.numel()

    def current_threshold(self) -> Tensor:
        o = self.cfg
        return threshold(self.history[: min(self.count, self.history.shape[0])], o.mode, o.tau, o.drop_fraction)

    def select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        if pl.score is None:
            raise RuntimeError("filter: candidates carry no scores (the engine scores them when needs_iqa)")
        b, k = pl.score.shape
        self._remember(pl.score.detach().flatten())
        tau = self.current_threshold()
        passed = pl.score >= tau
        if pl.cand_keep is not None:
            passed = passed & pl.cand_keep
        pl.cand_keep = passed
        keep = passed.any(dim=1)
        pl.keep = keep if pl.keep is None else pl.keep & keep
        pl.cache[STRONG] = batch.strong
        self.seen += passed.numel()
        self.kept += passed.sum()
        self.last = {"filter/kept_fraction": passed.float().mean(), "filter/tau": tau}
        if self.cfg.with_bank:
            return self._banked(pl, batch, passed)
        if pl.label.shape[0] != b * k:
            raise RuntimeError("filter: the labels no longer match the candidates (an add-on before it re-labelled)")
        pl.weight = pl.weight * passed.flatten().to(pl.weight.dtype)
        pl.norm = torch.tensor(float(b * k), device=pl.weight.device)  # dropped labels stay in the denominator
        return pl

    def _banked(self, pl: PLBatch, batch: TargetBatch, passed: Tensor) -> PLBatch:
        """Store the best passing candidate when it beats the stored one; train on the stored best."""
        b = passed.shape[0]
        j = pl.score.masked_fill(~passed, float("-inf")).argmax(dim=1)
        cand, score = gather_k(pl.candidates, j), gather_k(pl.score, j)
        mask = pl.cand_mask.gather(j) if pl.cand_mask is not None else None
        self.store.ensure(cand, 1, mask is not None)
        _, old, _, filled = self.store.read(batch.key)
        better = pl.keep & (~filled | (score > old[:, 0]))
        self.store.write(batch.key, better, cand, score[:, None], mask)
        label, stored, smask, filled = self.store.read(batch.key)
        pl = one_label_per_crop(pl, label, filled.to(label.dtype), stored[:, 0], smask)
        pl.norm = torch.tensor(float(b), device=label.device)
        return pl

    def target_loss(self, pred: Tensor, pl: PLBatch) -> Tensor:
        return pl_loss(pred, pl, self.features, self.cfg.cp_weight, self.cfg.cp_eps)

    def step_metrics(self) -> dict[str, Tensor]:
        return self.last

    def summary(self) -> dict[str, Any]:
        return {"mode": self.cfg.mode, "tau": float(self.current_threshold()) if self.count else float(self.cfg.tau),
                "kept_fraction": int(self.kept) / max(1, int(self.seen)), "with_bank": bool(self.cfg.with_bank),
                "keys_stored": self.store.n_used, "features": self.cfg.features if self.cfg.cp_weight > 0 else None}

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history.cpu().clone(), "count": self.count, "seen": self.seen.cpu().clone(),
                "kept": self.kept.cpu().clone(), "store": self.store.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.history.device
        self.history, self.count = state["history"].to(dev).clone(), int(state["count"])
        self.seen, self.kept = state["seen"].to(dev).clone(), state["kept"].to(dev).clone()
        self.store.load_state_dict(state["store"])

