"""The NR-IQA ensemble: fixed-weight combination, differentiable reward and block-wise trust masks.

``s(y) = sum_i w_i * n_i(y)`` with ``n_i`` each member's normalised score (docs/method.md §3.2). Every method
scores a whole batch with one call per member (docs/architecture.md §8). Member parameters are frozen for good, so a
reward that back-propagates through MUSIQ or degprob never accumulates gradients in them (docs/method.md §21.10).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import Tensor

from qtbench import registry
from qtbench.iqa.api import IQAContext, Member, MemberConfig, Scores
from qtbench.iqa.config import CUSTOM, check_members, resolve_preset
from qtbench.iqa.presets import preset_members


class Ensemble(torch.nn.Module):
    """Weighted NR-IQA ensemble.

    Args:
        members: built members, keyed by name.
        weights: weight of each member (same keys).
        preset: the preset the members come from (``paper``, ``offline``) or ``custom``; logged by the run.
        fallback: normalised score replacing a member's non-finite score of an image or tile (docs/method.md §3.3:
            the official code gives a failing BRISQUE tile 0.5).
    """

    def __init__(self, members: dict[str, Member], weights: dict[str, float], preset: str,
                 fallback: float = 0.5) -> None:
        super().__init__()
        if set(members) != set(weights):
            raise ValueError(f"members {sorted(members)} and weights {sorted(weights)} name different members")
        self.members = torch.nn.ModuleDict(members)
        self.weights = {k: float(v) for k, v in weights.items()}
        self.preset = preset
        self.fallback = float(fallback)
        for m in self.members.values():
            m.requires_grad_(False)  # frozen for good: gradients reach the images, never the members
        self.train(False)

    def train(self, mode: bool = True) -> Ensemble:
        """Members always stay in eval mode (pyiqa MUSIQ changes its input format in train mode, §21.22)."""
        return super().train(False)

    def _safe(self, n: Tensor) -> Tensor:
        return torch.where(torch.isfinite(n), n, torch.full_like(n, self.fallback))

    def _combine(self, per: dict[str, Tensor]) -> Tensor:
        return sum(self.weights[k] * v for k, v in per.items())

    @staticmethod
    def _prep(images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected [N,3,H,W] images, got shape {tuple(images.shape)}")
        return images.clamp(0.0, 1.0)

    @torch.no_grad()
    def score(self, images: Tensor) -> Scores:
        """Score a batch (no grad): one call per member on the whole batch.

        Args:
            images: [N,3,H,W] in [0,1] (clamped).

        Returns:
            :class:`Scores` with per-member normalised scores [N], ``combined`` [N] and raw scores.
        """
        x = self._prep(images)
        raw = {k: m.raw(x).reshape(-1).to(torch.float32) for k, m in self.members.items()}
        norm = {k: self._safe(self.members[k].normalise(r)) for k, r in raw.items()}
        return Scores(members=norm, combined=self._combine(norm), raw=raw)

    def reward(self, images: Tensor) -> Tensor:
        """Combined score with gradients through the differentiable members only (docs/method.md §8).

        Non-differentiable members are computed under ``no_grad`` and enter as constants.

        Args:
            images: [N,3,H,W] in [0,1]; clamped (pixels outside [0, 1] get no gradient).

        Returns:
            [N] combined scores; ``requires_grad`` when a differentiable member has a non-zero weight and
            ``images`` requires grad.
        """
        x = self._prep(images)
        per = {}
        for k, m in self.members.items():
            if m.differentiable:
                per[k] = self._safe(m(x).reshape(-1))
            else:
                with torch.no_grad():
                    per[k] = self._safe(m(x).reshape(-1)).detach()
        return self._combine(per)

    @torch.no_grad()
    def member_scores(self, images: Tensor, names: list[str]) -> dict[str, Tensor]:
        """Normalised scores [N] of the named members only (no grad; one call per member).

        Frameworks with their own scorer (Semi-UIR: MUSIQ alone) use it to score extra images cheaply.
        """
        x = self._prep(images)
        return {k: self._safe(self.members[k].normalise(self.members[k].raw(x).reshape(-1).to(torch.float32)))
                for k in names}

    @torch.no_grad()
    def block_mask(self, images: Tensor, block: int, weights: dict[str, float] | None = None) -> Tensor:
        """Block-wise trust mask (docs/method.md §3.3): tiles scored per member, combined, upsampled bilinearly.

        All tiles of all images go through each member in one batched call. When H or W is not a multiple
        of ``block`` the ``H // block`` x ``W // block`` whole tiles from the top-left corner are scored and
        their grid is stretched over the whole image (the official code requires exact multiples); an image
        smaller than ``block`` counts as one tile. A member with ``blockwise = False`` gives every tile its
        whole-image score.

        Args:
            images: [N,3,H,W] in [0,1].
            block: tile size in px (``iqa.block_size``: 32 Colabator, 144 official QualiTeacher).
            weights: member -> weight of a subset of members (Colabator's map: the mean of two members);
                None = the ensemble's own weights.

        Returns:
            [N,1,H,W] mask = ``sum_i w_i * upsample(tile scores of member i)``.
        """
        x = self._prep(images)
        n, _, h, w = x.shape
        nh, nw = max(1, h // block), max(1, w // block)
        th, tw = min(block, h), min(block, w)
        tiles = x[:, :, : nh * th, : nw * tw].unfold(2, th, th).unfold(3, tw, tw)  # [N,3,nh,nw,th,tw]
        tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(n * nh * nw, 3, th, tw)
        grid = torch.zeros(n, nh, nw, dtype=torch.float32, device=x.device)
        for k, wt in (self.weights if weights is None else weights).items():
            m = self.members[k]
            s = self._safe(m.normalise(m.raw(tiles if m.blockwise else x).reshape(-1).to(torch.float32)))
            s = s.reshape(n, nh, nw) if m.blockwise else s.reshape(n, 1, 1).expand(n, nh, nw)
            grid = grid + wt * s
        return F.interpolate(grid.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False)

    def describe(self) -> dict[str, Any]:
        """What the run logs: preset, weights and each member's normalisation and cache file."""
        out: dict[str, Any] = {"preset": self.preset, "weights": dict(self.weights), "fallback": self.fallback,
                               "members": {}}
        for k, m in self.members.items():
            out["members"][k] = {"lo": m.lo, "hi": m.hi, "lower_better": m.lower_better, "clamp": m.clamp,
                                 "floor": m.floor, "differentiable": m.differentiable, "batched": m.batched,
                                 "cache_file": getattr(m, "cache_file", None)}
        return out


def member_factory(name: str) -> Any:
    """The factory building member ``name``: a registered member class, else the pyiqa wrapper."""
    if name in registry.iqa:
        return registry.iqa.get(name).obj
    from qtbench.iqa.pyiqa_member import PyiqaMember

    return PyiqaMember


def build_ensemble(iqa_cfg: Any, ctx: IQAContext, scale: str | None = None) -> Ensemble:
    """Build the run's ensemble from its ``iqa`` config section (docs/method.md §3).

    Args:
        iqa_cfg: ``cfg.iqa`` (:class:`~qtbench.iqa.config.IQAConfig` or its DictConfig).
        ctx: training data, seed, device; fitted members train/load here.
        scale: the run's scale, needed only if ``iqa_cfg.preset`` is still ``auto`` (compose resolves it).

    Raises:
        UserError: unknown member, negative weight, missing weight files...
    """
    if len(iqa_cfg.members):
        configs = [m if isinstance(m, MemberConfig) else MemberConfig(**OmegaConf.to_container(m))
                   for m in iqa_cfg.members]
        preset = CUSTOM
    else:
        if iqa_cfg.preset == "auto" and scale is None:
            raise ValueError("iqa.preset is 'auto': pass the run's scale (compose_run resolves it)")
        preset = resolve_preset(iqa_cfg.preset, scale or "")
        configs = preset_members(preset)
    check_members(configs, f"iqa preset {preset}")
    members = {c.name: member_factory(c.name).build(c, iqa_cfg, ctx) for c in configs}
    weights = {c.name: c.weight for c in configs}
    return Ensemble(members, weights, preset, fallback=float(iqa_cfg.fallback)).to(ctx.device)
