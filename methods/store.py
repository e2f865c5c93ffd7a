"""One stored pseudo-label per crop key: Semi-UIR's reliable bank, Colabator's label pool, filter's best label.

Entries (image, per-member scores, optional pixel mask) live in dense tensors grown on demand and indexed by
a key -> row table, like the top-k ``bank`` add-on, and are saved in checkpoints: none of the original
repositories resumes its bank correctly (docs/frameworks.md §3.6, §4.6).
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

STORAGES = ("uint8", "float32")


class LabelStore:
    """A 1-slot store keyed by crop key (``TargetBatch.key``).

    Args:
        storage: ``uint8`` (4x smaller; Semi-UIR stores PNGs) or ``float32`` (exact; Colabator pickles tensors).
    """

    def __init__(self, storage: str = "float32") -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage {storage!r}: choose one of {', '.join(STORAGES)}")
        self.storage = storage
        self.rows = torch.zeros(0, dtype=torch.long)
        self.n_used = 0
        self.fields: dict[str, Tensor] = {}  # image [R,3,h,w], scores [R,M], (mask [R,1,h,w])

    def setup(self, n_keys: int, device: torch.device) -> None:
        """Size the key table (``n_keys`` from the trainer's context)."""
        self.rows = torch.full((n_keys,), -1, dtype=torch.long, device=device)

    def _encode(self, x: Tensor) -> Tensor:
        if self.storage == "uint8":
            return (x.clamp(0, 1) * 255.0).round().to(torch.uint8)
        return x.float()

    @staticmethod
    def _decode(x: Tensor) -> Tensor:
        return x.float() / 255.0 if x.dtype == torch.uint8 else x

    def _reserve(self, n: int, like: dict[str, Tensor]) -> None:
        """Grow storage (doubling) to at least ``n`` rows; ``like`` gives each field's row shape and dtype."""
        cap = next(iter(self.fields.values())).shape[0] if self.fields else 0
        if self.fields and n <= cap:
            return
        new_cap = max(n, 2 * cap, 64)
        for name, t in like.items():
            grown = torch.zeros((new_cap, *t.shape[1:]), dtype=t.dtype, device=t.device)
            if name in self.fields:
                grown[:cap] = self.fields[name]
            self.fields[name] = grown

    def ensure(self, image: Tensor, n_scores: int, with_mask: bool) -> None:
        """Allocate storage for labels shaped like ``image`` [B,3,h,w] (no entry is added)."""
        like = {"image": self._encode(image[:1]), "scores": image.new_zeros(1, n_scores)}
        if with_mask:
            like["mask"] = image.new_zeros(1, 1, *image.shape[-2:]).to(torch.float16)
        self._reserve(max(1, self.n_used), like)

    def filled(self, keys: Tensor) -> Tensor:
        """[B] bool: the key has an entry."""
        return self.rows[keys] >= 0

    def read(self, keys: Tensor) -> tuple[Tensor, Tensor, Optional[Tensor], Tensor]:
        """Entries of ``keys`` [B]: (image [B,3,h,w], scores [B,M], mask [B,1,h,w] or None, filled [B]).

        Rows of keys without an entry are zeros (a black image: Semi-UIR's initial bank, §3.1); call
        :meth:`ensure` first.
        """
        r = self.rows[keys]
        has = r >= 0
        row = r.clamp_min(0)
        pick = {n: t[row] * has.view(-1, *([1] * (t.dim() - 1))).to(t.dtype) for n, t in self.fields.items()}
        mask = pick["mask"].float() if "mask" in pick else None
        return self._decode(pick["image"]), pick["scores"], mask, has

    def write(self, keys: Tensor, where: Tensor, image: Tensor, scores: Tensor, mask: Optional[Tensor] = None) -> None:
        """Store row ``b`` under ``keys[b]`` where ``where[b]``; equal keys carry equal values (same crop).

        Args:
            keys: [B] crop keys.
            where: [B] bool.
            image: [B,3,h,w] labels in [0,1].
            scores: [B,M] per-member scores.
            mask: optional [B,1,h,w] pixel trust.
        """
        sel = where.nonzero().squeeze(1)
        if sel.numel() == 0:
            return
        k = keys[sel]
        uniq = torch.unique(k)
        new = uniq[self.rows[uniq] < 0]
        self.rows[new] = torch.arange(self.n_used, self.n_used + new.numel(), device=self.rows.device)
        self.n_used += new.numel()
        fresh = {"image": self._encode(image[sel]), "scores": scores[sel].float()}
        if mask is not None:
            fresh["mask"] = mask[sel].to(torch.float16)
        self._reserve(self.n_used, fresh)
        for name, t in fresh.items():
            self.fields[name][self.rows[k]] = t

    def state_dict(self) -> dict[str, Any]:
        # clone: a saved slice would drag the whole over-allocated storage into the checkpoint
        return {"rows": self.rows.cpu().clone(), "n_used": self.n_used,
                "fields": {n: t[: self.n_used].cpu().clone() for n, t in self.fields.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.rows.device
        self.rows, self.n_used = state["rows"].to(dev).clone(), int(state["n_used"])
        self.fields = {n: t.to(dev).clone() for n, t in state["fields"].items()}
