"""Snow synthesis for the source (labelled) and target (shifted, "real-like") domains.

docs/data.md has no snow recipe and lists no real snow photo, so the model follows the Snow100K
formation model (Liu et al. 2018, DesnowNet): ``I = K·z + J'·(1 − z)``, where ``z`` is the snow mask
(flakes), ``K`` the flakes' colour, and ``J'`` the scene seen through a veil, ``J·t + A·(1 − t)`` (snowfall
scatters light like haze).

The source is "textbook" synthetic snow (one layer of small sharp flakes, faint veil). The target adds
what real snowfall photos have: flakes at several distances (large, defocused, translucent near flakes;
small far ones), wind streaks, a denser patchy veil, the cold grey-blue light of a snowy day, sensor noise
and JPEG. Every random number comes from the ``rng`` argument, in the order documented per function.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from qtbench.data import synth

__all__ = ["SourceSnowConfig", "TargetSnowConfig", "check", "snow_source", "snow_target"]


@dataclass
class SourceSnowConfig:
    """Labelled source snow: one layer of small flakes, a faint homogeneous veil."""

    # source: own choice: fraction of pixels seeding a flake (Snow100K-S-like light snow)
    density: list[float] = field(default_factory=lambda: [0.002, 0.005])
    # source: own choice: flake radius (Gaussian σ, px) at 96–256 px working sizes
    radius: list[float] = field(default_factory=lambda: [0.6, 1.2])
    # source: own choice: flake opacity (z at a flake's centre)
    opacity: list[float] = field(default_factory=lambda: [0.8, 1.0])
    # source: Liu et al. 2018 (Snow100K): flakes are near-white; own choice of range for K
    flake_colour: list[float] = field(default_factory=lambda: [0.9, 1.0])
    # source: own choice: falling direction, degrees from the vertical
    angle: list[float] = field(default_factory=lambda: [-30.0, 30.0])
    # source: own choice: motion length during the exposure, fraction of the short side
    motion: list[float] = field(default_factory=lambda: [0.0, 0.02])
    # source: docs/data.md §5.2 Rain "light haze veil", applied to snowfall; own choice of β (depth in [0.1, 1])
    veil_beta: list[float] = field(default_factory=lambda: [0.0, 0.3])
    # source: docs/data.md §5.2 Haze: A ∈ [0.7, 1.0]; docs/feasibility.md source haze uses [0.8, 1.0]
    airlight: list[float] = field(default_factory=lambda: [0.8, 1.0])


@dataclass
class TargetSnowConfig:
    """Shifted target snow: layered flakes (defocused near ones), wind, patchy veil, cold light, noise, JPEG."""

    # source: own choice: flakes at several distances (Snow100K mixes small/medium/large flake masks)
    layers: int = 3
    # source: own choice: seed density of the farthest (smallest) layer; nearer layers get fewer, larger flakes
    density: list[float] = field(default_factory=lambda: [0.003, 0.008])
    # source: own choice: radius range from the far layer to the near layer (px); near flakes are defocused
    radius: list[float] = field(default_factory=lambda: [0.6, 3.5])
    # source: own choice: translucent defocused flakes
    opacity: list[float] = field(default_factory=lambda: [0.5, 0.9])
    # source: own choice: greyish flakes under overcast light
    flake_colour: list[float] = field(default_factory=lambda: [0.8, 0.95])
    # source: own choice: wind blows snow sideways more than the source's fall angles
    angle: list[float] = field(default_factory=lambda: [-50.0, 50.0])
    # source: own choice: longer exposure streaks than the source
    motion: list[float] = field(default_factory=lambda: [0.01, 0.06])
    # source: own choice: denser than the source veil (heavy snowfall)
    veil_beta: list[float] = field(default_factory=lambda: [0.4, 1.2])
    # source: docs/feasibility.md Setup "Target degradation": β × exp(0.35 · smooth random field), as for haze
    nonhomogeneity: float = 0.35
    # source: docs/feasibility.md Setup "Target degradation": field σ = 32 px on 256-px short sides (= 1/8)
    field_sigma: float = 0.125
    # source: own choice: grey snow-cloud airlight
    airlight: list[float] = field(default_factory=lambda: [0.7, 0.95])
    # source: own choice: cold light of snowy days: per-channel (R, G, B) gain change per unit strength
    cold_tint: list[float] = field(default_factory=lambda: [-1.0, -0.3, 0.2])
    # source: own choice: strength of the cold tint
    tint_strength: list[float] = field(default_factory=lambda: [0.03, 0.12])
    # source: docs/feasibility.md Setup "Target degradation": Gaussian noise σ ∈ [0.01, 0.03]
    noise_sigma: list[float] = field(default_factory=lambda: [0.01, 0.03])
    # source: docs/feasibility.md Setup "Target degradation": signal-dependent noise 0.02·√I
    signal_noise: float = 0.02
    # source: docs/feasibility.md Setup "Target degradation": JPEG q ∈ [40, 70] (PIL)
    jpeg_quality: list[int] = field(default_factory=lambda: [40, 70])


_RULES = {
    "density": ("range", 0.0, 1.0), "radius": ("range", 0.0), "opacity": ("range", 0.0, 1.0),
    "flake_colour": ("range", 0.0, 1.0), "angle": ("range", -90.0, 90.0), "motion": ("range", 0.0, 1.0),
    "veil_beta": ("range", 0.0), "airlight": ("range", 0.0, 1.0), "layers": ("min", 1),
    "nonhomogeneity": ("min", 0.0), "field_sigma": ("min", 1e-6), "cold_tint": ("triple",),
    "tint_strength": ("range", 0.0, 1.0), "noise_sigma": ("range", 0.0), "signal_noise": ("min", 0.0),
    "jpeg_quality": ("range", 1, 100),
}


def check(cfg: SourceSnowConfig | TargetSnowConfig) -> None:
    """Raise :class:`~qtbench.errors.UserError` (one line) if a snow config holds impossible values."""
    synth.check_fields("snow", cfg, _RULES)


def _flakes(rng, h, w, density, radius, motion_px, angle) -> np.ndarray:
    mask = synth.particles(rng, h, w, density, radius)
    if motion_px >= 1.5:
        k = synth.line_kernel(motion_px, angle)
        mask = np.clip(cv2.filter2D(mask, -1, k / k.max(), borderType=cv2.BORDER_REFLECT), 0.0, 1.0)
    return mask


def snow_source(clean: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                cfg: SourceSnowConfig | None = None) -> np.ndarray:
    """Add one layer of small flakes over a faint homogeneous veil.

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large).
        rng: draws, in order: density, radius, opacity, flake colour, angle, motion, the flake mask,
            veil β, A.
        cfg: ranges; ``SourceSnowConfig()`` if omitted.

    Returns:
        HxWx3 float32 snowy image in [0, 1].
    """
    cfg = cfg or SourceSnowConfig()
    h, w = depth.shape
    density, radius = synth.uniform(rng, cfg.density), synth.uniform(rng, cfg.radius)
    opacity, colour = synth.uniform(rng, cfg.opacity), synth.uniform(rng, cfg.flake_colour)
    angle, motion = synth.uniform(rng, cfg.angle), synth.uniform(rng, cfg.motion) * min(h, w)
    z = (opacity * _flakes(rng, h, w, density, radius, motion, angle))[..., None]
    t = np.exp(-synth.uniform(rng, cfg.veil_beta) * depth.astype(np.float32))[..., None]
    a = synth.uniform(rng, cfg.airlight)
    scene = clean * t + a * (1.0 - t)
    return np.clip(colour * z + scene * (1.0 - z), 0.0, 1.0).astype(np.float32)


def snow_target(clean: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                cfg: TargetSnowConfig | None = None) -> np.ndarray:
    """Add shifted, "real-like" snow (see the module docstring).

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large).
        rng: draws, in order: angle, motion, flake colour; per layer (far to near): density, opacity,
            the flake mask; then veil β, density field, A, tint strength, noise level, noise, JPEG quality.
        cfg: the shift; ``TargetSnowConfig()`` if omitted.

    Returns:
        HxWx3 float32 snowy image in [0, 1].
    """
    cfg = cfg or TargetSnowConfig()
    h, w = depth.shape
    angle, motion = synth.uniform(rng, cfg.angle), synth.uniform(rng, cfg.motion) * min(h, w)
    colour = synth.uniform(rng, cfg.flake_colour)
    r_lo, r_hi = cfg.radius
    n = int(cfg.layers)
    z = np.zeros((h, w), np.float32)
    for layer in range(n):
        near = layer / max(1, n - 1)  # 0 = farthest layer
        radius = r_lo * (r_hi / max(r_lo, 1e-6)) ** near  # geometric steps from small to large flakes
        # fewer near flakes: equal area coverage per layer, so density falls with the square of the radius
        density = synth.uniform(rng, cfg.density) * (r_lo / max(radius, 1e-6)) ** 2
        opacity = synth.uniform(rng, cfg.opacity)
        layer_z = opacity * _flakes(rng, h, w, density, radius, motion * (0.5 + near), angle)
        z = 1.0 - (1.0 - z) * (1.0 - layer_z)  # flakes in front of flakes: alpha "over"
    beta = synth.uniform(rng, cfg.veil_beta) * np.exp(cfg.nonhomogeneity * synth.smooth_field(rng, h, w, cfg.field_sigma))
    t = np.exp(-beta * depth.astype(np.float32))[..., None]
    a = synth.uniform(rng, cfg.airlight)
    gain = 1.0 + synth.uniform(rng, cfg.tint_strength) * np.asarray(cfg.cold_tint, np.float32)
    scene = (clean * t + a * (1.0 - t)) * gain
    snowy = np.clip(colour * z[..., None] + scene * (1.0 - z[..., None]), 0.0, 1.0)
    snowy = synth.sensor_noise(snowy, rng, synth.uniform(rng, cfg.noise_sigma), cfg.signal_noise)
    lo_q, hi_q = cfg.jpeg_quality
    return synth.jpeg(snowy, int(rng.integers(int(lo_q), int(hi_q) + 1)))
