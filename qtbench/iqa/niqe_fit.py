"""Member ``niqe_fit``: NIQE with a pristine model fitted by qtbench on the run's clean *source* photos.

pyiqa's NIQE needs ``niqe_modelparameters.mat`` (not obtainable offline, docs/install.md §3.7). qtbench fits the
same two arrays (``mu_prisparam`` 1x36, ``cov_prisparam`` 36x36 — the keys pyiqa's NIQE reads through
``pretrained_model_path``) the way the original NIQE fits its pristine model: 36 NSS features per patch
(18 at full and 18 at half resolution, pyiqa's ``compute_feature``), patches kept only when their sharpness
(mean local deviation) exceeds ``sharpness`` x the sharpest patch of the photo; then the multivariate Gaussian
of the kept patches. Scoring uses the same features and NIQE's distance (the numbers of pyiqa's ``niqe()``,
checked by a test), batched and safe on flat images; lower is better. The features are computed by
:mod:`qtbench.iqa.niqe_features` (same numbers as pyiqa's code, several times faster; the pyiqa-based
reference stays here as ``_patch_features_ref`` for the equivalence test).

Normalisation (documented choice): NIQE's scale depends on the patch size and the number of patches per
image, so no fixed range fits, and on candidate-sized crops it is heavy-tailed. ``lo``/``hi`` are calibrated
at fit time as the ``calib_q`` and ``1 - calib_q`` quantiles of NIQE over ``calib_crops`` clean source crops
plus their co-located degraded crops, all of the candidates' size (``calib_crop``): the central part of the
scores the member will see maps to [0, 1] (lower NIQE -> nearer 1). The offline preset clamps it to [0, 1] so
that the tail (flat crops score NIQE in the tens) cannot dominate the ensemble. ``lo``/``hi`` in the member
config override the calibration.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import scipy.io
import torch
from torch import Tensor

from qtbench import atomic, registry
from qtbench.errors import UserError
from qtbench.iqa import fit_util
from qtbench.iqa import niqe_features as nf
from qtbench.iqa.api import IQAContext, Member, MemberConfig
from qtbench.iqa.config import NIQEFitConfig

SCORING_ONLY = ("differentiable",)  # iqa.niqe_fit options that do not change the fit (left out of its cache key)
FIT_VERSION = 1  # bump when the fitting code changes its results (invalidates the cache)


def luma255(images: Tensor) -> Tensor:
    """RGB [N,3,H,W] in [0,1] -> rounded Y (YIQ) in [0, 255], float64, exactly as pyiqa's ``calculate_niqe``."""
    from pyiqa.archs.func_util import diff_round
    from pyiqa.utils.color_util import to_y_channel

    return diff_round(to_y_channel(images, 255, "yiq")).to(torch.float64)


def patch_features(y: Tensor, patch: int, sharpness: bool = False, soft: bool = False) -> tuple[Tensor, Tensor | None]:
    """36 NIQE features (and optionally the sharpness) of every whole ``patch`` block of Y images.

    The numbers of pyiqa's feature code (:func:`_patch_features_ref`), computed by
    :mod:`qtbench.iqa.niqe_features` (sorted-table AGGD lookup, batched fits, fast Gaussian window).

    Args:
        y: [N,1,H,W] luma in [0, 255] (:func:`luma255`).
        patch: block size at full resolution (half of it at the second scale).
        sharpness: also return each block's sharpness (fitting only).
        soft: differentiable AGGD shapes (:func:`qtbench.iqa.niqe_features.soft_lookup`; rewards only).

    Returns:
        ``(features [N,B,36], sharpness [N,B] or None)`` with B blocks per image (partial blocks are discarded).
    """
    from pyiqa.archs.func_util import safe_sqrt
    from pyiqa.matlab_utils import imresize

    n = y.shape[0]
    nh, nw = y.shape[-2] // patch, y.shape[-1] // patch
    img = y[..., : nh * patch, : nw * patch]
    k = nf.gauss_kernel(img)
    sharp, feats = None, []
    for scale in (1, 2):
        # local mean and second moment (pyiqa: imfilter(img), imfilter(img**2)) in one call
        mu, mu2 = nf.gauss_filter(torch.cat([img, img * img]), k).chunk(2)
        if sharpness and scale == 1:  # mean local standard deviation of the block (NIQE's patch selection)
            sigma = (mu2 - mu * mu).abs().sqrt()
            sharp = nf.from_blocks(nf.to_blocks(sigma, patch).mean(dim=(1, 2)), n)
        norm = (img - mu) / (safe_sqrt((mu2 - mu * mu).abs()) + 1)  # pyiqa normalize_img_with_gauss, C = 1
        feats.append(nf.from_blocks(nf.block_features(nf.to_blocks(norm, patch // scale), soft), n))
        if scale == 1:
            img = imresize(img / 255.0, scale=0.5, antialiasing=True) * 255.0
    return torch.cat(feats, dim=-1), sharp


def _patch_features_ref(y: Tensor, patch: int, sharpness: bool = False) -> tuple[Tensor, Tensor | None]:
    """Reference for :func:`patch_features`: the same features through pyiqa's own functions (tests only).

    The code qtbench used before the fast path; slow (pyiqa's AGGD lookup scans a 9,801-entry table per fit).

    Args:
        y: [N,1,H,W] luma in [0, 255] (:func:`luma255`).
        patch: block size at full resolution (half of it at the second scale).
        sharpness: also return each block's sharpness (fitting only).

    Returns:
        ``(features [N,B,36], sharpness [N,B] or None)`` with B blocks per image (partial blocks are discarded).
    """
    from pyiqa.archs.func_util import normalize_img_with_gauss
    from pyiqa.archs.niqe_arch import compute_feature
    from pyiqa.matlab_utils import blockproc, fspecial, imfilter, imresize

    nh, nw = y.shape[-2] // patch, y.shape[-1] // patch
    img = y[..., : nh * patch, : nw * patch]
    sharp = None
    if sharpness:  # mean local standard deviation of the block (NIQE's patch selection)
        k = fspecial(nf.GAUSS_SIZE, nf.GAUSS_SIGMA, 1).to(img)
        mu = imfilter(img, k, padding="replicate")
        sigma = (imfilter(img * img, k, padding="replicate") - mu * mu).abs().sqrt()
        sharp = blockproc(sigma, [patch, patch], fun=lambda b, _: b.mean(dim=(1, 2, 3)).unsqueeze(-1))[..., 0]
    feats = []
    for scale in (1, 2):
        norm = normalize_img_with_gauss(img, padding="replicate")
        feats.append(blockproc(norm, [patch // scale, patch // scale], fun=compute_feature))
        if scale == 1:
            img = imresize(img / 255.0, scale=0.5, antialiasing=True) * 255.0
    return torch.cat(feats, dim=-1), sharp


def fit_pristine(clean: list[np.ndarray], cfg: NIQEFitConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Fit ``(mu [36], cov [36,36], patches kept)`` on clean photos (uint8 HxWx3).

    Raises:
        UserError: fewer than 2 sharp patches (photos smaller than ``patch``).
    """
    kept = []
    for img in clean:
        feats, sharp = patch_features(luma255(fit_util.to_tensor(img)), cfg.patch, sharpness=True)
        if feats.shape[1] == 0:
            continue
        keep = sharp[0] > cfg.sharpness * sharp[0].max()
        if not keep.any():  # flat photo: keep its sharpest patch
            keep = sharp[0] == sharp[0].max()
        kept.append(feats[0][keep])
    x = torch.cat(kept).numpy() if kept else np.zeros((0, 36))
    x = x[np.isfinite(x).all(axis=1)]
    if len(x) < 2:
        raise UserError(f"niqe_fit: only {len(x)} usable {cfg.patch}-px patches in the clean source photos; "
                        "lower iqa.niqe_fit.patch or use larger images")
    return x.mean(axis=0), np.cov(x, rowvar=False), len(x)


def niqe_scores(images: Tensor, mu: Tensor, cov: Tensor, patch: int, soft: bool = False) -> Tensor:
    """NIQE of a batch: [N,3,H,W] in [0,1] -> [N] (float32); NaN for an image without a usable block.

    The same numbers as pyiqa's ``niqe()`` (same features, Eq. 10 of the NIQE paper), computed for the
    whole batch at once and robust to flat blocks: pyiqa's ``niqe()`` crashes in ``pinv`` when a block's
    features are NaN (a constant image or tile), here NaN blocks are left out and an image with none left
    scores NaN (the ensemble's ``fallback``). Images smaller than ``patch`` are scored with one block of
    their (even) smaller side — an approximation (the pristine model was fitted at ``patch``); one block
    has zero covariance, as in pyiqa.
    """
    side = min(images.shape[-2:])
    feats, _ = patch_features(luma255(images), min(patch, side - side % 2), soft=soft)  # [N,B,36]
    return _niqe_distance(feats, mu, cov, soft)


def _niqe_scores_ref(images: Tensor, mu: Tensor, cov: Tensor, patch: int) -> Tensor:
    """Reference for :func:`niqe_scores` on pyiqa's feature code (:func:`_patch_features_ref`; tests, bench)."""
    side = min(images.shape[-2:])
    feats, _ = _patch_features_ref(luma255(images), min(patch, side - side % 2))
    return _niqe_distance(feats, mu, cov)


def _niqe_distance(feats: Tensor, mu: Tensor, cov: Tensor, soft: bool = False) -> Tensor:
    """NIQE distance (Eq. 10) of each image's blocks [N,B,36] to the pristine model; NaN blocks left out.

    The pinv cannot be precomputed from the pristine model alone: it inverts the mean of the pristine and
    the image's own covariance, so it is one batched pinv per call (``soft``: a solve, for its gradient).
    """
    valid = torch.isfinite(feats).all(dim=-1, keepdim=True)  # [N,B,1]
    count = valid.sum(dim=1)  # [N,1]
    x = torch.where(valid, feats, torch.zeros_like(feats))
    mean = x.sum(dim=1) / count.clamp_min(1)  # [N,36]
    dev = torch.where(valid, x - mean.unsqueeze(1), torch.zeros_like(x))
    # sample covariance (n - 1), zero for a single block: pyiqa's nancov / np.cov convention
    cov_d = dev.transpose(1, 2) @ dev / (count - 1).clamp_min(1).unsqueeze(-1)
    pooled = (cov.to(cov_d) + cov_d) / 2
    diff = (mu.to(mean) - mean).unsqueeze(1)  # [N,1,36]
    if soft:  # rewards: solve has a stable gradient; pinv's (SVD) blows up on close singular values
        quad = diff @ torch.linalg.solve(pooled, diff.transpose(1, 2))
        out = quad.reshape(-1).clamp_min(1e-12).sqrt()
    else:
        # on the CPU: on an H100, CUDA's batched SVD of these small 36x36 matrices made niqe_fit 3.4x slower
        # per PL step (0.31 vs 0.09 s), and the CPU gives the same numbers on every device
        trace_d = cov_d.diagonal(dim1=1, dim2=2).sum(-1).cpu()
        quad = _pinv_quadratic(pooled.cpu(), diff.cpu(), cov.cpu(), trace_d)
        out = quad.to(pooled.device).reshape(-1).clamp_min(0).sqrt()
    return torch.where(count.reshape(-1) > 0, out, torch.full_like(out, float("nan"))).to(torch.float32)


SAFE_CONDITION = 1e10  # far below 1 / (36 eps) = 1.3e14, where pinv would start dropping singular values


def _pinv_quadratic(pooled: Tensor, diff: Tensor, cov: Tensor, cov_d_trace: Tensor) -> Tensor:
    """``diff @ pinv(pooled) @ diff^T`` per image ([N,36,36], [N,1,36] -> [N,1,1]), float64.

    NIQE's distance needs the pseudo-inverse only when ``pooled`` is (near) singular; everywhere else it is
    the inverse, and a Cholesky solve gives it ~50x faster than pinv's SVD (pinv was a tenth of a QualiTeacher
    step). Which images may take the solve is decided by a bound, not a guess: ``pooled = (cov + cov_d) / 2``
    with both PSD, so ``cond(pooled) <= (lmax(cov) + trace(cov_d)) / lmin(cov)``; below ``SAFE_CONDITION``
    pinv keeps every singular value and equals the inverse. The rest (a singular pristine model, a failed
    factorisation) use pinv, as pyiqa does.

    Args:
        pooled: [N,36,36] ``(cov + cov_d) / 2``.
        diff: [N,1,36] pristine mean minus the image's mean feature.
        cov: [36,36] the pristine covariance.
        cov_d_trace: [N] trace of each image's own covariance.
    """
    ev = torch.linalg.eigvalsh(cov.to(pooled))
    lmin, lmax = float(ev[0]), float(ev[-1])
    chol, info = torch.linalg.cholesky_ex(pooled)
    safe = (info == 0) & (lmax + cov_d_trace < SAFE_CONDITION * lmin) & (lmin > 0)
    quad = torch.empty(pooled.shape[0], 1, 1, dtype=pooled.dtype)
    if safe.any():
        d = diff[safe]
        quad[safe] = d @ torch.cholesky_solve(d.transpose(1, 2), chol[safe])
    if not safe.all():
        d = diff[~safe]
        quad[~safe] = d @ torch.linalg.pinv(pooled[~safe]) @ d.transpose(1, 2)
    return quad


@registry.iqa.register("niqe_fit", "NIQE with a pristine model fitted on the run's clean source photos (offline)",
                       source="Mittal et al. 2013 (NIQE); pyiqa niqe_arch features; docs/method.md §3.1 stand-in")
class NIQEFitMember(Member):
    """NIQE member with a fitted pristine model; lower raw = better.

    Not differentiable by default (NIQE's AGGD shape is a table lookup). With ``iqa.niqe_fit.differentiable``
    a reward (grad enabled) takes the interpolated shape instead (:func:`niqe_features.soft_lookup`), so the
    low-level statistics a student could wreck to please the semantic member push back; scores (no grad)
    keep the exact lookup.

    Args:
        mu, cov: pristine model (36 / 36x36).
        patch: block size used for fitting and scoring.
        lo, hi: calibrated raw range (see the module docstring).
    """

    differentiable = False
    lower_better = True

    def __init__(self, mu: np.ndarray, cov: np.ndarray, patch: int, lo: float, hi: float) -> None:
        super().__init__()
        self.register_buffer("mu", torch.as_tensor(np.ravel(mu), dtype=torch.float64))
        self.register_buffer("cov", torch.as_tensor(cov, dtype=torch.float64))
        self.patch = patch
        self.lo, self.hi = float(lo), float(hi)

    def raw(self, images: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] NIQE; with grad only when ``differentiable`` and grad is enabled."""
        if self.differentiable and torch.is_grad_enabled():
            return niqe_scores(images, self.mu, self.cov, self.patch, soft=True)
        with torch.no_grad():
            return niqe_scores(images, self.mu, self.cov, self.patch)

    def reference_raw(self, images: Tensor) -> Tensor:
        """:meth:`raw` through pyiqa's own feature functions (the code the official scoring loop runs).

        The same numbers, several times slower; used by ``qtbench bench`` and the equivalence tests.
        """
        with torch.no_grad():
            return _niqe_scores_ref(images, self.mu, self.cov, self.patch)

    @classmethod
    def build(cls, cfg: MemberConfig, iqa_cfg: Any, ctx: IQAContext) -> NIQEFitMember:
        """Load the fitted model of this run's data from the cache, or fit and cache it (docs/method.md §3.1).

        Args:
            cfg: member config (``lo``/``hi`` override the calibration).
            iqa_cfg: the run's ``iqa`` section (``iqa_cfg.niqe_fit`` holds the fit options).
            ctx: run context (training data, cache key).
        """
        opts = iqa_cfg.niqe_fit
        fit_opts = {k: v for k, v in fit_util.plain(opts).items() if k not in SCORING_ONLY}
        path = fit_util.cache_path("niqe_fit", ctx, fit_opts, FIT_VERSION, "mat")
        if not path.is_file():
            _fit_and_save(path, ctx, opts)
        m = scipy.io.loadmat(str(path))
        member = cls(m["mu_prisparam"], m["cov_prisparam"], int(opts.patch),
                     float(m["qtbench_lo"].item()), float(m["qtbench_hi"].item()))
        member.cache_file = str(path)
        member.differentiable = bool(opts.differentiable)
        return member.configure(cfg).to(ctx.device)


def _fit_and_save(path: Any, ctx: IQAContext, opts: Any) -> None:
    train = ctx.train
    mu, cov, n_kept = fit_pristine(train.source.clean, opts)
    rng = np.random.default_rng([ctx.seed, 0x61E])  # calibration crops; separate stream from training
    size = fit_util.crop_size(int(opts.calib_crop), train.source.inputs)
    clean, deg = fit_util.paired_crops(train, int(opts.calib_crops), size, rng)
    mu_t, cov_t = torch.from_numpy(mu), torch.from_numpy(cov)
    scores = niqe_scores(torch.cat([clean, deg]), mu_t, cov_t, int(opts.patch)).to(torch.float64)
    scores = scores[torch.isfinite(scores)]
    q = float(opts.calib_q)
    lo, hi = (float(v) for v in torch.quantile(scores, torch.tensor([q, 1.0 - q], dtype=torch.float64)))
    if not hi > lo:  # all calibration crops score alike: keep a usable scale and say so
        warnings.warn(f"niqe_fit: calibration NIQE quantiles coincide ({lo:.3f}); using hi = lo + 1", stacklevel=2)
        hi = lo + 1.0

    buf = io.BytesIO()
    # pyiqa's keys: the file also works as pyiqa.create_metric('niqe', pretrained_model_path=...)
    scipy.io.savemat(buf, {"mu_prisparam": mu[None, :], "cov_prisparam": cov, "qtbench_lo": lo, "qtbench_hi": hi,
                           "qtbench_patches": n_kept})
    atomic.write_bytes(path, buf.getvalue())
