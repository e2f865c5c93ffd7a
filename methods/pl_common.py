"""Parts shared by the baseline frameworks ``filter``, ``semiuir`` and ``colabator`` (docs/frameworks.md §2-§4).

- own scorers: Semi-UIR scores with MUSIQ, Colabator with MUSIQ + DA-CLIP; they use the run's ensemble
  members that play those roles as the preset declares them (the quality and degradation roles,
  qtbench/iqa/presets.py ``ROLES``), so the engine's one batched scoring call per member serves framework
  and add-ons alike (docs/frameworks.md §5);
- the PL loss: weighted (masked) L1 plus the contrastive regulariser, negative = the strong-view input;
- Semi-UIR's schedules: sigmoid consistency ramp-up and the warm-up EMA.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.features import FeatureExtractor, contrastive_ratio
from qtbench.engine.plugin_api import PLBatch
from qtbench.errors import UserError
from qtbench.iqa.presets import preset_members, role_member

STRONG = "strong"  # PLBatch.cache key: the step's strong views [B,3,h,w] (contrastive negatives)


def ensemble_names(cfg: DictConfig) -> list[str]:
    """Member names of the run's ensemble, known at compose time (custom members or the preset's)."""
    if len(cfg.iqa.members):
        return [m.name for m in cfg.iqa.members]
    return [m.name for m in preset_members(cfg.iqa.preset)]


def resolve_members(cfg: DictConfig, given: Optional[list[str]], roles: tuple[str, ...], who: str) -> list[str]:
    """The ensemble members playing ``roles`` for framework ``who``.

    Args:
        cfg: the run config.
        given: ``framework.members`` (None: the members the preset declares for the roles).
        roles: e.g. ``(QUALITY, DEGRADATION)`` (qtbench/iqa/presets.py).
        who: framework name, for messages.

    Raises:
        UserError: a custom ensemble without ``framework.members``, a wrong count or an unknown member.
    """
    names = ensemble_names(cfg)
    if given is None:
        if len(cfg.iqa.members):
            raise UserError(f"{who} scores with the {'+'.join(roles)} role member(s): with custom iqa.members give "
                            f"framework.members=[{','.join(['NAME'] * len(roles))}] from {', '.join(names)}")
        out = [role_member(cfg.iqa.preset, r) for r in roles]
        if None in out:
            raise UserError(f"iqa.preset={cfg.iqa.preset} declares no member for the {'+'.join(roles)} role(s) "
                            f"{who} scores with; give framework.members=[{','.join(['NAME'] * len(roles))}]")
    else:
        out = list(given)
    if len(out) != len(roles):
        raise UserError(f"framework.members={out}: {who} needs {len(roles)} member(s) ({', '.join(roles)} roles)")
    missing = [m for m in out if m not in names]
    if missing:
        raise UserError(f"framework.members: {', '.join(missing)} not in the ensemble ({', '.join(names)})")
    return out


def require_grid(cfg: DictConfig, who: str) -> None:
    """Stored labels are keyed by crop: revisits need ``pl.target_crops=grid``."""
    if cfg.pl.target_crops != "grid":
        raise UserError(f"{who} stores one PL per crop and needs aligned crops to revisit, but "
                        f"pl.target_crops={cfg.pl.target_crops!r}; set pl.target_crops=grid")


def sigmoid_rampup(step: int, length: float) -> float:
    """``exp(-5 (1 - min(t, T)/T)^2)`` (Laine & Aila; Semi-UIR §3.3); 1 when ``T <= 0``."""
    if length <= 0:
        return 1.0
    phase = 1.0 - min(float(step), length) / length
    return math.exp(-5.0 * phase * phase)


def warmup_ema(step: int, cap: float) -> float:
    """``min(1 - 1/(t+1), cap)``: the teacher is the true mean of past students until the EMA takes over."""
    return min(1.0 - 1.0 / (step + 1), cap)


def pl_loss(pred: Tensor, pl: PLBatch, features: Optional[FeatureExtractor], cp_weight: float, eps: float,
            pixel_weight: float = 1.0) -> Tensor:
    """``sum_n w_n [pixel_weight * mean(|y_n - p_n| * M_n) + cp_weight * contrastive_n] / norm``.

    Args:
        pred: [N,3,h,w] student outputs (anchor).
        pl: labels (positive), weights, optional mask and norm; ``pl.cache[STRONG]`` holds the negatives.
        features: extractor of the contrastive term (unused when ``cp_weight`` is 0).
        cp_weight, eps, pixel_weight: constants of the framework.
    """
    err = (pred - pl.label).abs()
    if pl.mask is not None:
        err = err * pl.mask
    per = pixel_weight * err.flatten(1).mean(1)
    if cp_weight > 0:
        # only labels that count: a ratio of a dropped label may be non-finite (Colabator has no eps)
        live = (pl.weight > 0).nonzero().squeeze(1)
        if live.numel():
            neg = pl.cache[STRONG][pl.owners()[live]]
            ratio = contrastive_ratio(features, pred[live], pl.label[live], neg, eps)
            per = per.index_add(0, live, cp_weight * ratio)
    norm = pl.weight.sum().clamp_min(1.0) if pl.norm is None else pl.norm
    return (per * pl.weight).sum() / norm


def one_label_per_crop(pl: PLBatch, label: Tensor, weight: Tensor, score: Tensor, mask: Optional[Tensor]) -> PLBatch:
    """Replace the labels with one per crop (``owner`` None) and their combined score, weight and mask."""
    pl.label, pl.weight, pl.label_score, pl.mask = label, weight, score, mask
    pl.owner, pl.level, pl.norm = None, None, None
    return pl


def gather_k(x: Tensor, j: Tensor) -> Tensor:
    """``x[b, j[b]]`` for x [B,K,...] and j [B]."""
    return x[torch.arange(x.shape[0], device=x.device), j]
