"""``bank``: per-crop top-k memory bank of pseudo-labels (docs/method.md §7).

Each crop key (``pl.target_crops=grid``: the same window of the same image) holds up to k entries
(PL, member scores, combined score, mask). When a crop's candidates survive the gate, they are merged with
its stored entries and the top k by the ranking score are kept; a dropped crop keeps its entries. The
student then trains on *every* stored entry of the crop, each at its own level (qcond runs after).

Everything is vectorised over the batch (the official code is batch-1 only, §21 item 2); entries live in
:class:`qtbench_methods.store.KeyedRows` (dense fields [R,k,...] grown on demand, a key -> row table), saved in
checkpoints (§21 item 13).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.candidate_masks import CandidateMasks
from qtbench.engine.plugin_api import AddOn, AddOnContext, PLBatch, TargetBatch
from qtbench.errors import UserError
from qtbench.registry import addons
from qtbench_methods.store import STORAGES, KeyedRows


@dataclass
class BankConfig:
    """Options of :class:`MemoryBank`."""

    k: int = 3  # entries per crop; source: docs/method.md §7, §19 (top-3)
    # "sum": unweighted sum of member scores (official, docs/method.md §7, §21 item 4); "combined": weighted score
    ranking: str = "sum"
    # per-crop PL loss over its entries: "mean" keeps MT's PL-loss scale (fair comparisons with w_pl);
    # "sum" adds every entry's loss, as the official code does (docs/method.md §11)
    slot_reduction: str = "mean"
    storage: str = "uint8"  # stored PL precision: uint8 (4x smaller banks and checkpoints) or float32 (exact)


def top_k_merge(rank_old: Tensor, rank_new: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Indices of the k best of [old | new] per row.

    Args:
        rank_old: [S,k] ranking scores of stored entries (-inf for empty slots).
        rank_new: [S,K] ranking scores of the new candidates.
        k: entries kept.

    Returns:
        (index [S,k] into the concatenation, valid [S,k]: False where only empty slots were left).
    """
    pool = torch.cat([rank_old, rank_new], dim=1)
    values, index = pool.topk(k, dim=1)
    return index, torch.isfinite(values)


def _take(stored: Tensor, new: Tensor, index: Tensor) -> Tensor:
    """Gather ``index`` [S,k] along dim 1 of cat([stored, new], 1) (any trailing dims)."""
    pool = torch.cat([stored, new.to(stored.dtype)], dim=1)
    idx = index.view(*index.shape, *([1] * (pool.dim() - 2))).expand(-1, -1, *pool.shape[2:])
    return pool.gather(1, idx)


@addons.register(
    "bank", "per-crop top-k memory bank of PLs; the student trains on every banked PL at its own level",
    source="docs/method.md §7 (official memory_bank.py), batched and checkpointed", config=BankConfig,
)
class MemoryBank(AddOn):
    """Replaces the step's labels with each crop's banked entries (``owner`` = crop index).

    Args:
        cfg: the run config (``pl.target_crops`` must be ``grid``).
        options: :class:`BankConfig`.
    """

    phase = "memory"  # after gate: the bank merges only kept candidate sets; before qcond's levels
    needs_iqa = True

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        super().__init__(cfg, options)
        self.k = int(options.k)
        self.table = KeyedRows(options.storage)  # image, valid, members, combined, (mask): [R,k,...] each
        self.members: list[str] = []
        self.merged = torch.zeros((), dtype=torch.long)
        self.revisits = torch.zeros((), dtype=torch.long)
        self.last: dict[str, Tensor] = {}

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        o = cfg.addons.bank
        if cfg.pl.target_crops != "grid":
            raise UserError(f"bank needs spatially aligned target crops to revisit (docs/method.md §7), but "
                            f"pl.target_crops={cfg.pl.target_crops!r}; set pl.target_crops=grid")
        if o.k < 1:
            raise UserError(f"addons.bank.k={o.k} must be >= 1")
        for key, allowed in (("ranking", ("sum", "combined")), ("slot_reduction", ("mean", "sum")),
                             ("storage", STORAGES)):
            if o[key] not in allowed:
                raise UserError(f"addons.bank.{key}={o[key]!r}: choose {' or '.join(allowed)}")

    def setup(self, ctx: AddOnContext) -> None:
        self.table.setup(ctx.n_keys, ctx.device)

    def _entering_masks(self, out: Tensor, masks: CandidateMasks, rep: Tensor, index: Tensor) -> None:
        """Fill ``out`` [S,K,1,h,w] with the masks of the new candidates that ``index`` keeps (the only
        ones the merge stores), computing just those."""
        s, slot = (index >= self.k).nonzero(as_tuple=True)
        if s.numel():
            view = index[s, slot] - self.k
            out[s, view] = masks.take(rep[s], view).to(out.dtype)

    def _rank(self, members: Tensor, combined: Tensor) -> Tensor:
        return members.sum(dim=-1) if self.options.ranking == "sum" else combined

    # -- the hook ----------------------------------------------------------------------------------
    def on_select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        if batch.key is None:
            raise RuntimeError("bank: target crops carry no key (pl.target_crops=grid is required)")
        if not self.members:
            self.members = list(pl.scores)
        b, kc = pl.candidates.shape[:2]
        dev = pl.candidates.device
        keep = pl.keep if pl.keep is not None else torch.ones(b, dtype=torch.bool, device=dev)
        # one representative crop per distinct kept key (equal keys = equal crops = equal candidates)
        kept = keep.nonzero().squeeze(1)
        uniq, inv = torch.unique(batch.key[kept], return_inverse=True)
        first = torch.full((uniq.numel(),), kept.numel(), device=dev, dtype=torch.long)
        first = first.scatter_reduce(0, inv, torch.arange(kept.numel(), device=dev), reduce="amin")
        rep = kept[first]
        table = self.table
        rows, new = table.assign(uniq)
        # the new candidates in storage format
        # candidates a framework rejected (pl.cand_keep False: filter's threshold, Semi-UIR's student test) stay out
        ok = (pl.cand_keep[rep] if pl.cand_keep is not None
              else torch.ones(rep.numel(), kc, dtype=torch.bool, device=dev))
        fresh = {"image": table.encode(pl.candidates[rep]),
                 "valid": ok,
                 "members": torch.stack([pl.scores[m] for m in self.members], dim=-1)[rep].float(),
                 "combined": pl.score[rep].float()}
        if pl.cand_mask is not None:  # filled below for the candidates that enter only
            h, w = pl.candidates.shape[-2:]
            fresh["mask"] = torch.zeros(rep.numel(), kc, 1, h, w, dtype=torch.float16, device=dev)
        table.reserve(table.n_used, {n: t[:, :1].expand(-1, self.k, *t.shape[2:]) for n, t in fresh.items()})
        old = {n: table.fields[n][rows] for n in fresh}
        rank_old = self._rank(old["members"], old["combined"]).masked_fill(~old["valid"], float("-inf"))
        rank_new = self._rank(fresh["members"], fresh["combined"]).masked_fill(~ok, float("-inf"))
        index, valid = top_k_merge(rank_old, rank_new, self.k)
        if pl.cand_mask is not None:
            self._entering_masks(fresh["mask"], pl.cand_mask, rep, index)
        for n in fresh:
            table.fields[n][rows] = _take(old[n], fresh[n], index)
        table.fields["valid"][rows] &= valid
        self.merged = self.merged.to(dev) + rep.numel()
        self.revisits = self.revisits.to(dev) + (~new).sum()
        return self._labels(pl, batch.key)

    def _labels(self, pl: PLBatch, key: Tensor) -> PLBatch:
        """Every stored entry of every crop of the batch becomes a label."""
        b = key.shape[0]
        store = self.table.fields
        r = self.table.rows[key]
        valid = torch.zeros(b, self.k, dtype=torch.bool, device=key.device)
        has = r >= 0
        valid[has] = store["valid"][r[has]]
        owner, slot = valid.nonzero(as_tuple=True)
        row = r[owner]
        n_i = valid.sum(dim=1)
        pl.label = self.table.decode(store["image"][row, slot])
        pl.label_score = store["combined"][row, slot]
        pl.mask = store["mask"][row, slot].float() if "mask" in store else None
        pl.owner = owner
        pl.level = None
        if self.options.slot_reduction == "mean":
            pl.weight = 1.0 / n_i[owner].float()
        else:
            pl.weight = torch.ones(owner.numel(), device=key.device)
        pl.norm = (n_i > 0).sum().clamp_min(1).float()  # per-crop losses averaged over crops with entries
        self.last = {"bank/entries_per_crop": n_i.float().mean(), "bank/keys": torch.tensor(float(self.table.n_used))}
        return pl

    def step_metrics(self) -> dict[str, Tensor]:
        return self.last

    # -- checkpoints -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        # the checkpoint format predates KeyedRows: its fields are saved under "store"
        table = self.table.state_dict()
        return {"rows": table["rows"], "n_used": table["n_used"], "members": list(self.members),
                "store": table["fields"], "merged": self.merged.cpu(), "revisits": self.revisits.cpu()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        dev = self.table.rows.device
        self.table.load_state_dict({"rows": state["rows"], "n_used": state["n_used"], "fields": state["store"]})
        self.members = list(state["members"])
        self.merged, self.revisits = state["merged"].to(dev).clone(), state["revisits"].to(dev).clone()

    def summary(self) -> dict[str, Any]:
        store, n_used = self.table.fields, self.table.n_used
        filled = store["valid"][:n_used].sum(dim=1).float() if store else torch.zeros(0)
        return {"keys_stored": n_used, "keys_possible": int(self.table.rows.numel()),
                "mean_entries": float(filled.mean()) if filled.numel() else 0.0,
                "merges": int(self.merged), "revisit_rate": float(self.revisits) / max(1, int(self.merged)),
                "ranking": self.options.ranking}

    def bank_entry(self, key: int) -> Optional[dict[str, Tensor]]:
        """The stored entries of one crop key (for tests and inspection), or None."""
        r = int(self.table.rows[key])
        if r < 0:
            return None
        v = self.table.fields["valid"][r]
        return {n: t[r][v] for n, t in self.table.fields.items() if n != "valid"}
