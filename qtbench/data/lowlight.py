"""Low-light synthesis for the source (labelled) and target (shifted, "real-like") domains.

Model (docs/data.md §5.2): in linear RGB (``J_lin = J^2.2``), darken ``x = k·J_lin^γ``, add
Poisson-Gaussian sensor noise ``x = Poisson(x/a)·a + N(0, σ²)``, and encode back with ``x^(1/2.2)``;
optionally a colour shift and JPEG.

The source is a mild version (brighter, little noise, no colour shift). The target is what night photos
look like: darker, much noisier (the upper half of docs/data.md's noise ranges), uneven illumination (pools of
light), a colour cast of artificial light, and JPEG. No depth is needed. Every random number comes from
``rng``, in the order documented per function.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qtbench.data import synth

__all__ = ["SourceLowLightConfig", "TargetLowLightConfig", "check", "lowlight_source", "lowlight_target"]


@dataclass
class SourceLowLightConfig:
    """Labelled source low light: darkening with mild Poisson-Gaussian noise."""

    # source: docs/data.md §5.2 Low light: "un-gamma by 2.2 first"
    display_gamma: float = 2.2
    # source: docs/data.md §5.2 Low light: k ∈ [0.05, 0.3]
    exposure: list[float] = field(default_factory=lambda: [0.05, 0.3])
    # source: docs/data.md §5.2 Low light: γ ∈ [1.2, 2.5]; the source keeps the milder part
    gamma: list[float] = field(default_factory=lambda: [1.2, 1.8])
    # source: docs/data.md §5.2 Low light: Poisson scale a ∈ [1e-3, 2e-2]; the source keeps the low-noise part
    shot: list[float] = field(default_factory=lambda: [1e-3, 5e-3])
    # source: docs/data.md §5.2 Low light: read noise σ ∈ [1e-3, 2e-2]; the source keeps the low-noise part
    read: list[float] = field(default_factory=lambda: [1e-3, 5e-3])


@dataclass
class TargetLowLightConfig:
    """Shifted target low light: darker, noisier, uneven, colour-cast, JPEG."""

    # source: docs/data.md §5.2 Low light: "un-gamma by 2.2 first"
    display_gamma: float = 2.2
    # source: docs/data.md §5.2 Low light: k ∈ [0.05, 0.3]; the target keeps the darker part
    exposure: list[float] = field(default_factory=lambda: [0.05, 0.2])
    # source: docs/data.md §5.2 Low light: γ ∈ [1.2, 2.5]; the target reaches the strongest part
    gamma: list[float] = field(default_factory=lambda: [1.5, 2.5])
    # source: docs/data.md §5.2 Low light: a ∈ [1e-3, 2e-2]; the target takes the upper part
    shot: list[float] = field(default_factory=lambda: [5e-3, 2e-2])
    # source: docs/data.md §5.2 Low light: σ ∈ [1e-3, 2e-2]; the target takes the upper part
    read: list[float] = field(default_factory=lambda: [5e-3, 2e-2])
    # source: own choice: uneven illumination (street lights): exposure × exp(s · smooth field)
    unevenness: list[float] = field(default_factory=lambda: [0.2, 0.6])
    # source: docs/feasibility.md Setup "Target degradation": field σ = 1/8 of the short side
    field_sigma: float = 0.125
    # source: docs/data.md §5.2 Low light "optional colour shift": per-channel (R, G, B) gain change per unit strength
    # (warm tungsten / sodium light)
    warm_tint: list[float] = field(default_factory=lambda: [0.3, 0.0, -0.4])
    # source: own choice: strength of the warm cast
    tint_strength: list[float] = field(default_factory=lambda: [0.2, 0.8])
    # source: docs/data.md §5.2 Low light "optional JPEG compression"; q range as the haze target (docs/feasibility.md)
    jpeg_quality: list[int] = field(default_factory=lambda: [40, 70])


_RULES = {
    "display_gamma": ("min", 1e-3), "exposure": ("range", 1e-6, 1.0), "gamma": ("range", 1e-3),
    "shot": ("range", 1e-9), "read": ("range", 0.0), "unevenness": ("range", 0.0), "field_sigma": ("min", 1e-6),
    "warm_tint": ("triple",), "tint_strength": ("range", 0.0, 1.0), "jpeg_quality": ("range", 1, 100),
}


def check(cfg: SourceLowLightConfig | TargetLowLightConfig) -> None:
    """Raise :class:`~qtbench.errors.UserError` (one line) if a low-light config holds impossible values."""
    synth.check_fields("lowlight", cfg, _RULES)


def _noise(x: np.ndarray, rng: np.random.Generator, shot: float, read: float) -> np.ndarray:
    """Poisson-Gaussian noise on linear values: Poisson(x / a)·a + N(0, σ²) (draws the photons, then σ noise)."""
    photons = rng.poisson(np.clip(x, 0.0, None) / shot).astype(np.float32) * shot
    return photons + read * rng.standard_normal(x.shape, dtype=np.float32)


def lowlight_source(clean: np.ndarray, ctx, rng: np.random.Generator,
                    cfg: SourceLowLightConfig | None = None) -> np.ndarray:
    """Darken in linear light and add mild Poisson-Gaussian noise.

    Args:
        clean: HxWx3 float32 RGB in [0, 1] (display-referred).
        ctx: unused (low light needs no depth); kept for the common task signature.
        rng: draws, in order: k, γ, a, σ, the Poisson photons, the Gaussian noise.
        cfg: ranges; ``SourceLowLightConfig()`` if omitted.

    Returns:
        HxWx3 float32 low-light image in [0, 1].
    """
    cfg = cfg or SourceLowLightConfig()
    g = float(cfg.display_gamma)
    k, gamma = synth.uniform(rng, cfg.exposure), synth.uniform(rng, cfg.gamma)
    shot, read = synth.uniform(rng, cfg.shot), synth.uniform(rng, cfg.read)
    x = k * np.power(clean.astype(np.float32), g * gamma)  # (J^2.2)^γ: linearise, then the dark-response curve
    x = np.clip(_noise(x, rng, shot, read), 0.0, 1.0)
    return np.power(x, 1.0 / g).astype(np.float32)


def lowlight_target(clean: np.ndarray, ctx, rng: np.random.Generator,
                    cfg: TargetLowLightConfig | None = None) -> np.ndarray:
    """Shifted, "real-like" night image (see the module docstring).

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        ctx: unused.
        rng: draws, in order: k, γ, a, σ, unevenness, the illumination field, tint strength, the photons,
            the Gaussian noise, the JPEG quality.
        cfg: the shift; ``TargetLowLightConfig()`` if omitted.

    Returns:
        HxWx3 float32 low-light image in [0, 1].
    """
    cfg = cfg or TargetLowLightConfig()
    h, w = clean.shape[:2]
    g = float(cfg.display_gamma)
    k, gamma = synth.uniform(rng, cfg.exposure), synth.uniform(rng, cfg.gamma)
    shot, read = synth.uniform(rng, cfg.shot), synth.uniform(rng, cfg.read)
    light = k * np.exp(synth.uniform(rng, cfg.unevenness) * synth.smooth_field(rng, h, w, cfg.field_sigma))
    gain = np.clip(1.0 + synth.uniform(rng, cfg.tint_strength) * np.asarray(cfg.warm_tint, np.float32), 0.0, None)
    x = light[..., None] * gain * np.power(clean.astype(np.float32), g * gamma)
    x = np.clip(_noise(x, rng, shot, read), 0.0, 1.0)
    return synth.jpeg(np.power(x, 1.0 / g), int(rng.integers(int(cfg.jpeg_quality[0]), int(cfg.jpeg_quality[1]) + 1)))
