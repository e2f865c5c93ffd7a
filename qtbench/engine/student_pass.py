"""The student's outputs on one step's strong view, shared between the PL loss and the add-ons' losses.

QualiTeacher asks the student for the same crops at several quality levels in one step: every banked label
at its own level, ``pref``'s winner (top level) and loser (a low level), ``crop``'s top-level output
(docs/method.md §7-§9). The official code runs the whole network once per request. Here:

- a (crop, level) pair is restored once per step, however many losses ask for it (same input, same level,
  same weights: the same output; the gradients of every use add up, as with separate passes);
- a backbone whose level enters after a level-free encoder (``encode``/``decode``, :class:`~qtbench.models.unet.UNet`)
  runs that encoder once per crop, and only the decoder once per (crop, level) pair.

Both change the work, not the function: outputs agree with one ``student(x, level)`` call per request up to
float rounding (``tests/engine/test_student_pass.py``).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

_STRIDE = 1 << 20  # pair key = row * _STRIDE + (level + 1); level -1 stands for "unconditioned"


class StudentPass:
    """Lazily computed student outputs of ``x`` (one step's strong view) at (row, level) pairs.

    Args:
        model: the student (``forward(x, level=None)``; ``encode``/``decode`` used when it has them).
        x: [B,3,h,w] the strong view.
    """

    def __init__(self, model: torch.nn.Module, x: Tensor) -> None:
        self.model, self.x = model, x
        self.shared_encoder = callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))
        self.chunk = int(getattr(model, "max_rows", 0))
        self._feats: Optional[list[Tensor]] = None
        self._outputs: Optional[Tensor] = None  # every pair restored so far, in restore order
        self._row_of: dict[int, int] = {}  # pair key -> row in self._outputs
        self.decoded = 0  # pairs restored so far (diagnostics, tests)

    def _chunks(self, n: int) -> list[slice]:
        step = self.chunk if self.chunk > 0 else max(n, 1)
        return [slice(i, min(i + step, n)) for i in range(0, n, step)]

    def _encoded(self) -> list[Tensor]:
        if self._feats is None:  # in chunks like forward (cache-sized blocks run faster on a CPU)
            parts = [self.model.encode(self.x[c]) for c in self._chunks(self.x.shape[0])]
            self._feats = [torch.cat(level_maps) for level_maps in zip(*parts)]
        return self._feats

    def _take(self, t: Tensor, rows: list[int]) -> Tensor:
        """Rows of ``t``: a view when they are a contiguous run (the common all-crops case), else a gather."""
        if rows == list(range(rows[0], rows[0] + len(rows))):
            return t[rows[0] : rows[0] + len(rows)]
        return t[torch.tensor(rows, dtype=torch.long, device=t.device)]

    def _restore(self, rows: list[int], levels: Optional[Tensor]) -> Tensor:
        if not self.shared_encoder:
            return self.model(self._take(self.x, rows), level=levels)
        feats = self._encoded()
        outs = []
        for c in self._chunks(len(rows)):
            r = rows[c]
            outs.append(self.model.decode(self._take(self.x, r), [self._take(f, r) for f in feats],
                                          None if levels is None else levels[c]))
        return torch.cat(outs) if len(outs) > 1 else outs[0]

    def at(self, rows: Tensor, levels: Optional[Tensor]) -> Tensor:
        """[N,3,h,w] unclamped outputs for crops ``rows`` [N] at ``levels`` [N] (None: unconditioned).

        Pairs already restored this step are reused; the new ones are restored in one call.
        """
        if rows.numel() == 0:
            return self.x[:0]
        lv = torch.full_like(rows, -1) if levels is None else levels.to(rows)
        keys = (rows * _STRIDE + lv + 1).tolist()
        new = [k for k in dict.fromkeys(keys) if k not in self._row_of]
        if new:
            new_lv = torch.tensor([k % _STRIDE - 1 for k in new], dtype=torch.long, device=rows.device)
            out = self._restore([k // _STRIDE for k in new], None if levels is None else new_lv)
            base = 0 if self._outputs is None else self._outputs.shape[0]
            self._row_of.update({k: base + i for i, k in enumerate(new)})
            # concatenated once per new batch of pairs, not on every request (crop's Y re-asks pref's winners)
            self._outputs = out if self._outputs is None else torch.cat([self._outputs, out])
            self.decoded += len(new)
        return self._take(self._outputs, [self._row_of[k] for k in keys])

    def all_at(self, level: Optional[int]) -> Tensor:
        """[B,3,h,w] every crop at one ``level`` (None: unconditioned)."""
        rows = torch.arange(self.x.shape[0], device=self.x.device)
        return self.at(rows, None if level is None else torch.full_like(rows, level))
