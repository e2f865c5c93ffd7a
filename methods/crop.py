"""``crop``: cropped consistency against reward hacking (docs/method.md §9).

    Y   = clamp(S(u_s; top))
    s1  = r(Crop(Y))                  restore, then crop
    s2  = r(clamp(S(Crop'(u_s); top)))  crop, then restore
    L   = w * sum_b |s1 - s2| / B

Crops are ``ratio`` x height by ``ratio`` x width. The official code draws the two windows independently
(they generally cover different regions, §21 item 9); ``windows=aligned`` uses one window for both, so the
two orders restore the same content. ``Y`` is the step's shared top-level output
(:class:`~qtbench.engine.student_pass.StudentPass`): with ``pref`` on it is ``pref``'s winner, not a second
pass as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.plugin_api import PLBatch, TargetBatch
from qtbench.engine.referee import STUDENT, needs_ref
from qtbench.iqa.fidelity import Reference
from qtbench.engine.student_pass import StudentPass
from qtbench.engine.windows import windows
from qtbench.errors import UserError
from qtbench.registry import addons
from qtbench_methods.reward_addon import RewardAddOn


@dataclass
class CropConfig:
    """Options of :class:`CroppedConsistency`."""

    weight: float = 1.0  # source: docs/method.md §9, §19 (local_consistency_weight 1.0 in the yml; code default 0.1)
    ratio: float = 0.5  # crop side / image side; source: docs/method.md §9 (half height x half width)
    start: float = 0.2  # fraction of the PL stage; source: docs/method.md §9 (local_consistency_start_iter 2000 of 10000)
    windows: str = "independent"  # source: docs/method.md §9 (two independent windows); or "aligned"


def consistency_loss(s1: Tensor, s2: Tensor, weight: float) -> Tensor:
    """``weight * sum_b |s1 - s2| / B`` (docs/method.md §9)."""
    return weight * (s1 - s2).abs().sum() / s1.shape[0]


@addons.register(
    "crop", "cropped consistency: reward of crop(restore(x)) must match reward of restore(crop(x)) at the top level",
    source="docs/method.md §9 (official use_local_consistency)", config=CropConfig, requires=("qcond",),
)
class CroppedConsistency(RewardAddOn):
    """Adds ``loss/crop`` from ``start`` x the PL stage on.

    Args:
        cfg: the run config.
        options: :class:`CropConfig`.
    """

    phase = "consistency"  # after pref, whose top-level output it reuses
    seed_offset = 701

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        o = cfg.addons.crop
        if not 0.0 < o.ratio < 1.0:
            raise UserError(f"addons.crop.ratio={o.ratio} must be in (0, 1)")
        RewardAddOn.check_start("crop", o.start)
        if o.windows not in ("independent", "aligned"):
            raise UserError(f"addons.crop.windows={o.windows!r}: choose independent or aligned")
        if round(cfg.pl.crop * o.ratio) < 8:
            raise UserError(f"addons.crop.ratio={o.ratio} of pl.crop={cfg.pl.crop} leaves windows under 8 px")

    def _offsets(self, b: int, h: int, w: int, size: tuple[int, int], device) -> tuple[Tensor, Tensor]:
        top = torch.randint(h - size[0] + 1, (b,), generator=self.gen).to(device)
        left = torch.randint(w - size[1] + 1, (b,), generator=self.gen).to(device)
        return top, left

    def extra_losses(self, student: StudentPass, batch: TargetBatch, pl: PLBatch, step: int) -> dict[str, Tensor]:
        if step < self.start_step:
            return {}
        x = batch.strong
        b, _, h, w = x.shape
        size = (round(h * self.options.ratio), round(w * self.options.ratio))
        y = student.all_at(self.top).clamp(0, 1)
        t1, l1 = self._offsets(b, h, w, size, x.device)
        t2, l2 = (t1, l1) if self.options.windows == "aligned" else self._offsets(b, h, w, size, x.device)
        restored_crop = student.model(windows(x, t2, l2, size), level=self.top).clamp(0, 1)
        images = torch.cat([windows(y, t1, l1, size), restored_crop])
        if needs_ref(self.ensemble, batch):  # oracle reward: each window against the clean crop of that window
            a, c = batch.ref.windows(t1, l1, size, STUDENT), batch.ref.windows(t2, l2, size, STUDENT)
            r = self.ensemble.reward(images, ref=Reference(torch.cat([a.clean, c.clean]), np.concatenate([a.ids, c.ids])))
        else:
            r = self.ensemble.reward(images)  # one call per member
        loss = consistency_loss(r[:b], r[b:], self.options.weight)
        self.last = {"crop/gap": (r[:b] - r[b:]).detach().abs().mean()}
        return {"crop": loss}
