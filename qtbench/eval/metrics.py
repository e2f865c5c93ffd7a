"""Image-quality metrics used to score restorations (docs/architecture.md §2, "Metrics").

Full-reference metrics (PSNR, SSIM) are scored on target-test against the hidden clean images; they are
implemented here in torch, batched, so evaluation needs no per-image Python loop. SSIM follows Wang et al.
2004 exactly as ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)`` computes it, so numbers are comparable with published tables.

No-reference metrics go through pyiqa (:class:`NRMetric`, via :mod:`qtbench.iqa.pyiqa_adapter`), with its
metadata (``lower_better``, ``score_range``) carried by the object, as pyiqa's own ``create_metric`` does.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from qtbench.iqa import pyiqa_adapter

PSNR_CAP_DB = 100.0  # identical images have infinite PSNR; a finite cap keeps means and CSVs usable

# SSIM constants of Wang et al. 2004 (and skimage's gaussian_weights=True defaults).
_SSIM_SIGMA = 1.5
_SSIM_WIN = 11  # skimage: 2 * int(truncate * sigma + 0.5) + 1 with truncate = 3.5
_SSIM_K1, _SSIM_K2 = 0.01, 0.03


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    if pred.dim() != 4:
        raise ValueError(f"expected [B,C,H,W] tensors, got shape {tuple(pred.shape)}")


def psnr(pred: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio per image, on RGB.

    Args:
        pred: restored images ``[B,3,H,W]``; clamped to ``[0, data_range]`` (the image one would save).
        target: reference images, same shape, in ``[0, data_range]``.
        data_range: peak value of the pixel range.

    Returns:
        ``[B]`` PSNR in dB (float32), capped at 100 dB (identical images).
    """
    _check_pair(pred, target)
    # float64 so that a constant offset of 0.1 gives 20 dB to ~1e-12, not to float32 rounding
    p = pred.detach().to(torch.float64).clamp(0.0, data_range)
    t = target.detach().to(torch.float64)
    mse = (p - t).pow(2).flatten(1).mean(dim=1)
    out = 10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-300))
    return out.clamp(max=PSNR_CAP_DB).to(torch.float32)


@functools.lru_cache(maxsize=8)
def _gauss_1d(size: int, sigma: float) -> Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def _filter(x: Tensor, g: Tensor) -> Tensor:
    """Separable Gaussian filter, per channel, 'valid' (no padding)."""
    c = x.shape[1]
    gh = g.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    gv = g.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    return F.conv2d(F.conv2d(x, gh, groups=c), gv, groups=c)


def ssim(pred: Tensor, target: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean structural similarity per image (Wang et al. 2004), per channel and averaged.

    Gaussian window 11x11, sigma 1.5, K1 = 0.01, K2 = 0.03, population (co)variances, valid convolution
    (the border that skimage computes with reflection and then crops is never computed here).

    Args:
        pred: restored images ``[B,C,H,W]`` with H, W >= 11; clamped to ``[0, data_range]`` like :func:`psnr`.
        target: reference images, same shape.
        data_range: peak value of the pixel range.

    Returns:
        ``[B]`` mean SSIM (float32).
    """
    _check_pair(pred, target)
    if min(pred.shape[-2:]) < _SSIM_WIN:
        raise ValueError(f"SSIM needs images of at least {_SSIM_WIN}x{_SSIM_WIN}, got {tuple(pred.shape[-2:])}")
    # float64: E[x^2] - E[x]^2 cancels badly in float32 on flat regions; contiguous (NCHW): images converted
    # from HxWx3 arrays arrive channels-last, where the grouped filter below runs ~4x slower on a CPU
    x = pred.detach().to(torch.float64).clamp(0.0, data_range).contiguous()
    y = target.detach().to(torch.float64).contiguous()
    g = _gauss_1d(_SSIM_WIN, _SSIM_SIGMA).to(x.device)
    c1 = (_SSIM_K1 * data_range) ** 2
    c2 = (_SSIM_K2 * data_range) ** 2
    # one filter call over the five stacked moments instead of five calls
    c = x.shape[1]
    moments = _filter(torch.cat([x, y, x * x, y * y, x * y], dim=1), g)
    mx, my, mxx, myy, mxy = moments.split(c, dim=1)
    vx = mxx - mx * mx
    vy = myy - my * my
    cxy = mxy - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    # all channels have the same size, so the mean over pixels and channels = mean of per-channel means
    return s.flatten(1).mean(dim=1).to(torch.float32)


class NRMetric:
    """A no-reference IQA metric from pyiqa, built on first use and called on whole batches.

    Construction is cheap (it only reads pyiqa's metadata and validates the name), so configs and
    registries can list metrics without building networks; the pyiqa model is created by
    :meth:`build` or the first call. Metadata and construction are :mod:`qtbench.iqa.pyiqa_adapter`'s.

    Args:
        name: a pyiqa NR metric name, e.g. ``"piqe"`` or ``"entropy"`` (both work offline); case-insensitive.
        device: torch device the metric runs on.

    Attributes:
        name: the metric name.
        lower_better: True when a lower score means a better image (pyiqa metadata).
        score_range: pyiqa's score range string, e.g. ``"0, 100"`` (``"~0, ~100"`` when approximate).
    """

    def __init__(self, name: str, device: str = "cpu") -> None:
        """Validate ``name`` and check the files of index-sourced models (UserError when unknown or missing)."""
        key = name.lower()
        meta = pyiqa_adapter.info(key)
        # published models converted from the package index: a missing file fails now, with the fetch command
        pyiqa_adapter.check_weights(key, offline=False)
        self.name = key
        self.device = str(device)
        self.lower_better: bool = meta.lower_better
        self.score_range: str = meta.score_range
        self._model: Any = None

    def __repr__(self) -> str:
        return f"NRMetric({self.name!r}, device={self.device!r}, lower_better={self.lower_better})"

    def build(self) -> NRMetric:
        """Create the pyiqa model now (idempotent), to fail early rather than at the first batch.

        Files outside the manifest may be downloaded, with a socket timeout.

        Raises:
            UserError: the metric's weights are not cached and cannot be downloaded, or an optional
                package it needs is missing.
        """
        if self._model is None:
            self._model = pyiqa_adapter.create(self.name, self.device, offline=False)
        return self

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        """Score a batch.

        Args:
            images: ``[B,3,H,W]`` in ``[0,1]`` (clamped), on any device.

        Returns:
            ``[B]`` raw scores (float32, not normalised, no grad), on the device of ``images``.
        """
        if images.dim() != 4:
            raise ValueError(f"expected [B,3,H,W] images, got shape {tuple(images.shape)}")
        self.build()
        x = images.detach().to(self.device, torch.float32).clamp(0.0, 1.0)
        # pyiqa's InferenceModel sets its own cuDNN flags, so pyiqa_adapter.scoring() cannot reach inside it;
        # evaluation metrics run on the CPU (nr_metric's callers), where TF32 does not exist
        scores = self._model(x)
        return scores.reshape(-1).to(images.device, torch.float32)


def nr_metric(name: str, device: str = "cpu") -> NRMetric:
    """Cached :class:`NRMetric` factory: one instance (and one pyiqa model) per name and device.

    Args:
        name: pyiqa NR metric name (case-insensitive).
        device: torch device.
    """
    return _nr_metric_cached(name.lower(), str(device))


def checked_nr_names(text: str | None, default: list[str]) -> list[str]:
    """``--nr-metrics a,b`` -> ``["a", "b"]`` (``default`` when not given), each built now, so an unknown or
    full-reference name fails before any image is restored."""
    names = [n.strip() for n in text.split(",") if n.strip()] if text else list(default)
    for n in names:
        nr_metric(n)
    return names


@functools.cache
def _nr_metric_cached(name: str, device: str) -> NRMetric:
    return NRMetric(name, device=device)
