"""Level diagnostics of a quality-conditioned student (docs/method.md §18; docs/protocol.md §4).

For every level ``q`` the student restores target-test at ``q``; we report the ensemble score and the PSNR of
the outputs, the Spearman rho between level and mean score (the paper's "monotonically ordered quality
separation") and between level and PSNR, and the student at the top level against the teacher as it labels
(unconditioned, docs/method.md §5): does the student go "beyond the teacher"?
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np
import torch
from scipy.stats import spearmanr

from qtbench.engine.sampler import to_tensor
from qtbench.eval.evaluate import psnr_scores, restore
from qtbench.data.containers import ImageSet


@torch.no_grad()
def ensemble_scores(ensemble: torch.nn.Module, images: list[np.ndarray], device,
                    targets: Optional[list[np.ndarray]] = None) -> np.ndarray:
    """Combined ensemble score of uint8 images; images of one size go through the ensemble together.

    ``targets`` (clean images) are the references of an ensemble that reads them (docs/agreement.md).
    """
    out = np.zeros(len(images))
    by_size: dict[tuple, list[int]] = {}
    for i, im in enumerate(images):
        by_size.setdefault(im.shape, []).append(i)
    for idx in by_size.values():
        x = to_tensor([images[i] for i in idx]).to(device)
        if getattr(ensemble, "needs_reference", False):
            from qtbench.iqa.fidelity import Reference, noise_ids

            ref = Reference(to_tensor([targets[i] for i in idx]).to(device), noise_ids(np.asarray(idx), -1))
            s = ensemble.score(x, ref=ref).combined
        else:
            s = ensemble.score(x).combined
        out[idx] = s.float().cpu().numpy()
    return out


def _rho(x: list[float], y: list[float]) -> float:
    """Spearman rho; NaN when either side is constant (e.g. an untrained level embedding)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(x, y).statistic)


def level_diagnostics(student: torch.nn.Module, teacher: torch.nn.Module, images: ImageSet, ensemble: torch.nn.Module,
                      num_levels: int, device, max_images: int = 0) -> dict[str, Any]:
    """Score and PSNR of the student at every level, monotonicity, and top level vs teacher.

    Args:
        student: the trained student (conditioned).
        teacher: the EMA teacher, evaluated unconditioned (as it produces PLs, docs/method.md §5).
        images: target-test set (clean images for PSNR).
        ensemble: the run's IQA ensemble (scores of the outputs).
        num_levels: L; levels 0..L-1 are evaluated.
        device: torch device.
        max_images: evaluate only the first ``max_images`` images (0 = all).

    Returns:
        ``{"levels", "psnr", "score", "spearman_rho", "spearman_rho_psnr", "teacher_psnr", "teacher_score",
        "top_minus_teacher_psnr", "top_minus_teacher_score", "n_images"}``; per-level lists are means over
        images.
    """
    n = len(images) if max_images <= 0 else min(max_images, len(images))
    inputs = images.inputs[:n]
    targets = [images.target(i) for i in range(n)]
    student.eval()
    teacher.eval()
    psnr, score = [], []
    for q in range(num_levels):
        outs = restore(student, inputs, q, device)
        psnr.append(float(np.mean(psnr_scores(outs, targets))))
        score.append(float(np.mean(ensemble_scores(ensemble, outs, device, targets))))
    t_outs = restore(teacher, inputs, None, device)
    t_psnr = float(np.mean(psnr_scores(t_outs, targets)))
    t_score = float(np.mean(ensemble_scores(ensemble, t_outs, device, targets)))
    levels = list(range(num_levels))
    return {
        "levels": levels, "psnr": psnr, "score": score,
        "spearman_rho": _rho(levels, score), "spearman_rho_psnr": _rho(levels, psnr),
        "teacher_psnr": t_psnr, "teacher_score": t_score,
        "top_minus_teacher_psnr": psnr[-1] - t_psnr, "top_minus_teacher_score": score[-1] - t_score,
        "n_images": n,
    }


def level_metrics(diag: dict[str, Any]) -> dict[str, float]:
    """Flat ``levels/...`` metrics of :func:`level_diagnostics` for summary.json and MLflow."""
    out = {f"levels/psnr@{q}": p for q, p in zip(diag["levels"], diag["psnr"])}
    out.update({f"levels/score@{q}": s for q, s in zip(diag["levels"], diag["score"])})
    for key in ("spearman_rho", "spearman_rho_psnr", "teacher_psnr", "teacher_score",
                "top_minus_teacher_psnr", "top_minus_teacher_score"):
        out[f"levels/{key}"] = diag[key]
    return out


def reward_metric_names(ensemble: Optional[torch.nn.Module], registered: set[str]) -> list[str]:
    """NR metric names whose scores were also training signals (docs/architecture.md §2: flagged in tables).

    Every ensemble member that is a pyiqa metric (not a qtbench-registered member) counts, and ``niqe_fit``
    flags pyiqa's ``niqe`` (the same statistics, refitted). A member whose score carries no weight in the reward
    (weight 0, or the pure oracle at ``alpha = 1``, where the members are not even run) is not a training signal.
    """
    if ensemble is None:
        return []
    names = []
    for name in ensemble.members:
        if ensemble.alpha >= 1.0 or ensemble.weights[name] == 0.0:
            continue
        if name not in registered:
            names.append(name)
        elif name == "niqe_fit":
            names.append("niqe")
    return sorted(set(names))
