"""Tiny stand-ins for the IQA ensemble and the student, so add-on tests have hand-computable values."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from qtbench.iqa.api import Scores


class FakeEnsemble(nn.Module):
    """Members are fixed functions of the image; ``reward`` = mean brightness (differentiable).

    Args:
        weights: member -> weight; every member scores ``mean(image) * factor`` unless ``table`` is given.
        table: optional member -> [N] scores returned by ``score`` as is (hand-made scores).
    """

    preset = "fake"
    alpha = 0.0  # the agreement knob of the real ensemble: no oracle mixed in

    def __init__(self, weights: dict[str, float] | None = None, table: dict[str, Tensor] | None = None) -> None:
        super().__init__()
        self.weights = weights or {"piqe": 0.5, "niqe_fit": 0.5}
        self.members = {k: None for k in self.weights}
        self.table = table
        self.calls = 0

    @torch.no_grad()
    def score(self, images: Tensor) -> Scores:
        self.calls += 1
        if self.table is not None:
            members = {k: v.float() for k, v in self.table.items()}
        else:
            members = {k: images.mean(dim=(1, 2, 3)) for k in self.weights}
        combined = sum(self.weights[k] * v for k, v in members.items())
        return Scores(members=members, combined=combined)

    def reward(self, images: Tensor) -> Tensor:
        return images.mean(dim=(1, 2, 3))

    @torch.no_grad()
    def block_mask(self, images: Tensor, block: int) -> Tensor:
        return torch.full_like(images[:, :1], 0.5)


class FakeStudent(nn.Module):
    """``S(x; q) = a * x * (0.5 + 0.05 q)`` (``a`` learnable, starts at 1); unconditioned: ``a * x``."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor, level=None) -> Tensor:
        if level is None:
            return self.a * x
        q = torch.as_tensor(level, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        return self.a * x * (0.5 + 0.05 * q)
