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
from qtbench.iqa.fidelity import MASK_FLOOR
from qtbench.iqa.presets import preset_members

if False:  # typing only (no import cycle at runtime)
    from qtbench.iqa.fidelity import Reference


class Ensemble(torch.nn.Module):
    """Weighted NR-IQA ensemble.

    Args:
        members: built members, keyed by name.
        weights: weight of each member (same keys).
        preset: the preset the members come from (``paper``, ``offline``) or ``custom``; logged by the run.
        fallback: normalised score replacing a member's non-finite score of an image or tile (docs/method.md §3.3:
            the official code gives a failing BRISQUE tile 0.5).
        alpha, sigma, oracle: the agreement knobs (docs/agreement.md): every member's normalised score ``n``
            becomes ``(1 - alpha) n + alpha (f + sigma eps)``, with ``f`` the ``oracle`` member's score of the
            image against its clean reference and ``eps`` a fixed standard normal per reference id. At
            ``alpha = 1`` the members are not run at all. ``sigma`` also perturbs a ``fidelity`` member.
        seed: seed of the fixed noise (the run seed).

    Scoring an image with a reference member (``fidelity``, or ``alpha > 0``) needs its clean counterpart:
    every scoring method takes ``ref`` (:class:`~qtbench.iqa.fidelity.Reference`), ignored otherwise.
    """

    def __init__(self, members: dict[str, Member], weights: dict[str, float], preset: str,
                 fallback: float = 0.5, alpha: float = 0.0, sigma: float = 0.0,
                 oracle: Member | None = None, seed: int = 0) -> None:
        super().__init__()
        if set(members) != set(weights):
            raise ValueError(f"members {sorted(members)} and weights {sorted(weights)} name different members")
        self.members = torch.nn.ModuleDict(members)
        self.weights = {k: float(v) for k, v in weights.items()}
        self.preset = preset
        self.fallback = float(fallback)
        self.alpha, self.sigma, self.seed = float(alpha), float(sigma), int(seed)
        if self.alpha > 0 and oracle is None:
            raise ValueError("alpha > 0 needs the oracle member")
        self.oracle = oracle if self.alpha > 0 else None
        for m in self.members.values():
            m.requires_grad_(False)  # frozen for good: gradients reach the images, never the members
        self.train(False)

    @property
    def needs_reference(self) -> bool:
        """Scoring reads clean references (an oracle-reward run: flagged like the ``oracle`` control)."""
        return self.oracle is not None or any(getattr(m, "needs_reference", False) for m in self.members.values())

    def _noisy(self, f: Tensor, ref: "Reference") -> Tensor:
        if self.sigma <= 0:
            return f
        from qtbench.iqa.fidelity import gaussian

        eps = torch.as_tensor(gaussian(ref.ids, self.seed), dtype=f.dtype, device=f.device)
        return f + self.sigma * eps

    def _member(self, k: str, x: Tensor, ref: "Reference | None", grad: bool) -> Tensor:
        """Normalised [N] score of member ``k`` (non-finite -> fallback); with gradients only if ``grad``."""
        m = self.members[k]
        with torch.set_grad_enabled(grad and m.differentiable and torch.is_grad_enabled()):
            if getattr(m, "needs_reference", False):
                n = self._noisy(m.normalise(m.raw(x, self._clean(ref, x)).reshape(-1).to(torch.float32)), ref)
            else:
                n = m.normalise(m.raw(x).reshape(-1).to(torch.float32))
            return self._safe(n)

    def _clean(self, ref: "Reference | None", x: Tensor) -> Tensor:
        if ref is None or ref.clean.shape != x.shape:
            raise RuntimeError("this ensemble reads clean references (fidelity / iqa.agreement): pass ref= "
                               f"with one clean image per scored image (images {tuple(x.shape)}, "
                               f"ref {None if ref is None else tuple(ref.clean.shape)})")
        return ref.clean

    def _oracle_score(self, x: Tensor, ref: "Reference | None", grad: bool) -> Tensor:
        """The (noisy) oracle score f + sigma eps of the mixing, [N]."""
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            f = self.oracle.normalise(self.oracle.raw(x, self._clean(ref, x)).reshape(-1).to(torch.float32))
            return self._safe(self._noisy(f, ref))

    def _scores(self, x: Tensor, names, ref: "Reference | None", grad: bool) -> tuple[dict[str, Tensor], Tensor | None]:
        """Per-member normalised scores after the agreement mixing, and the oracle score (None without)."""
        if self.oracle is None:
            return {k: self._member(k, x, ref, grad) for k in names}, None
        f = self._oracle_score(x, ref, grad)
        if self.alpha >= 1.0:  # the pure oracle: the members' own scores have weight 0, skip them
            return {k: f for k in names}, f
        a = self.alpha
        return {k: (1.0 - a) * self._member(k, x, ref, grad) + a * f for k in names}, f

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
    def score(self, images: Tensor, ref: "Reference | None" = None) -> Scores:
        """Score a batch (no grad): one call per member on the whole batch.

        Args:
            images: [N,3,H,W] in [0,1] (clamped).
            ref: clean references of the images (needed when :attr:`needs_reference`).

        Returns:
            :class:`Scores` with per-member normalised scores [N], ``combined`` [N] and raw scores (the
            members' own raw scores; with ``alpha > 0`` the normalised ones are mixed and ``oracle`` is set).
        """
        x = self._prep(images)
        if self.oracle is None and not self.needs_reference:  # the common path, unchanged
            raw = {k: m.raw(x).reshape(-1).to(torch.float32) for k, m in self.members.items()}
            norm = {k: self._safe(self.members[k].normalise(r)) for k, r in raw.items()}
            return Scores(members=norm, combined=self._combine(norm), raw=raw)
        norm, f = self._scores(x, list(self.members), ref, grad=False)
        return Scores(members=norm, combined=self._combine(norm), oracle=f)

    def reward(self, images: Tensor, ref: "Reference | None" = None) -> Tensor:
        """Combined score with gradients through the differentiable members only (docs/method.md §8).

        Non-differentiable members are computed under ``no_grad`` and enter as constants; the oracle score
        of the agreement mixing is differentiable.

        Args:
            images: [N,3,H,W] in [0,1]; clamped (pixels outside [0, 1] get no gradient).
            ref: clean references of the images (needed when :attr:`needs_reference`).

        Returns:
            [N] combined scores; ``requires_grad`` when a differentiable member has a non-zero weight and
            ``images`` requires grad.
        """
        x = self._prep(images)
        if self.needs_reference:
            return self._combine(self._scores(x, list(self.members), ref, grad=True)[0])
        per = {}
        for k, m in self.members.items():
            if m.differentiable:
                per[k] = self._safe(m(x).reshape(-1))
            else:
                with torch.no_grad():
                    per[k] = self._safe(m(x).reshape(-1)).detach()
        return self._combine(per)

    @torch.no_grad()
    def member_scores(self, images: Tensor, names: list[str], ref: "Reference | None" = None) -> dict[str, Tensor]:
        """Normalised scores [N] of the named members only (no grad; one call per member).

        Frameworks with their own scorer (Semi-UIR: MUSIQ alone) use it to score extra images cheaply.
        """
        x = self._prep(images)
        if self.needs_reference:
            return self._scores(x, list(names), ref, grad=False)[0]
        return {k: self._safe(self.members[k].normalise(self.members[k].raw(x).reshape(-1).to(torch.float32)))
                for k in names}

    @torch.no_grad()
    def block_mask(self, images: Tensor, block: int, weights: dict[str, float] | None = None,
                   ref: "Reference | None" = None) -> Tensor:
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
            ref: clean references of the images (tiled alongside them), needed when :attr:`needs_reference`.

        Returns:
            [N,1,H,W] mask = ``sum_i w_i * upsample(tile scores of member i)``; the oracle's tile scores (and a
            ``fidelity`` member's) enter as ``max(f, 0)``: a weight, never negative (docs/agreement.md §1).
        """
        x = self._prep(images)
        n, _, h, w = x.shape
        nh, nw = max(1, h // block), max(1, w // block)
        th, tw = min(block, h), min(block, w)
        tiles = x[:, :, : nh * th, : nw * tw].unfold(2, th, th).unfold(3, tw, tw)  # [N,3,nh,nw,th,tw]
        tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(n * nh * nw, 3, th, tw)
        grid = torch.zeros(n, nh, nw, dtype=torch.float32, device=x.device)
        if self.needs_reference:  # references are tiled like the images; the oracle is always blockwise
            tref = ref.tiles(nh, nw, th, tw) if ref is not None else None
            f = self._oracle_score(tiles, tref, False).reshape(n, nh, nw) if self.oracle is not None else None
            f = f.clamp_min(MASK_FLOOR) if f is not None else None  # a trust weight, never negative
            for k, wt in (self.weights if weights is None else weights).items():
                if f is not None and self.alpha >= 1.0:
                    s = f
                else:
                    if self.members[k].blockwise:
                        s = self._member(k, tiles, tref, False).reshape(n, nh, nw)
                    else:
                        s = self._member(k, x, ref, False).reshape(n, 1, 1).expand(n, nh, nw)
                    if getattr(self.members[k], "needs_reference", False):  # a fidelity member: the same floor
                        s = s.clamp_min(MASK_FLOOR)
                    s = s if f is None else (1.0 - self.alpha) * s + self.alpha * f
                grid = grid + wt * s
            return F.interpolate(grid.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False)
        for k, wt in (self.weights if weights is None else weights).items():
            m = self.members[k]
            s = self._safe(m.normalise(m.raw(tiles if m.blockwise else x).reshape(-1).to(torch.float32)))
            s = s.reshape(n, nh, nw) if m.blockwise else s.reshape(n, 1, 1).expand(n, nh, nw)
            grid = grid + wt * s
        return F.interpolate(grid.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False)

    def describe(self) -> dict[str, Any]:
        """What the run logs: preset, weights and each member's normalisation and cache file."""
        out: dict[str, Any] = {"preset": self.preset, "weights": dict(self.weights), "fallback": self.fallback,
                               "members": {}, "agreement": {"alpha": self.alpha, "sigma": self.sigma},
                               "oracle_reward": self.needs_reference}
        for k, m in self.members.items():
            out["members"][k] = {"lo": m.lo, "hi": m.hi, "lower_better": m.lower_better, "clamp": m.clamp,
                                 "floor": m.floor, "differentiable": m.differentiable, "batched": m.batched,
                                 "cache_file": getattr(m, "cache_file", None)}
        return out


def member_factory(name: str) -> Any:
    """The factory building member ``name``: a registered member class, else the pyiqa wrapper.

    pyiqa's ``niqe`` stays a plain pyiqa metric for weights and listings (its model is fetched like BRISQUE's)
    but is scored by its own subclass, which handles images smaller than NIQE's block (niqe_member.py).
    """
    if name in registry.iqa:
        return registry.iqa.get(name).obj
    if name == "niqe":
        from qtbench.iqa.niqe_member import NIQEMember

        return NIQEMember
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
    a = iqa_cfg.get("agreement") if hasattr(iqa_cfg, "get") else getattr(iqa_cfg, "agreement", None)
    alpha = float(a.alpha) if a is not None else 0.0
    # at alpha = 1 the members carry no weight: not built (no weight files, no fitting needed)
    members = {c.name: member_factory(c.name).build(c, iqa_cfg, ctx) if alpha < 1.0 else _Unused(c.name)
               for c in configs}
    weights = {c.name: c.weight for c in configs}
    oracle = None
    if alpha > 0:
        from qtbench.iqa.fidelity import oracle_member

        oracle = oracle_member(float(a.lo), float(a.hi))
    return Ensemble(members, weights, preset, fallback=float(iqa_cfg.fallback), alpha=alpha,
                    sigma=float(a.sigma) if a is not None else 0.0, oracle=oracle, seed=ctx.seed).to(ctx.device)


class _Unused(Member):
    """Placeholder of a member whose weight the oracle mixing set to 0 (``alpha = 1``): never scores."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def raw(self, images: Tensor) -> Tensor:
        raise RuntimeError(f"member {self.name} is not built at iqa.agreement.alpha=1")
