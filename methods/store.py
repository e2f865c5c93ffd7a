"""Growable per-key storage of pseudo-labels, shared by the top-k ``bank`` add-on and the 1-slot label stores.

:class:`KeyedRows` keeps dense tensors (one per field) grown on demand and a crop key -> row table; entries
are saved in checkpoints: none of the original repositories resumes its bank correctly (docs/frameworks.md
§3.6, §4.6; docs/method.md §21 item 13). :class:`LabelStore` holds one PL per key: Semi-UIR's reliable bank,
Colabator's label pool, filter's best label. The ``bank`` add-on keeps k entries per key in the same rows.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor

STORAGES = ("uint8", "float32")


class KeyedRows:
    """Dense fields ``[R,...]`` with one row per crop key (``TargetBatch.key``) that has an entry.

    Args:
        storage: image precision, ``uint8`` (4x smaller; Semi-UIR stores PNGs) or ``float32`` (exact;
            Colabator pickles tensors).
    """

    def __init__(self, storage: str = "float32") -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage {storage!r}: choose one of {', '.join(STORAGES)}")
        self.storage = storage
        self.rows = torch.zeros(0, dtype=torch.long)
        self.n_used = 0
        self.fields: dict[str, Tensor] = {}

    def setup(self, n_keys: int, device: torch.device) -> None:
        """Size the key table (``n_keys`` from the trainer's context)."""
        self.rows = torch.full((n_keys,), -1, dtype=torch.long, device=device)

    def encode(self, x: Tensor) -> Tensor:
        """An image in [0,1] in storage precision."""
        if self.storage == "uint8":
            return (x.clamp(0, 1) * 255.0).round().to(torch.uint8)
        return x.float()

    @staticmethod
    def decode(x: Tensor) -> Tensor:
        """A stored image back as float in [0,1]."""
        return x.float() / 255.0 if x.dtype == torch.uint8 else x

    def reserve(self, n: int, like: dict[str, Tensor]) -> None:
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

    def assign(self, uniq: Tensor) -> tuple[Tensor, Tensor]:
        """Rows of the distinct keys ``uniq``, giving new rows to keys without one: (rows, new [bool])."""
        rows = self.rows[uniq]
        new = rows < 0
        n_new = int(new.sum())
        rows[new] = torch.arange(self.n_used, self.n_used + n_new, device=rows.device)
        self.rows[uniq[new]] = rows[new]
        self.n_used += n_new
        return rows, new

    def state_dict(self) -> dict[str, Any]:
        # clone: a saved slice would drag the whole over-allocated storage into the checkpoint
        return {"rows": self.rows.cpu().clone(), "n_used": self.n_used,
                "fields": {n: t[: self.n_used].cpu().clone() for n, t in self.fields.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.rows.device
        self.rows, self.n_used = state["rows"].to(dev).clone(), int(state["n_used"])
        self.fields = {n: t.to(dev).clone() for n, t in state["fields"].items()}


class LabelStore(KeyedRows):
    """A 1-slot store keyed by crop key: fields image [R,3,h,w], scores [R,M], (mask [R,1,h,w])."""

    def ensure(self, image: Tensor, n_scores: int, with_mask: bool) -> None:
        """Allocate storage for labels shaped like ``image`` [B,3,h,w] (no entry is added)."""
        like = {"image": self.encode(image[:1]), "scores": image.new_zeros(1, n_scores)}
        if with_mask:
            like["mask"] = image.new_zeros(1, 1, *image.shape[-2:]).to(torch.float16)
        self.reserve(max(1, self.n_used), like)

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
        return self.decode(pick["image"]), pick["scores"], mask, has

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
        self.assign(torch.unique(k))
        fresh = {"image": self.encode(image[sel]), "scores": scores[sel].float()}
        if mask is not None:
            fresh["mask"] = mask[sel].to(torch.float16)
        self.reserve(self.n_used, fresh)
        for name, t in fresh.items():
            self.fields[name][self.rows[k]] = t
