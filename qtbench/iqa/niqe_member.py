"""Member ``niqe``: pyiqa's NIQE with the original pristine model (the ``classic`` preset, docs/iqa.md).

The pristine model is the published one (``qtbench weights fetch --preset classic``), loaded by pyiqa's own
``NIQE`` class. Images that hold a whole 96-px block are scored by pyiqa's code itself, so the numbers are
pyiqa's. Two cases pyiqa cannot score take qtbench's NIQE (:func:`qtbench.iqa.niqe_fit.niqe_scores`: pyiqa's
features and Eq. 10, checked equal to pyiqa's numbers by the tests):

- images smaller than a block (the cpu scale's 64-px candidates and 32-px mask tiles), where pyiqa fails on
  an empty block grid: one block of the image's (even) smaller side, as ``niqe_fit`` does -- an approximation,
  the model was fitted on 96-px patches;
- a batch with a flat block, where pyiqa's ``pinv`` fails on NaN features: NaN blocks are left out there.

A reward with a gradient (``iqa.niqe.differentiable``) takes the interpolated AGGD shape, as ``niqe_fit``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from qtbench.iqa import pyiqa_adapter
from qtbench.iqa.api import IQAContext, MemberConfig
from qtbench.iqa.niqe_fit import niqe_scores
from qtbench.iqa.pyiqa_member import PyiqaMember

BLOCK = 96  # source: NIQE (Mittal et al. 2013) 96x96 patches; pyiqa niqe() block_size_h/w default


class NIQEMember(PyiqaMember):
    """pyiqa's ``niqe`` as an ensemble member; lower raw = better.

    Args:
        cfg: member config (name ``niqe``).
        device: where it runs.
        differentiable: rewards back-propagate through NIQE (``iqa.niqe.differentiable``).
    """

    def __init__(self, cfg: MemberConfig, device: torch.device | str = "cpu", differentiable: bool = False) -> None:
        super().__init__(cfg, device)
        self.differentiable = bool(differentiable)
        self.register_buffer("mu", self.net.mu_pris_param.to(torch.float64).reshape(-1).clone())
        self.register_buffer("cov", self.net.cov_pris_param.to(torch.float64).clone())

    def _ours(self, images: Tensor, soft: bool = False) -> Tensor:
        return niqe_scores(images, self.mu, self.cov, BLOCK, soft=soft)

    def raw(self, images: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] NIQE (float32); grad only when ``differentiable`` and grad is enabled."""
        if self.differentiable and torch.is_grad_enabled():
            return self._ours(images, soft=True)
        with torch.no_grad():
            if min(images.shape[-2:]) < BLOCK:
                return self._ours(images)
            try:
                with pyiqa_adapter.scoring():  # float64 inside, so TF32 changes nothing; the one policy anyway
                    return self.net(images).reshape(-1).to(torch.float32)
            except RuntimeError:  # torch.linalg.LinAlgError: pinv of NaN features (a flat block)
                return self._ours(images)

    @classmethod
    def build(cls, cfg: MemberConfig, iqa_cfg: Any, ctx: IQAContext) -> NIQEMember:
        """Factory with the signature every member shares (``iqa_cfg.niqe`` holds its options)."""
        return cls(cfg, ctx.device, differentiable=bool(iqa_cfg.niqe.differentiable))
