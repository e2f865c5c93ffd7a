"""A depth proxy for clean photographs, used to synthesise haze.

No monocular-depth weights can be loaded offline (docs/data.md §6), and the dark-channel prior is
useless on clean images (it gives t ≈ 1), so depth is a blend of two cheap priors
(docs/feasibility.md, "Setup: Depth proxy"):

    d = d_min + (1 - d_min) · norm(w_v · vertical + (1 - w_v) · CAP)

* ``vertical``: 1 at the top row, 0 at the bottom (outdoor photos: the sky and the horizon are far);
* ``CAP``: the colour-attenuation prior of Zhu, Mai & Shao (2015), ``c0 + cv·V + cs·S`` in HSV
  (bright, desaturated regions are far), min-filtered, Gaussian-blurred and normalised by its
  percentiles so that a few specular pixels do not set the scale.

Larger values are farther away; the result lies in ``[d_min, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from qtbench.errors import UserError

__all__ = ["DepthConfig", "check", "depth_proxy"]


@dataclass
class DepthConfig:
    """Constants of the depth proxy (an OmegaConf structured-config schema: plain types only)."""

    # source: docs/feasibility.md Setup "Depth proxy": d = 0.1 + 0.9·norm(...) (nothing is at zero distance)
    d_min: float = 0.1
    # source: docs/feasibility.md Setup "Depth proxy": 0.5·vertical prior + 0.5·CAP
    vertical_weight: float = 0.5
    # source: own choice (docs/data.md §6 suggests a random power p); 1.0 = the linear ramp of docs/feasibility.md
    vertical_power: float = 1.0
    # source: docs/feasibility.md Setup "Depth proxy": 7×7 min-filter (Zhu et al. use 15×15 on larger images)
    min_filter: int = 7
    # source: docs/feasibility.md Setup "Depth proxy": Gaussian σ = 6 px (stands in for Zhu et al.'s guided filter)
    blur_sigma: float = 6.0
    # source: docs/feasibility.md Setup "Depth proxy": CAP normalised by its 1–99 percentiles
    percentiles: list[float] = field(default_factory=lambda: [1.0, 99.0])
    # source: Zhu, Mai & Shao 2015, eq. (8) learnt θ0 (docs/data.md §6)
    cap_bias: float = 0.121779
    # source: Zhu, Mai & Shao 2015, eq. (8) learnt θ1 (weight of HSV value V)
    cap_value: float = 0.959710
    # source: Zhu, Mai & Shao 2015, eq. (8) learnt θ2 (weight of HSV saturation S)
    cap_saturation: float = -0.780245


def check(cfg: DepthConfig) -> None:
    """Raise :class:`UserError` with a one-line message if ``cfg`` holds impossible values.

    Args:
        cfg: a :class:`DepthConfig` or an OmegaConf node with the same fields.
    """
    if not 0.0 <= cfg.d_min < 1.0:
        raise UserError(f"depth.d_min must be in [0, 1), got {cfg.d_min}")
    if not 0.0 <= cfg.vertical_weight <= 1.0:
        raise UserError(
            f"depth.vertical_weight must be in [0, 1], got {cfg.vertical_weight}"
        )
    if cfg.vertical_power <= 0:
        raise UserError(f"depth.vertical_power must be > 0, got {cfg.vertical_power}")
    if int(cfg.min_filter) < 1:
        raise UserError(
            f"depth.min_filter must be a window size >= 1, got {cfg.min_filter}"
        )
    if cfg.blur_sigma < 0:
        raise UserError(
            f"depth.blur_sigma must be >= 0 (0 = no blur), got {cfg.blur_sigma}"
        )
    pct = list(cfg.percentiles)
    if len(pct) != 2 or not 0.0 <= pct[0] < pct[1] <= 100.0:
        raise UserError(
            f"depth.percentiles must be [lo, hi] with 0 <= lo < hi <= 100, got {pct}"
        )


def _cap(img: np.ndarray, cfg: DepthConfig) -> np.ndarray:
    """Colour-attenuation depth in [0, 1] (far = 1), smoothed and percentile-normalised."""
    v = img.max(axis=2)
    # HSV saturation (max - min) / max; black pixels have no hue, so S = 0 there.
    s = np.where(v > 1e-6, (v - img.min(axis=2)) / np.maximum(v, 1e-6), 0.0)
    cap = (cfg.cap_bias + cfg.cap_value * v + cfg.cap_saturation * s).astype(np.float32)
    k = int(cfg.min_filter)
    if k > 1:
        # The min-filter removes near-field white objects (the reason Zhu et al. use it).
        cap = cv2.erode(cap, np.ones((k, k), np.uint8), borderType=cv2.BORDER_REFLECT)
    if cfg.blur_sigma > 0:
        cap = cv2.GaussianBlur(
            cap, (0, 0), float(cfg.blur_sigma), borderType=cv2.BORDER_REFLECT
        )
    lo, hi = np.percentile(cap, list(cfg.percentiles))
    if hi - lo < 1e-6:
        # A flat image carries no colour cue: leave only the vertical prior to vary.
        return np.full_like(cap, 0.5)
    return np.clip((cap - lo) / (hi - lo), 0.0, 1.0)


def depth_proxy(img: np.ndarray, cfg: DepthConfig | None = None) -> np.ndarray:
    """Estimate a relative depth map of a clean RGB photo.

    Args:
        img: HxWx3 float32 RGB image in [0, 1].
        cfg: constants of the proxy; ``DepthConfig()`` if omitted.

    Returns:
        HxW float32 depth in ``[cfg.d_min, 1]``; larger is farther, the top rows are far.
    """
    cfg = cfg or DepthConfig()
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"depth_proxy expects an HxWx3 RGB image, got shape {img.shape}"
        )
    img = np.asarray(img, dtype=np.float32)
    h, w = img.shape[:2]
    rows = np.linspace(1.0, 0.0, h, dtype=np.float32) ** cfg.vertical_power
    vertical = np.broadcast_to(rows[:, None], (h, w))
    mix = cfg.vertical_weight * vertical + (1.0 - cfg.vertical_weight) * _cap(img, cfg)
    lo, hi = float(mix.min()), float(mix.max())
    norm = (mix - lo) / (hi - lo) if hi - lo > 1e-6 else np.ones_like(mix)
    return (cfg.d_min + (1.0 - cfg.d_min) * norm).astype(np.float32)
