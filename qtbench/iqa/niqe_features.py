"""Fast NIQE features: the numbers of pyiqa's ``compute_feature`` pipeline, computed with less work.

:mod:`qtbench.iqa.niqe_fit` scores every candidate crop with NIQE, which made it the slowest part of a
QualiTeacher step. The features here are meant to be *the same numbers* as pyiqa's (checked bit for bit
against the pyiqa-based reference in ``tests/iqa/test_niqe_speed_equivalence.py``); only the way they are
computed changes:

- AGGD shape lookup: pyiqa compares each block's moment ratio with all 9,801 entries of a ratio table
  (``|r_gam - rhatnorm|.argmin()``, a [blocks, 9801] matrix per call). The table is strictly increasing, so
  the nearest entry is one of the two neighbours found by ``torch.searchsorted`` (:func:`nearest_in_table`).
- The five AGGD fits of a block (the block and its four neighbour products) run as one batched call, and
  the table is built once per dtype/device instead of on every call.
- The 7x7 Gaussian window is applied as 49 shifted multiply-adds instead of a float64 ``conv2d`` (CPU
  float64 convolution has no fast kernel; the shifted sum adds the taps in the same order, so the result
  is identical).
- The AGGD fit's one-sided sums of squares square ``min(x, 0)`` / ``max(x, 0)`` instead of multiplying the
  squares by a bool mask in float64 (the same terms, 15x faster on a CPU).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

GAUSS_SIZE, GAUSS_SIGMA = 7, 7.0 / 6.0  # source: NIQE's local mean/deviation window (pyiqa normalize_img_with_gauss)
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # source: pyiqa compute_feature (horizontal, vertical, 2 diagonals)


class AGGDTable:
    """pyiqa's AGGD lookup table (shape ``gam`` -> moment ratio ``r_gam``) in one dtype/device.

    Attributes:
        gam: [T] candidate shapes 0.2, 0.201, ..., 10 (built exactly as pyiqa builds them).
        r_gam: [T] their ratio Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g)), strictly increasing.
        safe_max: above this value rounding could make several entries equally near (see
            :func:`nearest_in_table`); such rare values use the exhaustive search.
    """

    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        # same expression as pyiqa's estimate_aggd_param (arange in the default dtype, then cast)
        self.gam = torch.arange(0.2, 10 + 0.001, 0.001).to(dtype=dtype, device=device)
        self.r_gam = (2 * torch.lgamma(2.0 / self.gam)
                      - (torch.lgamma(1.0 / self.gam) + torch.lgamma(3.0 / self.gam))).exp()
        step = self.r_gam.diff()
        self.monotone = bool((step > 0).all())
        # a value v beyond the last entry ties two entries only if ulp(v) reaches the table's spacing
        eps = torch.finfo(dtype).eps
        self.safe_max = float(step.min()) / (4 * eps) if self.monotone else -float("inf")


@functools.lru_cache(maxsize=8)
def aggd_table(dtype: torch.dtype, device: torch.device) -> AGGDTable:
    """The lookup table for ``dtype``/``device``, built once (pyiqa rebuilds it on every call)."""
    return AGGDTable(dtype, device)


def nearest_in_table(table: Tensor, values: Tensor, safe_max: float) -> Tensor:
    """Index of the table entry nearest to each value: ``(table - values[:, None]).abs().argmin(-1)``.

    Exactly the exhaustive argmin's answer, ties and NaN included, for a strictly increasing ``table``:

    - inside the table's range the nearest entry is one of the two neighbours of the insertion point;
      a farther entry is at least one table step (>= 1e-6 here) farther, far more than the rounding of a
      distance, so it can never tie. Between the two neighbours a tie goes to the lower index, as argmin.
    - below the first entry the answer is entry 0 (the search gives neighbours 0 and 1).
    - above ``safe_max``, and for NaN, the exhaustive argmin is used on those values only (rounding can
      tie far entries there; argmin returns index 0 for NaN).

    Args:
        table: [T] strictly increasing.
        values: [M].
        safe_max: see :class:`AGGDTable`.
    """
    hi = torch.searchsorted(table, values).clamp(1, table.numel() - 1)  # table[hi-1] < v <= table[hi]
    lo = hi - 1
    idx = torch.where((table[hi] - values).abs() < (table[lo] - values).abs(), hi, lo)
    odd = ~(values <= safe_max)  # NaN or huge
    if odd.any():
        idx[odd] = (table - values[odd].unsqueeze(-1)).abs().argmin(dim=-1)
    return idx


def soft_lookup(tab: AGGDTable, values: Tensor) -> Tensor:
    """The shape ``gam`` at each moment ratio, linearly interpolated between the two neighbouring table entries.

    Why: the nearest-entry lookup is piecewise constant (no gradient); the interpolation differs from it by
    at most one table step (0.001 in the shape) and is differentiable in ``values`` (rewards, docs/method.md §8).
    """
    n = tab.r_gam.numel()
    hi = torch.searchsorted(tab.r_gam, values.detach()).clamp(1, n - 1)
    lo = hi - 1
    r_lo, r_hi = tab.r_gam[lo], tab.r_gam[hi]
    t = ((values - r_lo) / (r_hi - r_lo)).clamp(0.0, 1.0)
    return tab.gam[lo] + t * (tab.gam[hi] - tab.gam[lo])


def _rhatnorm(rhat: Tensor, gammahat: Tensor) -> Tensor:
    """pyiqa's normalised moment ratio of an AGGD fit (the value looked up in the shape table)."""
    return (rhat * (gammahat.pow(3) + 1) * (gammahat + 1)) / (gammahat.pow(2) + 1).pow(2)


def _beta_scale(alpha: Tensor) -> Tensor:
    """Factor turning the one-sided deviations into AGGD scales ``beta`` for shape ``alpha``."""
    return (torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)).exp().sqrt()


def _one_sided_square_sum(x: Tensor, left: bool) -> Tensor:
    """Row sums of ``x**2`` over the negative (``left``) or positive entries: pyiqa's ``(x**2 * mask).sum``.

    Why: ``min(x, 0)**2`` is ``x**2`` on the negative entries and 0 elsewhere, so the summed terms and their
    order are pyiqa's (same numbers for finite ``x``), without a float64 product with a bool mask (15x slower
    on a CPU).
    """
    side = x.clamp(max=0) if left else x.clamp(min=0)
    return side.pow(2).sum(dim=-1)


def estimate_aggd(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """AGGD ``(alpha, beta_l, beta_r)`` of each row of ``x`` [M, P]; pyiqa's ``estimate_aggd_param`` numbers."""
    tab = aggd_table(x.dtype, x.device)
    sq = x.pow(2)
    # pyiqa counts in float32 (exact for these sizes) and divides the float64 sums by the counts
    count_left = (x < 0).sum(dim=-1, dtype=torch.float32)
    count_right = (x > 0).sum(dim=-1, dtype=torch.float32)
    left_std = torch.sqrt(_one_sided_square_sum(x, left=True) / count_left)
    right_std = torch.sqrt(_one_sided_square_sum(x, left=False) / count_right)
    gammahat = left_std / right_std
    rhat = x.abs().mean(dim=-1).pow(2) / sq.mean(dim=-1)
    rhatnorm = _rhatnorm(rhat, gammahat)
    if tab.monotone:
        pos = nearest_in_table(tab.r_gam, rhatnorm, tab.safe_max)
    else:  # a dtype whose table is not monotone: the exhaustive search
        pos = (tab.r_gam - rhatnorm.unsqueeze(-1)).abs().argmin(dim=-1)
    alpha = tab.gam[pos]
    scale = _beta_scale(alpha)
    return alpha, left_std * scale, right_std * scale


def estimate_aggd_soft(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Differentiable AGGD fit of each row of ``x`` [M, P]: ``(alpha, beta_l, beta_r, undefined)``.

    The shape comes from :func:`soft_lookup`. Rows the exact fit leaves undefined (no negative or no positive
    value, or all zero: NaN in pyiqa) are flagged in ``undefined`` and computed on guarded values instead, so
    no NaN or inf ever enters the autograd graph (one would turn every gradient of the batch into NaN).
    """
    tab = aggd_table(x.dtype, x.device)
    sq = x.pow(2)
    neg, pos = (x < 0).to(x.dtype), (x > 0).to(x.dtype)
    count_left, count_right = neg.sum(dim=-1), pos.sum(dim=-1)
    mean_sq = sq.mean(dim=-1)
    undefined = (count_left == 0) | (count_right == 0) | (mean_sq == 0)
    tiny = torch.finfo(x.dtype).tiny ** 0.5
    left_std = (_one_sided_square_sum(x, left=True) / count_left.clamp_min(1)).clamp_min(tiny).sqrt()
    right_std = (_one_sided_square_sum(x, left=False) / count_right.clamp_min(1)).clamp_min(tiny).sqrt()
    gammahat = (left_std / right_std).clamp(1e-3, 1e3)  # beyond this the shape is at the table's end anyway
    rhat = x.abs().mean(dim=-1).pow(2) / mean_sq.clamp_min(tiny)
    alpha = soft_lookup(tab, _rhatnorm(rhat, gammahat))
    scale = _beta_scale(alpha)
    return alpha, left_std * scale, right_std * scale, undefined


def block_features(blocks: Tensor, soft: bool = False) -> Tensor:
    """18 NIQE features of each normalised block: [M, h, w] -> [M, 18] (pyiqa ``compute_feature`` order).

    The block and its four neighbour products (circular shifts within the block, as pyiqa) go through one
    batched AGGD fit; ``soft``: the differentiable fit (:func:`estimate_aggd_soft`), a block with an
    undefined fit gets NaN features only at the end (NaN blocks are left out of the NIQE distance).
    """
    m = blocks.shape[0]
    prods = [blocks * torch.roll(blocks, s, dims=(1, 2)) for s in _SHIFTS]
    rows = torch.stack([blocks, *prods]).reshape(5 * m, -1)
    if soft:
        alpha, beta_l, beta_r, undefined = estimate_aggd_soft(rows)
        undefined = undefined.reshape(5, m).any(dim=0)
    else:
        alpha, beta_l, beta_r = estimate_aggd(rows)
    alpha, beta_l, beta_r = (t.reshape(5, m) for t in (alpha, beta_l, beta_r))
    feats = [alpha[0], (beta_l[0] + beta_r[0]) / 2]
    for i in range(1, 5):
        a, bl, br = alpha[i], beta_l[i], beta_r[i]
        mean = (br - bl) * (torch.lgamma(2 / a) - torch.lgamma(1 / a)).exp()  # Eq. 8 of the NIQE paper
        feats.extend((a, mean, bl, br))
    out = torch.stack(feats, dim=-1)
    if soft:
        out = torch.where(undefined[:, None], torch.full_like(out, float("nan")), out)
    return out


def gauss_filter(img: Tensor, kernel: Tensor) -> Tensor:
    """``imfilter(img, kernel, padding='replicate')`` of [N,1,H,W] with a [1,1,k,k] kernel, as shifted sums.

    Why: CPU float64 ``conv2d`` is slow; adding the taps in row-major order gives the same numbers ~7x faster.
    """
    k = kernel.shape[-1]
    h, w = img.shape[-2:]
    pad = F.pad(img, (k // 2,) * 4, mode="replicate")
    taps = kernel.reshape(k, k).tolist()
    out = torch.zeros_like(img)
    for i in range(k):
        for j in range(k):
            out += taps[i][j] * pad[..., i : i + h, j : j + w]
    return out


def gauss_kernel(like: Tensor) -> Tensor:
    """NIQE's 7x7 Gaussian window (pyiqa ``fspecial``) in ``like``'s dtype/device."""
    return _gauss_kernel(like.dtype, like.device)


@functools.lru_cache(maxsize=8)
def _gauss_kernel(dtype: torch.dtype, device: torch.device) -> Tensor:
    from pyiqa.matlab_utils import fspecial  # built once: pyiqa rebuilds it on every call

    return fspecial(GAUSS_SIZE, GAUSS_SIGMA, 1).to(dtype=dtype, device=device)


def to_blocks(img: Tensor, patch: int) -> Tensor:
    """Whole ``patch`` blocks of [N,1,H,W] -> [N*B, patch, patch], in pyiqa ``blockproc``'s order.

    blockproc orders blocks column-major (block column, then block row, then image); the same order keeps
    the per-image sums over blocks identical to the reference.
    """
    n, _, h, w = img.shape
    nh, nw = h // patch, w // patch
    b = img[..., : nh * patch, : nw * patch].reshape(n, nh, patch, nw, patch)
    return b.permute(3, 1, 0, 2, 4).reshape(nw * nh * n, patch, patch)


def from_blocks(values: Tensor, n: int) -> Tensor:
    """Undo :func:`to_blocks`'s order for per-block values: [B*N, ...] -> [N, B, ...]."""
    return values.reshape(-1, n, *values.shape[1:]).transpose(0, 1)
