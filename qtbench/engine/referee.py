"""Clean target crops for the two things allowed to read them besides the ``oracle`` control (docs/agreement.md):

- reference members (``fidelity``, ``iqa.agreement.alpha > 0``): the IQA ensemble scores an output against
  the clean crop of the same window, in the same frame;
- the agreement measurement: Spearman correlation of each member's score, the ensemble score (and the oracle
  score) with the PSNR of the scored candidates to their clean crops.

:class:`Referee` is what asks ``TrainData.target_labels`` (it declares ``uses_target_labels``, like the
oracle). A step's clean crops travel in ``TargetBatch.ref`` as a :class:`CropRefs`, an opaque handle that
plugins only pass on to the ensemble: they never read the crops themselves.

Noise identities (``Reference.ids``) are hashed from (grid crop key, slot, window top, left, height, width):
a candidate's slot is its view index ``k``; outputs of the student (``pref``, ``crop``, Semi-UIR's student
score) use :data:`STUDENT`, so the winner and loser of one crop share their noise; Semi-UIR's black label
:data:`BLACK`.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch
from torch import Tensor

from qtbench.engine.windows import windows
from qtbench.iqa.fidelity import Reference, noise_ids, psnr

STUDENT = 1 << 20  # slot of student outputs; candidate views use 0..K-1
BLACK = STUDENT + 1  # Semi-UIR's all-black initial label


class Referee:
    """Grants clean target crops to reference members and the agreement measurement (never to plugins)."""

    uses_target_labels = True


class CropRefs:
    """The clean crops of one step's B target crops.

    Args:
        clean: [B,3,h,w] clean crops, aligned with ``TargetBatch.weak``.
        key: [B] grid crop keys (noise identities); None with random crops (noise needs the grid).
    """

    def __init__(self, clean: Tensor, key: Optional[Tensor]) -> None:
        self._clean = clean
        self._key = key if key is not None else torch.full((clean.shape[0],), -1, dtype=torch.long)

    def rows(self, rows: Tensor, slot: int | Tensor) -> Reference:
        """References of whole crops ``rows`` [N] (slot: an int or an [N] tensor)."""
        h, w = self._clean.shape[-2:]
        return Reference(self._clean[rows], noise_ids(self._key[rows], slot, 0, 0, h, w))

    def candidates(self, k: int) -> Reference:
        """References of the flattened [B*K] candidates (crop-major; slot = view index)."""
        b = self._clean.shape[0]
        rows = torch.arange(b, device=self._clean.device).repeat_interleave(k)
        return self.rows(rows, torch.arange(k).repeat(b))

    def windows(self, top: Tensor, left: Tensor, size: tuple[int, int], slot: int) -> Reference:
        """References of one window per crop at (top[b], left[b]) of ``size`` (cropped consistency)."""
        clean = windows(self._clean, top, left, size)
        return Reference(clean, noise_ids(self._key, slot, top, left, size[0], size[1]))

    def psnr(self, candidates: Tensor) -> Tensor:
        """[B,K] PSNR of candidates [B,K,3,h,w] to their crops' clean images (no grad)."""
        b, k = candidates.shape[:2]
        with torch.no_grad():
            return psnr(candidates.flatten(0, 1).clamp(0, 1),
                        self._clean.repeat_interleave(k, dim=0).to(candidates.dtype)).view(b, k)


def needs_ref(ensemble: Any, batch: Any) -> bool:
    """The ensemble reads clean references and the step carries them (plugins call this before scoring)."""
    return bool(getattr(ensemble, "needs_reference", False)) and getattr(batch, "ref", None) is not None


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties); NaN when either side is constant or has < 3 values."""
    from scipy.stats import rankdata

    if len(x) < 3:
        return math.nan
    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


GRADCOS = "gradcos/ensemble"  # the probe's column of reward-gradient cosines (a mean, not a Spearman)


class AgreementProbe:
    """Collects (scores, PSNR) of the candidates of every ``every``-th PL step; Spearman at the end.

    State is saved with checkpoints, so a resumed run measures the same candidates as an uninterrupted one.
    """

    def __init__(self, every: int) -> None:
        self.every = int(every)
        self.rows: dict[str, list[np.ndarray]] = {}

    def due(self, step: int) -> bool:
        """Measure at 0-based step ``step``? (the first step, then every ``every``-th)."""
        return self.every > 0 and step % self.every == 0

    def record(self, pl: Any, refs: CropRefs, oracle: Optional[Tensor], gradcos: Optional[np.ndarray] = None) -> None:
        """Add the scored candidates of ``pl`` (scores [B,K] per member, combined, oracle) and their PSNR.

        ``gradcos``: [B*K] cosine between the reward's gradient at each candidate and the direction that raises
        its PSNR (:func:`qtbench.iqa.grad_alignment.reward_alignment`), averaged rather than ranked.
        """
        cols = {f"member/{k}": v for k, v in pl.scores.items()}
        cols["ensemble"] = pl.score
        if oracle is not None:
            cols["oracle"] = oracle.view(pl.score.shape)
        cols["psnr"] = refs.psnr(pl.candidates)
        for k, v in cols.items():
            self.rows.setdefault(k, []).append(v.detach().float().reshape(-1).cpu().numpy())
        if gradcos is not None:
            self.rows.setdefault(GRADCOS, []).append(np.asarray(gradcos, dtype=np.float64).reshape(-1))

    @property
    def n(self) -> int:
        return int(sum(len(a) for a in self.rows.get("psnr", [])))

    def metrics(self) -> dict[str, float]:
        """``iqa/agreement_srcc/<member>``, ``.../ensemble`` (and ``.../oracle``), ``iqa/agreement_n``, and
        ``iqa/agreement_gradcos/ensemble`` (mean reward-gradient cosine) when the reward has a gradient."""
        if not self.n:
            return {}
        y = np.concatenate(self.rows["psnr"])
        out = {}
        for k, parts in self.rows.items():
            if k not in ("psnr", GRADCOS):
                out[f"iqa/agreement_srcc/{k.removeprefix('member/')}"] = spearman(np.concatenate(parts), y)
        cos = np.concatenate(self.rows[GRADCOS]) if self.rows.get(GRADCOS) else np.empty(0)
        if np.isfinite(cos).any():  # a reward without gradient has no alignment
            out["iqa/agreement_gradcos/ensemble"] = float(cos[np.isfinite(cos)].mean())
        out["iqa/agreement_n"] = float(self.n)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "rows": {k: [a.copy() for a in v] for k, v in self.rows.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = {k: list(v) for k, v in state.get("rows", {}).items()}
