"""``gate``: dual-drop gating of a crop's candidate set (docs/method.md §6.2).

1. Cross-IQA consistency: for every candidate, the unbiased std of its member scores (the semantic member
   excluded, as the official ``std([m, b])``) must be <= ``tau_multi``; one failing candidate drops the set.
2. Cross-augmentation robustness: the unbiased std of one member's score over the K candidates must be
   <= ``tau_aug`` (skipped with a single candidate).

The released thresholds (1.0 / 1.0) keep everything (docs/method.md §6.2 [D]); ``mode=calibrated`` sets both
from running percentiles so that about ``target_drop_rate`` of the crops is dropped (the official code
prints the 10th percentile, which would *keep* 10 %: §21 item 3). A dropped crop falls back to its bank
entries when ``bank`` is on (the bank runs after the gate), otherwise its labels get weight 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.plugin_api import AddOn, AddOnContext, PLBatch, TargetBatch
from qtbench.errors import UserError
from qtbench.iqa.presets import QUALITY, role_member
from qtbench.registry import addons


@dataclass
class GateConfig:
    """Options of :class:`DualDropGate`."""

    mode: str = "fixed"  # "fixed" thresholds (official) or "calibrated" from running percentiles
    tau_multi: float = 1.0  # source: docs/method.md §6.2, §19 (drop_threshold_multi_iqa = 1.0: a no-op)
    tau_aug: float = 1.0  # source: docs/method.md §6.2, §19 (drop_threshold_aug_robust = 1.0: a no-op)
    # members left out of drop 1; source: docs/method.md §6.2 (std([m, b]): DA-CLIP, the semantic member, excluded)
    multi_exclude: list[str] = field(default_factory=lambda: ["degprob", "clipiqa", "daclip"])
    # drop-2 member; source: docs/method.md §6.2 (std of MUSIQ over the views). None = the preset's quality role
    # (MUSIQ's; qtbench/iqa/presets.py ROLES), or the first member of a custom ensemble
    aug_member: Optional[str] = None
    target_drop_rate: float = 0.10  # calibrated mode; source: docs/method.md §6.2 (enable_drop_stat: ~10 % intended)
    window: int = 1024  # calibrated mode: crops of running history the percentiles are taken over
    min_history: int = 64  # calibrated mode: fixed thresholds until this many crops were seen


def gate_stats(scores: dict[str, Tensor], multi: list[str], aug: str) -> tuple[Tensor, Tensor]:
    """Per-crop gate statistics.

    Args:
        scores: member -> [B,K] normalised scores.
        multi: members entering drop 1.
        aug: the member of drop 2.

    Returns:
        (worst cross-IQA std over the K candidates [B], cross-augmentation std [B]); unbiased stds,
        0 where fewer than two values exist.
    """
    ref = scores[aug]
    if len(multi) >= 2:
        s_iqa = torch.stack([scores[m] for m in multi], dim=-1).std(dim=-1).amax(dim=1)
    else:
        s_iqa = torch.zeros(ref.shape[0], device=ref.device)
    s_aug = ref.std(dim=1) if ref.shape[1] >= 2 else torch.zeros(ref.shape[0], device=ref.device)
    return s_iqa, s_aug


@addons.register(
    "gate", "dual-drop gating: drop a crop's candidates on cross-IQA or cross-view score disagreement",
    source="docs/method.md §6.2 (official thresholds 1.0 = no-op; calibrated mode per §21 item 3)", config=GateConfig,
)
class DualDropGate(AddOn):
    """Sets ``pl.keep`` [B] and zeroes the weights of dropped crops' labels.

    Args:
        cfg: the run config.
        options: :class:`GateConfig`.
    """

    phase = "gate"  # before bank: the bank merges only kept candidate sets
    needs_iqa = True

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        super().__init__(cfg, options)
        n = int(options.window)
        self.history = torch.zeros(2, n)
        self.count = 0  # crops seen (host int: the ring-buffer position)
        self.tau = torch.tensor([float(options.tau_multi), float(options.tau_aug)])
        self.seen = torch.zeros((), dtype=torch.long)
        self.dropped = torch.zeros((), dtype=torch.long)
        self.last: dict[str, Tensor] = {}
        self.multi: list[str] = []
        self.aug = ""
        self.k = 1
        self.preset = ""

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        o = cfg.addons.gate
        if o.mode not in ("fixed", "calibrated"):
            raise UserError(f"addons.gate.mode={o.mode!r}: choose fixed or calibrated")
        if not 0.0 < o.target_drop_rate < 1.0:
            raise UserError(f"addons.gate.target_drop_rate={o.target_drop_rate} must be in (0, 1)")
        if o.window < 1 or o.min_history < 1:
            raise UserError("addons.gate.window and addons.gate.min_history must be >= 1")

    def setup(self, ctx: AddOnContext) -> None:
        self.preset = getattr(ctx.ensemble, "preset", "")
        # statistics stay on the device: no host sync per step
        self.history, self.tau = self.history.to(ctx.device), self.tau.to(ctx.device)
        self.seen, self.dropped = self.seen.to(ctx.device), self.dropped.to(ctx.device)

    def _resolve_members(self, names: list[str]) -> None:
        """Pick drop-1 members and the drop-2 member from the ensemble's member names (first step)."""
        self.multi = [n for n in names if n not in set(self.options.multi_exclude)]
        aug = self.options.aug_member
        if aug is None:
            aug = role_member(self.preset, QUALITY)
            aug = aug if aug in names else names[0]
        self.aug = aug
        if self.aug not in names:
            raise UserError(f"addons.gate.aug_member={self.aug!r} is not an ensemble member ({', '.join(names)})")

    def thresholds(self, k: int = 2) -> Tensor:
        """[2] current (tau_multi, tau_aug): fixed, or the running percentiles in calibrated mode.

        Args:
            k: candidates per crop (with one, drop 2 does not exist and drop 1 takes the whole rate).
        """
        o = self.options
        if o.mode == "fixed" or self.count < o.min_history:
            return self.tau
        n_tests = 2 if k >= 2 else 1  # per-test rate r with (1 - r)^n = 1 - target (independent tests)
        rate = 1.0 - (1.0 - o.target_drop_rate) ** (1.0 / n_tests)
        hist = self.history[:, : min(self.count, self.history.shape[1])]
        return torch.quantile(hist, 1.0 - rate, dim=1)

    def on_select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        if not self.aug:
            self._resolve_members(list(pl.scores))
        s_iqa, s_aug = gate_stats(pl.scores, self.multi, self.aug)
        self.k = pl.candidates.shape[1]
        tau = self.thresholds(self.k)
        keep = (s_iqa <= tau[0]) & (s_aug <= tau[1])
        self._remember(torch.stack([s_iqa, s_aug]).detach())
        pl.keep = keep if pl.keep is None else pl.keep & keep
        pl.weight = pl.weight * pl.keep[pl.owners()].to(pl.weight.dtype)
        self.seen += keep.numel()
        self.dropped += (~keep).sum()
        self.last = {"gate/drop_rate": (~keep).float().mean(), "gate/tau_multi": tau[0], "gate/tau_aug": tau[1]}
        return pl

    def _remember(self, stats: Tensor) -> None:
        """Append [2,B] statistics to the ring buffer."""
        n = self.history.shape[1]
        pos = (self.count + torch.arange(stats.shape[1], device=stats.device)) % n
        self.history[:, pos] = stats
        self.count += stats.shape[1]

    def step_metrics(self) -> dict[str, Tensor]:
        return self.last

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history.cpu().clone(), "count": self.count, "seen": self.seen.cpu().clone(),
                "dropped": self.dropped.cpu().clone(), "k": self.k, "multi": list(self.multi), "aug": self.aug}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.history.device
        self.history, self.count = state["history"].to(dev).clone(), int(state["count"])
        self.seen, self.dropped = state["seen"].to(dev).clone(), state["dropped"].to(dev).clone()
        self.k, self.multi, self.aug = int(state["k"]), list(state["multi"]), str(state["aug"])

    def summary(self) -> dict[str, Any]:
        tau = self.thresholds(self.k)
        return {"mode": self.options.mode, "multi_members": self.multi, "aug_member": self.aug,
                "crops_seen": int(self.seen), "drop_rate": float(self.dropped) / max(1, int(self.seen)),
                "tau_multi": float(tau[0]), "tau_aug": float(tau[1])}
