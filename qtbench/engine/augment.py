"""Augmentations: dihedral flips/rotations and the strong photometric student view.

All randomness comes from an explicit ``torch.Generator`` whose state is checkpointed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor

_BINOMIAL = torch.tensor([1.0, 2.0, 1.0]) / 4.0


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def dihedral(x: Tensor, y: Tensor | None, gen: torch.Generator) -> tuple[Tensor, Tensor | None]:
    """Apply one random flip/rot90 (same for the whole batch and its target)."""
    k = int(torch.randint(0, 8, (1,), generator=gen))
    def op(t: Tensor) -> Tensor:
        t = torch.rot90(t, k % 4, dims=(-2, -1))
        return t.flip(-1) if k >= 4 else t
    return op(x), (op(y) if y is not None else None)


def blur3(x: Tensor) -> Tensor:
    """3x3 binomial blur (reflect padding)."""
    k = (_BINOMIAL[:, None] * _BINOMIAL[None, :]).to(x)[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=x.shape[1])


def strong_view(x: Tensor, cfg: DictConfig, gen: torch.Generator) -> Tensor:
    """Per-sample contrast (about the mean), brightness, gamma, an occasional blur and Gaussian noise.

    Args:
        x: [B,3,H,W] in [0,1].
        cfg: ``strong`` config node.
        gen: random generator.
    """
    if not cfg.enabled:
        return x
    b = x.shape[0]
    contrast = _uniform(b, *cfg.contrast, gen).view(b, 1, 1, 1)
    bright = _uniform(b, -cfg.brightness, cfg.brightness, gen).view(b, 1, 1, 1)
    gamma = _uniform(b, *cfg.gamma, gen).view(b, 1, 1, 1)
    blur = (torch.rand(b, generator=gen) < cfg.blur_prob).view(b, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    y = ((x - mean) * contrast + mean + bright).clamp(0, 1)
    y = y.clamp_min(1e-6) ** gamma
    y = torch.where(blur, blur3(y), y)
    lo, hi = cfg.noise
    if hi > 0:  # drawn only when enabled, so runs without noise keep their random stream
        sigma = _uniform(b, lo, hi, gen).view(b, 1, 1, 1)
        y = y + sigma * torch.randn(y.shape, generator=gen)
    return y.clamp(0, 1)
