"""Block-wise trust masks of one step's candidates, computed only for the candidates that are kept.

``qcond`` gives every label a block-wise trust mask (docs/method.md §3.3), and a mask depends on its own candidate
alone. A step has B x K candidates, but most never become labels: a bank stores only the candidates that
enter its top k (59 % of new candidates over steps 1-100 of a cpu-scale run, 10 % over steps 401-500:
``python scripts/step_by_hand.py bank-entry``), and ``filter``/Semi-UIR keep one view per crop. So masks are
computed on first request, in one batched call per request, and each candidate's mask at most once a step.
The masks that are used are those of computing them all up front, up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor


class CandidateMasks:
    """The [B,K,1,h,w] masks of ``candidates`` [B,K,3,h,w], each computed when first asked for.

    Args:
        candidates: [B,K,3,h,w] the step's candidate PLs.
        compute: [M,3,h,w] images -> [M,1,h,w] masks (e.g. the ensemble's ``block_mask``), in the candidates'
            dtype; called without gradients, once per request that names candidates not computed yet.
        ref: the [B*K] candidates' clean references (``qtbench.iqa.fidelity.Reference``, an oracle reward,
            docs/agreement.md); when given, ``compute(images, ref)`` gets the references of the images.
    """

    def __init__(self, candidates: Tensor, compute: Callable[..., Tensor], ref=None) -> None:
        self.candidates, self._compute, self.ref = candidates, compute, ref
        b, k, _, h, w = candidates.shape
        self._masks = candidates.new_empty((b, k, 1, h, w))  # filled row by row as masks are asked for
        self._done = torch.zeros(b, k, dtype=torch.bool, device=candidates.device)
        self.computed = 0  # candidates whose mask was computed this step (diagnostics, tests)

    def take(self, b: Tensor, k: Tensor) -> Tensor:
        """[M,1,h,w] masks of candidates ``(b[m], k[m])``; missing ones are computed in one call."""
        need = ~self._done[b, k]
        if bool(need.any()):
            kk = self._done.shape[1]
            pair = torch.unique(b[need] * kk + k[need])  # each candidate once, however often it is named
            nb, nk = pair // kk, pair % kk
            with torch.no_grad():
                if self.ref is None:
                    self._masks[nb, nk] = self._compute(self.candidates[nb, nk])
                else:
                    self._masks[nb, nk] = self._compute(self.candidates[nb, nk], self.ref.take(pair))
            self._done[nb, nk] = True
            self.computed += pair.numel()
        return self._masks[b, k]

    def gather(self, j: Tensor) -> Tensor:
        """[B,1,h,w] the mask of candidate ``j[b]`` of every crop ``b``."""
        return self.take(torch.arange(j.shape[0], device=j.device), j)

    def all(self) -> Tensor:
        """[B,K,1,h,w] every candidate's mask."""
        b, k = self._done.shape
        rows = torch.arange(b, device=self._done.device).repeat_interleave(k)
        cols = torch.arange(k, device=self._done.device).repeat(b)
        return self.take(rows, cols).view(self._masks.shape)


class LabelMasks:
    """The labels' masks while the labels are still the candidates; resolved by the engine after selection.

    Frameworks and add-ons that replace the labels (bank, filter, Semi-UIR) replace ``PLBatch.mask`` too, and
    then these masks are never computed.

    Args:
        masks: the step's :class:`CandidateMasks`.
        first_only: labels are candidate 0 of each crop (``owner`` None); else all candidates, crop-major.
    """

    def __init__(self, masks: CandidateMasks, first_only: bool) -> None:
        self.masks, self.first_only = masks, first_only

    def resolve(self) -> Tensor:
        """[N,1,h,w] the masks of the labels."""
        if self.first_only:
            b = self.masks.candidates.shape[0]
            return self.masks.gather(torch.zeros(b, dtype=torch.long, device=self.masks.candidates.device))
        return self.masks.all().flatten(0, 1)
