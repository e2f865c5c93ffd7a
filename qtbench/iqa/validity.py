"""Reward validity without training (docs/agreement.md): how well each IQA score ranks the base model's
candidates by their true PSNR on target-val (or a trained run's, to see where training took the outputs).

Candidates are the cached base model's (or the run's student's) restorations of every grid window (``pl.crop``, the crops the PL stage
scores) of every target-val image. For each preset: Spearman rho of each member, of the ensemble, of the
ensemble mixed with the oracle at each ``alpha`` (``iqa.agreement``'s mixing) and of the oracle with noise of
each ``sigma``, against the candidates' PSNR to their clean crops. target-val only: target-test stays unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from qtbench.engine.referee import spearman
from qtbench.engine.sampler import to_tensor
from qtbench.errors import UserError
from qtbench.iqa.fidelity import Reference, gaussian, noise_ids, oracle_member, psnr


@dataclass
class Candidates:
    """Base-model candidates of target-val grid windows, with their clean crops."""

    images: torch.Tensor  # [N,3,c,c]
    clean: torch.Tensor  # [N,3,c,c]
    ids: np.ndarray  # [N] noise identities (image index, window)
    psnr: np.ndarray  # [N] dB


@dataclass
class PresetResult:
    """Spearman rho vs PSNR of one preset's scores (NaN: constant scores)."""

    preset: str
    members: dict[str, float] = field(default_factory=dict)
    ensemble: float = float("nan")
    mixed: dict[str, float] = field(default_factory=dict)  # alpha -> rho of (1-alpha) s + alpha f
    # gradient alignment with fidelity (qtbench/iqa/grad_alignment.py): members, ensemble, mixed, oracle
    grad: dict[str, Any] = field(default_factory=dict)
    skipped: Optional[str] = None  # why the preset could not be scored (e.g. missing weight files)


def grid_windows(img: np.ndarray, crop: int) -> list[tuple[int, int]]:
    """Top-left corners of the centred stride-``crop`` grid (the sampler's ``grid`` mode)."""
    h, w = img.shape[:2]
    rows, cols = h // crop, w // crop
    oy, ox = (h - rows * crop) // 2, (w - cols * crop) // 2
    return [(oy + r * crop, ox + c * crop) for r in range(rows) for c in range(cols)]


@torch.no_grad()
def model_candidates(model: torch.nn.Module, val: Any, crop: int, device, level: Optional[int] = None,
                     batch: int = 32, tick: Callable[[], None] = lambda: None) -> Candidates:
    """Restore every grid window of every target-val image with ``model`` (the base model, or a trained
    student at quality ``level``)."""
    xs, ys, ids = [], [], []
    for i in range(len(val)):
        inp, clean = val.inputs[i], val.target(i)
        for w, (t, l) in enumerate(grid_windows(inp, crop)):
            xs.append(inp[t:t + crop, l:l + crop])
            ys.append(clean[t:t + crop, l:l + crop])
            ids.append((i, w))
    if not xs:
        raise UserError(f"target-val images are smaller than pl.crop={crop}: no candidates")
    model.eval()
    outs = []
    for s in range(0, len(xs), batch):
        outs.append(model(to_tensor(xs[s:s + batch]).to(device), level=level).clamp(0, 1).cpu())
        tick()
    images, clean = torch.cat(outs), to_tensor(ys)
    arr = np.asarray(ids)
    return Candidates(images, clean, noise_ids(arr[:, 0], arr[:, 1]), psnr(images, clean).numpy())


@torch.no_grad()
def score_preset(ensemble: Any, cands: Candidates, alphas: list[float], oracle: np.ndarray, device,
                 batch: int = 64) -> PresetResult:
    """Spearman rho of each member, the ensemble and the oracle mixes against the candidates' PSNR."""
    per: dict[str, list[np.ndarray]] = {}
    comb: list[np.ndarray] = []
    for s in range(0, cands.images.shape[0], batch):
        x = cands.images[s:s + batch].to(device)
        sc = ensemble.score(x, ref=Reference(cands.clean[s:s + batch].to(x.device), cands.ids[s:s + batch])) \
            if ensemble.needs_reference else ensemble.score(x)
        for k, v in sc.members.items():
            per.setdefault(k, []).append(v.cpu().numpy())
        comb.append(sc.combined.cpu().numpy())
    y = cands.psnr
    s = np.concatenate(comb)
    w = sum(ensemble.weights.values())
    res = PresetResult(ensemble.preset, {k: spearman(np.concatenate(v), y) for k, v in per.items()}, spearman(s, y))
    res.mixed = {f"{a:g}": spearman((1 - a) * s + a * w * oracle, y) for a in alphas}
    return res


def noisy_oracle(cands: Candidates, lo: float, hi: float, sigmas: list[float], seed: int) -> dict[str, float]:
    """Spearman rho of the oracle score plus fixed noise of each ``sigma`` (``iqa.agreement.sigma``)."""
    f = (cands.psnr - lo) / (hi - lo)
    eps = gaussian(cands.ids, seed)
    return {f"{s:g}": spearman(f + s * eps, cands.psnr) for s in sigmas}


def oracle_scores(cands: Candidates, lo: float, hi: float) -> np.ndarray:
    """The oracle member's score of every candidate (same map as the ``fidelity`` member)."""
    m = oracle_member(lo, hi)
    return m.normalise(m.raw(cands.images, cands.clean)).numpy()


def to_markdown(task: str, out: dict) -> str:
    """The reward-validity table of one task."""
    lines = [f"### Reward validity: {task} (Spearman rho vs PSNR, {out['n_candidates']} {out['model']} candidates "
             f"on target-val, seed {out['seed']}, {out['scale']} scale)", "",
             "rho: how well the score ranks the candidates by PSNR (levels, banks, filters use the ranking). "
             "grad cos: mean cosine between the score's gradient and the direction that raises PSNR (what the "
             "preference loss climbs); \"none\": no gradient (a constant in the reward).", "",
             "| preset | score | rho | grad cos |", "|---|---|---:|---:|"]
    oracle_cos = None
    for p in out["presets"]:
        if p["skipped"]:
            lines.append(f"| {p['preset']} | skipped: {p['skipped']} | | |")
            continue
        g = p.get("grad") or {}
        oracle_cos = g.get("oracle", oracle_cos)
        for k, v in p["members"].items():
            lines.append(f"| {p['preset']} | {k} | {v:+.3f} | {_cos((g.get('members') or {}).get(k))} |")
        lines.append(f"| {p['preset']} | **ensemble** | **{p['ensemble']:+.3f}** | **{_cos(g.get('ensemble'))}** |")
        for a, v in p["mixed"].items():
            lines.append(f"| {p['preset']} | ensemble + oracle, alpha={a} (ORACLE) | {v:+.3f} | "
                         f"{_cos((g.get('mixed') or {}).get(a))} |")
    lines.append(f"| oracle | fidelity (ORACLE, PSNR {out['lo']:g}..{out['hi']:g} dB) | {out['oracle']:+.3f} | "
                 f"{_cos(oracle_cos)} |")
    for s, v in out["noisy_oracle"].items():
        # the noise is constant per crop: the gradient is the oracle's
        lines.append(f"| oracle | fidelity + noise sigma={s} (ORACLE) | {v:+.3f} | {_cos(oracle_cos)} |")
    return "\n".join(lines) + "\n"


def _cos(v: Optional[float]) -> str:
    """A gradient cosine for the table: ``none`` for a score without gradient (missing or NaN)."""
    return "none" if v is None or not np.isfinite(v) else f"{v:+.3f}"


def config_for(cfg: DictConfig, preset: str) -> Any:
    """``cfg.iqa`` with ``preset`` and no custom members or agreement mixing (each preset on its own)."""
    iqa = OmegaConf.to_container(cfg.iqa, resolve=True)
    iqa.update(preset=preset, members=[])
    iqa["agreement"]["alpha"] = 0.0
    return OmegaConf.create(iqa)
