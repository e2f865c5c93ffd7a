"""Gradient alignment of a reward with fidelity, without training (docs/agreement.md §3).

Spearman rho says how well a score *ranks* outputs by PSNR: what quality levels, banks and filters use. The
preference loss uses something else: the reward's *gradient* with respect to the restored pixels, which is what
the student climbs. For each candidate ``x`` with clean crop ``c`` the direction that raises PSNR fastest is
``c - x``; the alignment of a reward ``r`` is the cosine between ``d r(x) / d x`` and ``c - x``, averaged over
candidates. 1: climbing the reward restores; 0: it changes pixels in directions fidelity does not care about
(a random direction of a 3x64x64 crop has cosine ~0 +- 0.01); < 0: it degrades.

Members score each image on its own (no batch statistics), so the gradient of the batch sum gives every
candidate its own gradient. Members without gradients (``differentiable = False``) enter the reward as
constants and have no alignment. The oracle mixes of ``iqa.agreement.alpha`` mix gradients the way the reward
does: ``(1 - alpha) d s + alpha W d f``; its noise (``sigma``) is constant per crop and adds no gradient.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import Tensor

from qtbench.iqa.fidelity import oracle_member


def cosines(grad: Tensor, direction: Tensor) -> np.ndarray:
    """Per-row cosine between ``grad`` and ``direction`` ([N,...] each); NaN where either is zero."""
    g, d = grad.flatten(1).double(), direction.flatten(1).double()
    den = g.norm(dim=1) * d.norm(dim=1)
    cos = (g * d).sum(1) / den
    return torch.where(den > 0, cos, torch.full_like(cos, math.nan)).numpy()


def input_gradient(score: Callable[[Tensor], Tensor], images: Tensor) -> Optional[Tensor]:
    """``d score(x)_i / d x_i`` for every row (scores are per image), or None when the score has no gradient."""
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        s = score(x)
        if not s.requires_grad:
            return None
        (g,) = torch.autograd.grad(s.sum(), x, allow_unused=True)
    return None if g is None else g.detach()


def mean_finite(values: np.ndarray) -> float:
    """Mean over the finite entries (NaN when none)."""
    v = values[np.isfinite(values)]
    return float(v.mean()) if v.size else math.nan


def gradient_alignment(ensemble: Any, images: Tensor, clean: Tensor, alphas: list[float], lo: float, hi: float,
                       batch: int = 32) -> dict[str, Any]:
    """Mean cosine between each reward gradient and the PSNR-raising direction ``clean - images``.

    Args:
        ensemble: a preset's :class:`~qtbench.iqa.ensemble.Ensemble` without agreement mixing.
        images, clean: [N,3,h,w] candidates and their clean crops, in [0, 1].
        alphas: oracle mixing weights to report (the gradient of ``(1 - alpha) s + alpha W f``).
        lo, hi: the oracle's PSNR range (``iqa.agreement.lo``/``hi``).

    Returns:
        ``{"members": {name: cos}, "ensemble": cos, "mixed": {alpha: cos}, "oracle": cos}``; members
        without gradients are left out, and ``ensemble`` is NaN when no member with weight has one.
    """
    oracle = oracle_member(lo, hi)
    w = sum(ensemble.weights.values())
    names = [k for k, m in ensemble.members.items() if getattr(m, "differentiable", False)]
    per: dict[str, list[np.ndarray]] = {k: [] for k in names}
    ens: list[np.ndarray] = []
    mixed: dict[str, list[np.ndarray]] = {f"{a:g}": [] for a in alphas}
    orc: list[np.ndarray] = []
    for s in range(0, images.shape[0], batch):
        x, c = images[s:s + batch], clean[s:s + batch]
        direction = c - x
        for k in names:
            g = input_gradient(lambda t, k=k: ensemble.members[k](t).reshape(-1), x)
            per[k].append(cosines(g, direction) if g is not None else np.full(len(x), math.nan))
        g_s = input_gradient(ensemble.reward, x)
        g_s = torch.zeros_like(x) if g_s is None else g_s  # constants only: no gradient at all
        g_f = input_gradient(lambda t: oracle.normalise(oracle.raw(t, c)), x)
        ens.append(cosines(g_s, direction))
        orc.append(cosines(g_f, direction))
        for a in alphas:
            mixed[f"{a:g}"].append(cosines((1.0 - a) * g_s + a * w * g_f, direction))
    return {"members": {k: mean_finite(np.concatenate(v)) for k, v in per.items()},
            "ensemble": mean_finite(np.concatenate(ens)),
            "mixed": {k: mean_finite(np.concatenate(v)) for k, v in mixed.items()},
            "oracle": mean_finite(np.concatenate(orc))}


def reward_alignment(ensemble: Any, images: Tensor, clean: Tensor, ref: Any = None) -> np.ndarray:
    """[N] cosine between the gradient of the reward as a run uses it and ``clean - images`` (NaN: no gradient).

    ``ensemble.reward`` is the preference loss's reward, agreement mixing and noise included; ``ref`` carries the
    clean crops to a reward that reads them. Scoring copies of the images leaves the run untouched (frozen
    members, no random numbers).
    """
    score = (lambda t: ensemble.reward(t, ref=ref)) if ref is not None else ensemble.reward
    g = input_gradient(score, images)
    return np.full(images.shape[0], math.nan) if g is None else cosines(g, clean - images)
