"""Haze synthesis for the source (labelled) and target (shifted, "real-like") domains.

Both follow the atmospheric scattering model ``I = J·t + A·(1 - t)``, ``t = exp(-β·d)``
(docs/data.md §5.2). The target differs from the source the way real haze differs from
textbook synthetic haze (docs/feasibility.md, "Setup"): denser, spatially non-homogeneous,
coloured airlight, sensor noise and JPEG blocks.

Every random number comes from the ``rng`` argument, drawn in a fixed order, so a seed fixes the
output exactly. The configs are OmegaConf structured-config schemas, so they use lists, not
tuples, and are validated by :func:`check` (OmegaConf does not call ``__post_init__``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qtbench.data import synth
from qtbench.errors import UserError

__all__ = [
    "SourceHazeConfig",
    "TargetHazeConfig",
    "check",
    "haze_source",
    "haze_target",
    "target_preset",
]


@dataclass
class SourceHazeConfig:
    """Labelled source haze: homogeneous, grey airlight, no noise."""

    # source: docs/feasibility.md Setup "Source degradation": β ∈ [0.6, 1.5] (depth in [0.1, 1])
    beta: list[float] = field(default_factory=lambda: [0.6, 1.5])
    # source: docs/feasibility.md Setup "Source degradation": grey A ∈ [0.8, 1.0]
    airlight: list[float] = field(default_factory=lambda: [0.8, 1.0])


@dataclass
class TargetHazeConfig:
    """Shifted target haze; the defaults are the "default" shift of docs/feasibility.md."""

    # source: docs/feasibility.md Setup "Target degradation": β ∈ [1.2, 2.5]
    beta: list[float] = field(default_factory=lambda: [1.2, 2.5])
    # source: docs/feasibility.md Setup "Target degradation": β × exp(0.35 · smooth random field)
    nonhomogeneity: float = 0.35
    # source: docs/feasibility.md Setup "Target degradation": field σ = 32 px on 256-px short sides (= 1/8)
    field_sigma: float = 0.125
    # source: docs/feasibility.md Setup "Target degradation": a ∈ [0.8, 1]
    airlight: list[float] = field(default_factory=lambda: [0.8, 1.0])
    # source: docs/feasibility.md Setup "Target degradation": tint of strength 0.08–0.2
    tint_strength: list[float] = field(default_factory=lambda: [0.08, 0.2])
    # source: own choice; docs/feasibility.md says only "bluish or yellowish"
    bluish_prob: float = 0.5
    # source: own choice: per-channel RGB change of A per unit tint strength (blue-grey sky haze)
    bluish_tint: list[float] = field(default_factory=lambda: [-1.0, -0.4, 0.0])
    # source: own choice: per-channel RGB change of A per unit tint strength (yellow smog / dust)
    yellowish_tint: list[float] = field(default_factory=lambda: [0.0, -0.2, -1.0])
    # source: docs/feasibility.md Setup "Target degradation": Gaussian noise σ ∈ [0.01, 0.03]
    noise_sigma: list[float] = field(default_factory=lambda: [0.01, 0.03])
    # source: docs/feasibility.md Setup "Target degradation": signal-dependent noise 0.02·√I
    signal_noise: float = 0.02
    # source: docs/feasibility.md Setup "Target degradation": JPEG q ∈ [40, 70] (PIL)
    jpeg_quality: list[int] = field(default_factory=lambda: [40, 70])


def target_preset(name: str) -> TargetHazeConfig:
    """Return a named target shift: ``"default"`` or ``"strong"`` (docs/feasibility.md, "Setup").

    Args:
        name: the preset's name.
    """
    if name == "default":
        return TargetHazeConfig()
    if name == "strong":
        # source: docs/feasibility.md Setup "Strong" shift
        return TargetHazeConfig(
            beta=[1.8, 3.0],
            nonhomogeneity=0.5,
            tint_strength=[0.15, 0.3],
            noise_sigma=[0.02, 0.04],
            jpeg_quality=[30, 50],
        )
    raise UserError(
        f"unknown haze target preset {name!r}; choose 'default' or 'strong'"
    )


def _check_range(name: str, lo_hi, lo_min: float | None = None, hi_max: float | None = None) -> None:
    synth.check_range("haze", name, lo_hi, lo_min, hi_max)


def check(cfg: SourceHazeConfig | TargetHazeConfig) -> None:
    """Raise :class:`UserError` with a one-line message if a haze config holds impossible values.

    Args:
        cfg: a source or target config, or an OmegaConf node with the same fields.
    """
    _check_range("beta", cfg.beta, lo_min=0.0)
    _check_range("airlight", cfg.airlight, lo_min=0.0, hi_max=1.0)
    if not hasattr(cfg, "jpeg_quality"):
        return  # a source config has nothing more
    if cfg.nonhomogeneity < 0:
        raise UserError(f"haze.nonhomogeneity must be >= 0, got {cfg.nonhomogeneity}")
    if cfg.field_sigma <= 0:
        raise UserError(
            f"haze.field_sigma must be > 0 (a fraction of the short side), got {cfg.field_sigma}"
        )
    _check_range("tint_strength", cfg.tint_strength, lo_min=0.0, hi_max=1.0)
    if not 0.0 <= cfg.bluish_prob <= 1.0:
        raise UserError(f"haze.bluish_prob must be in [0, 1], got {cfg.bluish_prob}")
    for name in ("bluish_tint", "yellowish_tint"):
        synth.check_triple("haze", name, getattr(cfg, name))
    _check_range("noise_sigma", cfg.noise_sigma, lo_min=0.0)
    if cfg.signal_noise < 0:
        raise UserError(f"haze.signal_noise must be >= 0, got {cfg.signal_noise}")
    _check_range("jpeg_quality", cfg.jpeg_quality, lo_min=1, hi_max=100)


def _check_inputs(clean: np.ndarray, depth: np.ndarray) -> None:
    if clean.ndim != 3 or clean.shape[2] != 3 or depth.shape != clean.shape[:2]:
        raise ValueError(
            f"expected an HxWx3 image and an HxW depth, got {clean.shape} and {depth.shape}"
        )


_uniform = synth.uniform


def haze_source(
    clean: np.ndarray,
    depth: np.ndarray,
    rng: np.random.Generator,
    cfg: SourceHazeConfig | None = None,
) -> np.ndarray:
    """Add homogeneous grey haze, the labelled source degradation.

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large), e.g. from :func:`qtbench.data.depth.depth_proxy`.
        rng: the only source of randomness (β, then A).
        cfg: ranges to draw from; ``SourceHazeConfig()`` if omitted.

    Returns:
        HxWx3 float32 hazy image in [0, 1].
    """
    cfg = cfg or SourceHazeConfig()
    _check_inputs(clean, depth)
    beta = _uniform(rng, cfg.beta)
    airlight = _uniform(rng, cfg.airlight)
    t = np.exp(-beta * depth.astype(np.float32))[..., None]
    out = clean * t + airlight * (1.0 - t)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


# shared with the other degradation models (qtbench.data.synth); names kept for callers of this module
_smooth_field = synth.smooth_field
_jpeg = synth.jpeg


def haze_target(
    clean: np.ndarray,
    depth: np.ndarray,
    rng: np.random.Generator,
    cfg: TargetHazeConfig | None = None,
) -> np.ndarray:
    """Add shifted, "real-like" haze: non-homogeneous, tinted, noisy and JPEG-compressed.

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large).
        rng: the only source of randomness; draws, in order: β, the density field, a, the tint
            direction and strength, the noise level and the noise, the JPEG quality.
        cfg: the shift; ``TargetHazeConfig()`` (docs/feasibility.md "default" shift) if omitted.

    Returns:
        HxWx3 float32 hazy image in [0, 1] (multiples of 1/255 after the JPEG round trip).
    """
    cfg = cfg or TargetHazeConfig()
    _check_inputs(clean, depth)
    h, w = depth.shape
    beta = _uniform(rng, cfg.beta)
    # Real haze is patchy: the density varies smoothly in space around the drawn β.
    density = _smooth_field(rng, h, w, cfg.field_sigma)
    beta_map = beta * np.exp(cfg.nonhomogeneity * density)
    t = np.exp(-beta_map * depth.astype(np.float32))[..., None]

    a = _uniform(rng, cfg.airlight)
    direction = (
        cfg.bluish_tint if rng.random() < cfg.bluish_prob else cfg.yellowish_tint
    )
    strength = _uniform(rng, cfg.tint_strength)
    airlight = np.clip(
        a * (1.0 + strength * np.asarray(direction, np.float32)), 0.0, 1.0
    )
    hazy = np.clip(clean * t + airlight * (1.0 - t), 0.0, 1.0)

    # Sensor noise: a read-noise floor plus shot noise whose variance grows with the signal
    # (independent Gaussians, so the variances add).
    sigma = _uniform(rng, cfg.noise_sigma)
    hazy = synth.sensor_noise(hazy, rng, sigma, cfg.signal_noise)

    lo_q, hi_q = cfg.jpeg_quality
    quality = int(rng.integers(int(lo_q), int(hi_q) + 1))
    return _jpeg(hazy, quality)
