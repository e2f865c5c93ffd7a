"""Underwater synthesis for the source (labelled) and target (shifted, "real-like") domains.

Model (docs/data.md §5.2, simplified Jaffe–McGlamery): per channel c,
``I_c = J_c·exp(−β_c·(D + r·d)) + B_c·(1 − exp(−β_c·r·d))``, where ``d`` is the relative depth proxy
scaled to a range ``r``, and ``D`` a depth-independent path (the light's way down from the surface to the
scene) that only dims the direct signal. Red is absorbed fastest (``β_r > β_g ≳ β_b``) and the veiling
light ``B`` is blue-green.

The source uses docs/data.md's clear-ocean ranges. The target is another water type: greener, turbid coastal
water, with a backscatter coefficient that differs from the attenuation one (Akkaynak & Treibitz 2018,
the "revised" model), patchy turbidity, forward-scattering blur, marine snow, an artificial light's
falloff, sensor noise and JPEG. Every random number comes from ``rng``, in the order documented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from qtbench.data import synth

__all__ = ["SourceWaterConfig", "TargetWaterConfig", "check", "water_source", "water_target"]


@dataclass
class SourceWaterConfig:
    """Labelled source water: clear blue ocean, docs/data.md §5.2 ranges, no noise."""

    # source: docs/data.md §5.2 Underwater: β ≈ (0.6–1.2, 0.15–0.4, 0.05–0.3) per unit depth
    beta_r: list[float] = field(default_factory=lambda: [0.6, 1.2])
    # source: docs/data.md §5.2 Underwater
    beta_g: list[float] = field(default_factory=lambda: [0.15, 0.4])
    # source: docs/data.md §5.2 Underwater
    beta_b: list[float] = field(default_factory=lambda: [0.05, 0.3])
    # source: docs/data.md §5.2 Underwater: B blue-green, e.g. (0.0–0.15, 0.3–0.6, 0.35–0.7)
    background_r: list[float] = field(default_factory=lambda: [0.0, 0.15])
    # source: docs/data.md §5.2 Underwater
    background_g: list[float] = field(default_factory=lambda: [0.3, 0.6])
    # source: docs/data.md §5.2 Underwater
    background_b: list[float] = field(default_factory=lambda: [0.35, 0.7])
    # source: own choice: scene-to-camera range in β's units, multiplying the depth proxy (in [0.1, 1])
    range_scale: list[float] = field(default_factory=lambda: [1.0, 2.0])
    # source: docs/data.md §5.2 Underwater "plus a depth-independent scene-to-camera range term"; own choice of range
    water_depth: list[float] = field(default_factory=lambda: [0.0, 1.0])


@dataclass
class TargetWaterConfig:
    """Shifted target water: green turbid coastal water with the artefacts of real underwater photos."""

    # source: own choice: turbid coastal water, stronger attenuation than the source (Jerlov coastal types)
    beta_r: list[float] = field(default_factory=lambda: [0.8, 1.6])
    # source: own choice: green water transmits green best, so β_g < β_b here (unlike the source)
    beta_g: list[float] = field(default_factory=lambda: [0.2, 0.5])
    # source: own choice
    beta_b: list[float] = field(default_factory=lambda: [0.3, 0.7])
    # source: own choice: greenish veiling light
    background_r: list[float] = field(default_factory=lambda: [0.0, 0.12])
    # source: own choice
    background_g: list[float] = field(default_factory=lambda: [0.4, 0.7])
    # source: own choice
    background_b: list[float] = field(default_factory=lambda: [0.25, 0.55])
    # source: Akkaynak & Treibitz 2018: backscatter coefficient ≠ attenuation coefficient; ratio range own choice
    backscatter_ratio: list[float] = field(default_factory=lambda: [0.6, 1.0])
    # source: own choice: as the source
    range_scale: list[float] = field(default_factory=lambda: [1.0, 2.0])
    # source: own choice: deeper scenes than the source
    water_depth: list[float] = field(default_factory=lambda: [0.3, 1.2])
    # source: docs/feasibility.md Setup "Target degradation" (non-homogeneous β), applied to turbidity
    nonhomogeneity: float = 0.3
    # source: docs/feasibility.md Setup "Target degradation": field σ = 1/8 of the short side
    field_sigma: float = 0.125
    # source: own choice: forward scattering as a Gaussian blur of the direct signal, px
    forward_blur: list[float] = field(default_factory=lambda: [0.5, 1.5])
    # source: own choice: marine snow (suspended particles lit by the camera), seed density
    marine_snow: list[float] = field(default_factory=lambda: [0.0, 0.002])
    # source: own choice: brightness of marine-snow particles
    marine_snow_opacity: list[float] = field(default_factory=lambda: [0.3, 0.7])
    # source: own choice: probability that an artificial light lights the scene (centre-bright falloff)
    light_prob: float = 0.5
    # source: own choice: illumination falloff at the image corners under an artificial light
    light_falloff: list[float] = field(default_factory=lambda: [0.3, 0.7])
    # source: docs/feasibility.md Setup "Target degradation": Gaussian noise σ ∈ [0.01, 0.03]
    noise_sigma: list[float] = field(default_factory=lambda: [0.01, 0.03])
    # source: docs/feasibility.md Setup "Target degradation": signal-dependent noise 0.02·√I
    signal_noise: float = 0.02
    # source: docs/feasibility.md Setup "Target degradation": JPEG q ∈ [40, 70] (PIL)
    jpeg_quality: list[int] = field(default_factory=lambda: [40, 70])


_RULES = {
    **{f"beta_{c}": ("range", 0.0) for c in "rgb"},
    **{f"background_{c}": ("range", 0.0, 1.0) for c in "rgb"},
    "range_scale": ("range", 0.0), "water_depth": ("range", 0.0), "backscatter_ratio": ("range", 0.0),
    "nonhomogeneity": ("min", 0.0), "field_sigma": ("min", 1e-6), "forward_blur": ("range", 0.0),
    "marine_snow": ("range", 0.0, 1.0), "marine_snow_opacity": ("range", 0.0, 1.0), "light_prob": ("unit",),
    "light_falloff": ("range", 0.0, 1.0), "noise_sigma": ("range", 0.0), "signal_noise": ("min", 0.0),
    "jpeg_quality": ("range", 1, 100),
}


def check(cfg: SourceWaterConfig | TargetWaterConfig) -> None:
    """Raise :class:`~qtbench.errors.UserError` (one line) if an underwater config holds impossible values."""
    synth.check_fields("underwater", cfg, _RULES)


def _water(rng, cfg) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Draws β (R, G, B), B (R, G, B), the range scale and the water depth, in that order."""
    beta = np.array([synth.uniform(rng, getattr(cfg, f"beta_{c}")) for c in "rgb"], np.float32)
    back = np.array([synth.uniform(rng, getattr(cfg, f"background_{c}")) for c in "rgb"], np.float32)
    return beta, back, synth.uniform(rng, cfg.range_scale), synth.uniform(rng, cfg.water_depth)


def water_source(clean: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                 cfg: SourceWaterConfig | None = None) -> np.ndarray:
    """Wavelength-dependent attenuation plus blue-green backscatter (docs/data.md §5.2).

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large).
        rng: draws, in order: β_r, β_g, β_b, B_r, B_g, B_b, range scale, water depth.
        cfg: ranges; ``SourceWaterConfig()`` if omitted.

    Returns:
        HxWx3 float32 underwater image in [0, 1].
    """
    cfg = cfg or SourceWaterConfig()
    beta, back, scale, path = _water(rng, cfg)
    dist = scale * depth.astype(np.float32)[..., None]
    direct = clean * np.exp(-beta * (path + dist))
    return np.clip(direct + back * (1.0 - np.exp(-beta * dist)), 0.0, 1.0).astype(np.float32)


def water_target(clean: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                 cfg: TargetWaterConfig | None = None) -> np.ndarray:
    """Shifted, "real-like" underwater image (see the module docstring).

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large).
        rng: draws, in order: β, B, range scale, water depth (as the source), backscatter ratio,
            turbidity field, forward blur, artificial light (yes/no, falloff), marine snow (density,
            opacity, mask), noise level, noise, JPEG quality.
        cfg: the shift; ``TargetWaterConfig()`` if omitted.

    Returns:
        HxWx3 float32 underwater image in [0, 1].
    """
    cfg = cfg or TargetWaterConfig()
    h, w = depth.shape
    beta, back, scale, path = _water(rng, cfg)
    beta_b = beta * synth.uniform(rng, cfg.backscatter_ratio)
    turbid = np.exp(cfg.nonhomogeneity * synth.smooth_field(rng, h, w, cfg.field_sigma))[..., None]
    dist = scale * depth.astype(np.float32)[..., None] * turbid
    sigma = synth.uniform(rng, cfg.forward_blur)
    scene = cv2.GaussianBlur(clean, (0, 0), sigma, borderType=cv2.BORDER_REFLECT) if sigma > 0 else clean
    lit = rng.random() < cfg.light_prob
    falloff = synth.uniform(rng, cfg.light_falloff)
    if lit:  # a lamp on the camera: bright centre, dark corners (radial falloff, 1 at the centre)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((yy - (h - 1) / 2) / (h / 2)) ** 2 + ((xx - (w - 1) / 2) / (w / 2)) ** 2
        scene = scene * (1.0 - falloff * np.clip(r2 / 2.0, 0, 1))[..., None]
    img = scene * np.exp(-beta * (path + dist)) + back * (1.0 - np.exp(-beta_b * dist))
    density, opacity = synth.uniform(rng, cfg.marine_snow), synth.uniform(rng, cfg.marine_snow_opacity)
    specks = opacity * synth.particles(rng, h, w, density, 0.7)[..., None]
    img = np.clip(img + specks * (1.0 - img), 0.0, 1.0)  # lit particles brighten towards white
    img = synth.sensor_noise(img, rng, synth.uniform(rng, cfg.noise_sigma), cfg.signal_noise)
    lo_q, hi_q = cfg.jpeg_quality
    return synth.jpeg(img, int(rng.integers(int(lo_q), int(hi_q) + 1)))
