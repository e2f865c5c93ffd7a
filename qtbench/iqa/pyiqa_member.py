"""An ensemble member wrapping any pyiqa no-reference metric by name (docs/method.md §3.1).

Normalisation range and direction come from pyiqa's metadata (``score_range``, ``lower_better``), overridable
per member by :class:`~qtbench.iqa.config.MemberConfig` — that is how the official MUSIQ and BRISQUE
normalisations are written (presets.py). Metadata, construction (weight files checked first, no download
allowed) and the calling policy are :mod:`qtbench.iqa.pyiqa_adapter`'s.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from qtbench.errors import UserError
from qtbench.iqa import pyiqa_adapter
from qtbench.iqa.api import IQAContext, Member, MemberConfig

class PyiqaMember(Member):
    """A pyiqa NR metric as an ensemble member.

    Args:
        cfg: member config; ``lo``/``hi``/``lower_better`` default to pyiqa's metadata.
        device: where the metric runs.

    Raises:
        UserError: unknown metric, missing weight file (names file, cache dir and ``qtbench weights fetch``),
            missing optional package.
    """

    def __init__(self, cfg: MemberConfig, device: torch.device | str = "cpu") -> None:
        super().__init__()
        meta = pyiqa_adapter.info(cfg.name, what="IQA member / pyiqa metric")
        bounds = meta.bounds()
        if bounds is not None:
            self.lo, self.hi = bounds
        elif cfg.lo is None or cfg.hi is None:
            raise UserError(f"pyiqa metric {cfg.name!r} publishes no score range; set lo and hi in its member config")
        self.lower_better = meta.lower_better
        self.configure(cfg)
        self.metric = cfg.name
        self.differentiable, self.batched = meta.differentiable, meta.batched
        self.net = self._build(cfg.name, device)

    @staticmethod
    def _build(name: str, device: torch.device | str) -> torch.nn.Module:
        # keep the bare network: InferenceModel.forward forces no_grad unless built as a loss (docs/method.md §21.10)
        return pyiqa_adapter.create(name, device).net

    def _score(self, x: Tensor) -> Tensor:
        if self.batched:
            return self.net(x).reshape(-1)
        return torch.cat([self.net(x[i : i + 1]).reshape(-1) for i in range(x.shape[0])])

    def raw(self, images: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] raw pyiqa scores (float32); grad only for differentiable metrics."""
        with torch.set_grad_enabled(self.differentiable and torch.is_grad_enabled()), pyiqa_adapter.scoring():
            return self._score(images).to(torch.float32)

    @classmethod
    def build(cls, cfg: MemberConfig, iqa_cfg: Any, ctx: IQAContext) -> PyiqaMember:
        """Factory with the signature every member shares (ensemble.py; ``niqe`` has its own class there)."""
        return cls(cfg, ctx.device)
