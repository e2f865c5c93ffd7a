"""Full-image evaluation of a model on an image set: FR metrics where clean images exist, NR always."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from qtbench.errors import UserError
from qtbench.eval.metrics import nr_metric, psnr, ssim
from qtbench.engine.sampler import to_tensor
from qtbench.data.containers import ImageSet


@dataclass
class SetResult:
    """Per-image results of one model on one set (outputs as uint8 HxWx3)."""

    psnr: np.ndarray
    ssim: np.ndarray
    outputs: list[np.ndarray]


@torch.no_grad()
def restore(model: Optional[torch.nn.Module], images: list[np.ndarray], level: Optional[int], device) -> list[np.ndarray]:
    """Run ``model`` on each full image (None = identity: scores the degraded input)."""
    outs = []
    for im in images:
        x = to_tensor([im]).to(device)
        y = x if model is None else model(x, level=level).clamp(0, 1)
        outs.append((y[0].permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8))
    return outs


def psnr_scores(outputs: list[np.ndarray], targets: list[np.ndarray]) -> np.ndarray:
    """Per-image PSNR of uint8 outputs against uint8 targets (alone for the callers that read only PSNR: level
    diagnostics, the training trajectory, galleries)."""
    return np.asarray([float(psnr(to_tensor([o]), to_tensor([t]))[0]) for o, t in zip(outputs, targets)])


def score_pairs(outputs: list[np.ndarray], targets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-image PSNR and SSIM of uint8 outputs against uint8 targets."""
    s = [float(ssim(to_tensor([o]), to_tensor([t]))[0]) for o, t in zip(outputs, targets)]
    return psnr_scores(outputs, targets), np.asarray(s)


def evaluate_set(model, images: ImageSet, level: Optional[int], device, with_ssim: bool = True) -> SetResult:
    """Restore every image of ``images`` and score it against its clean photo.

    Args:
        with_ssim: False skips SSIM (``ssim`` is then all NaN): the caller reads PSNR only.
    """
    outs = restore(model, images.inputs, level, device)
    targets = [images.target(i) for i in range(len(images))]
    if with_ssim:
        p, s = score_pairs(outs, targets)
    else:
        p = psnr_scores(outs, targets)
        s = np.full(len(p), np.nan)
    return SetResult(p, s, outs)


def nr_scores(name: str, images: list[np.ndarray]) -> np.ndarray:
    """Raw no-reference scores (pyiqa metric ``name``) of uint8 images, one per image.

    Raises:
        UserError: the metric fails on an image or gives a NaN/inf score (NIQE of a flat image or of one
            smaller than its 96-px block): a mean over it would be NaN or a crash, so say which image instead.
    """
    metric = nr_metric(name)
    out = []
    for i, im in enumerate(images):
        try:
            v = float(metric(to_tensor([im]))[0])
        except RuntimeError as exc:  # pyiqa's NIQE: no whole block, or pinv of NaN features
            v, why = float("nan"), f"failed ({type(exc).__name__})"
        else:
            why = f"gave {v}"
        if not np.isfinite(v):
            raise UserError(f"NR metric {name!r} {why} on image {i} ({im.shape[1]}x{im.shape[0]} px; flat or too "
                            f"small?); score it without {name!r} (eval.nr_metrics / --nr-metrics) or drop that image")
        out.append(v)
    return np.asarray(out)
