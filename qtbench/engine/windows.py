"""Per-sample windows of a batch: the one gather that cropped consistency and its clean references share."""

from __future__ import annotations

import torch
from torch import Tensor


def windows(x: Tensor, top: Tensor, left: Tensor, size: tuple[int, int]) -> Tensor:
    """Per-sample windows of ``x`` [B,C,H,W] at (top[b], left[b]) of ``size`` (differentiable gather)."""
    ch, cw = size
    b = x.shape[0]
    rows = top[:, None] + torch.arange(ch, device=x.device)  # [B,ch]
    cols = left[:, None] + torch.arange(cw, device=x.device)  # [B,cw]
    idx = torch.arange(b, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
