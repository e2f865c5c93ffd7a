"""The ``fidelity`` member: an *oracle* score from the hidden clean target (docs/agreement.md).

Every other member is no-reference. ``fidelity`` reads the clean image of what it scores, so it exists only
to measure and to control how far a reward agrees with true fidelity; a run that trains with it is an
oracle-reward run and is flagged like the ``oracle`` control.

Score (a fixed, differentiable map, documented in docs/agreement.md):

    f(y, x) = (PSNR(y, x) - lo) / (hi - lo),   PSNR = -10 log10(max(MSE, 1e-10)),   lo = 10 dB, hi = 40 dB

not clipped, so its gradient never vanishes (like the official MUSIQ normalisation). The optional noise of
``iqa.agreement.sigma`` is a deterministic function of the run seed and a :class:`Reference`'s ``ids``
(image crop, window inside it, candidate view): the same image, window and view always get the same noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from qtbench import registry
from qtbench.iqa.api import IQAContext, Member, MemberConfig

MSE_FLOOR = 1e-10  # PSNR of an exact copy: 100 dB, not inf (keeps scores and gradients finite)
# The oracle as a block-wise trust weight is max(f, 0): f is unclipped for the reward's gradient, but a tile
# below `lo` dB would get a negative weight, turning the masked PL loss into a push away from the label
# (docs/agreement.md §1)
MASK_FLOOR = 0.0
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def noise_ids(*parts: Any) -> np.ndarray:
    """[N] uint64 identities hashed from integer parts (each a scalar or an [N] array), order-sensitive."""
    arrays = [np.asarray(p.detach().cpu().numpy() if isinstance(p, Tensor) else p).astype(np.int64) for p in parts]
    n = max((a.size for a in arrays if a.ndim), default=1)
    h = np.full(n, _GOLDEN, dtype=np.uint64)
    for a in arrays:
        h = _splitmix(h ^ np.broadcast_to(a, (n,)).astype(np.uint64))
    return h


def gaussian(ids: np.ndarray, seed: int) -> np.ndarray:
    """[N] standard normal values, a fixed function of (seed, id) (Box-Muller on two hashed uniforms)."""
    h1 = _splitmix(ids ^ _splitmix(np.full(ids.shape, seed, dtype=np.uint64)))
    h2 = _splitmix(h1)
    u1 = ((h1 >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = (h2 >> np.uint64(11)).astype(np.float64) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@dataclass
class Reference:
    """The clean counterpart of every image a reference member scores.

    Args:
        clean: [N,3,h,w] clean crops in [0, 1], aligned with the scored images (same window, same frame).
        ids: [N] uint64 identity of each (image crop, window, view), the key of its fixed noise.
    """

    clean: Tensor
    ids: np.ndarray

    def take(self, idx: Tensor) -> "Reference":
        """The references of rows ``idx``."""
        return Reference(self.clean[idx], self.ids[idx.detach().cpu().numpy()])

    def tiles(self, nh: int, nw: int, th: int, tw: int) -> "Reference":
        """References of the ``nh x nw`` tiles of size ``th x tw`` (the ensemble's block masks), image-major."""
        n = self.clean.shape[0]
        t = self.clean[:, :, : nh * th, : nw * tw].unfold(2, th, th).unfold(3, tw, tw)
        t = t.permute(0, 2, 3, 1, 4, 5).reshape(n * nh * nw, 3, th, tw)
        tile = np.tile(np.arange(nh * nw), n)
        return Reference(t, noise_ids(np.repeat(self.ids.view(np.int64), nh * nw), tile, th, tw))


def psnr(images: Tensor, clean: Tensor) -> Tensor:
    """[N] PSNR (dB) of images against clean, both in [0, 1]; differentiable."""
    mse = (images - clean).pow(2).flatten(1).mean(1).clamp_min(MSE_FLOOR)
    return -10.0 * torch.log10(mse)


@registry.iqa.register("fidelity", "ORACLE: PSNR to the hidden clean target mapped to [0,1] (10..40 dB); "
                       "synthetic targets only", source="docs/agreement.md")
class Fidelity(Member):
    """PSNR to the hidden clean image, normalised by ``lo``/``hi`` (10 and 40 dB unless configured)."""

    name = "fidelity"
    differentiable = True
    blockwise = True
    needs_reference = True  # the ensemble passes ``Reference.clean`` to raw()
    lo = 10.0  # docs/agreement.md: the PSNR range of restorations (inputs ~12 dB, good outputs ~30 dB)
    hi = 40.0

    @classmethod
    def build(cls, cfg: MemberConfig, iqa_cfg: Any, ctx: IQAContext) -> "Fidelity":
        return cls().configure(cfg)

    def raw(self, images: Tensor, clean: Tensor | None = None) -> Tensor:  # type: ignore[override]
        if clean is None:
            raise RuntimeError("the fidelity member needs the clean reference of the images it scores")
        return psnr(images, clean.to(images.dtype))


def oracle_member(lo: float, hi: float) -> Fidelity:
    """A fidelity member with range ``lo..hi`` dB (the ``iqa.agreement`` mixing's oracle)."""
    return Fidelity().configure(MemberConfig(name="fidelity", weight=1.0, lo=lo, hi=hi))
