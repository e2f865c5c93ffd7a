"""Rain synthesis for the source (labelled) and target (shifted, "real-like") domains.

Model (docs/data.md §5.2): ``I = J·(1 − α) + S + A·(1 − t)`` with ``α = 1 − t``, ``t = exp(−β·d)``:
a streak layer ``S`` (sparse noise motion-blurred along an angle within ±20° of the vertical) over the
scene seen through a light veil of rain accumulation (the haze model with a small β).

The source is "textbook" synthetic rain (one layer of sharp streaks, a faint veil). The target differs
the way real rain photos differ from it: several layers of streaks at different distances (long, soft
near streaks; short, faint far ones), a denser patchy veil, a darker overcast scene, sensor noise and
JPEG. Every random number comes from the ``rng`` argument, in the order documented per function.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from qtbench.data import synth

__all__ = ["SourceRainConfig", "TargetRainConfig", "check", "rain_source", "rain_target"]


@dataclass
class SourceRainConfig:
    """Labelled source rain: one layer of sharp streaks and a faint homogeneous veil."""

    # source: docs/data.md §5.2 Rain: streaks along a random angle of ±20° (degrees from the vertical)
    angle: list[float] = field(default_factory=lambda: [-20.0, 20.0])
    # source: own choice: fraction of pixels seeding a streak (sparse, Rain100L-like rain)
    density: list[float] = field(default_factory=lambda: [0.002, 0.006])
    # source: docs/data.md §5.2 Rain: "random length"; own choice of range, a fraction of the short side
    length: list[float] = field(default_factory=lambda: [0.06, 0.12])
    # source: own choice: brightness a streak adds (streaks refract bright sky light)
    intensity: list[float] = field(default_factory=lambda: [0.5, 0.8])
    # source: docs/data.md §5.2 Rain: "A·(1 − t) adds a light haze veil"; own choice of a light β (depth in [0.1, 1])
    veil_beta: list[float] = field(default_factory=lambda: [0.0, 0.3])
    # source: docs/data.md §5.2 Haze: A ∈ [0.7, 1.0] (grey); docs/feasibility.md source haze uses [0.8, 1.0]
    airlight: list[float] = field(default_factory=lambda: [0.8, 1.0])


@dataclass
class TargetRainConfig:
    """Shifted target rain: layered soft streaks, patchy veil, overcast light, noise, JPEG."""

    # source: docs/data.md §5.2 Rain: ±20° around the vertical
    angle: list[float] = field(default_factory=lambda: [-20.0, 20.0])
    # source: own choice: layers at several distances (near/mid/far), as in heavy-rain models with rain accumulation
    layers: int = 3
    # source: own choice: per-layer deviation from the main angle (wind gusts), degrees
    angle_jitter: float = 5.0
    # source: own choice: denser than the source (heavy rain)
    density: list[float] = field(default_factory=lambda: [0.004, 0.012])
    # source: own choice: near streaks longer than any source streak (fraction of the short side)
    length: list[float] = field(default_factory=lambda: [0.08, 0.25])
    # source: own choice: fainter streaks than the source (real streaks are translucent)
    intensity: list[float] = field(default_factory=lambda: [0.25, 0.6])
    # source: own choice: defocus blur of the streaks, px (Gaussian σ); real streaks are rarely sharp
    streak_blur: list[float] = field(default_factory=lambda: [0.5, 1.5])
    # source: own choice: denser rain accumulation than the source veil
    veil_beta: list[float] = field(default_factory=lambda: [0.4, 1.2])
    # source: docs/feasibility.md Setup "Target degradation": β × exp(0.35 · smooth random field), as for haze
    nonhomogeneity: float = 0.35
    # source: docs/feasibility.md Setup "Target degradation": field σ = 32 px on 256-px short sides (= 1/8)
    field_sigma: float = 0.125
    # source: own choice: overcast rain light, greyer than the source airlight
    airlight: list[float] = field(default_factory=lambda: [0.7, 0.95])
    # source: own choice: scene illumination under rain clouds (multiplies J)
    darken: list[float] = field(default_factory=lambda: [0.7, 0.95])
    # source: docs/feasibility.md Setup "Target degradation": Gaussian noise σ ∈ [0.01, 0.03]
    noise_sigma: list[float] = field(default_factory=lambda: [0.01, 0.03])
    # source: docs/feasibility.md Setup "Target degradation": signal-dependent noise 0.02·√I
    signal_noise: float = 0.02
    # source: docs/feasibility.md Setup "Target degradation": JPEG q ∈ [40, 70] (PIL)
    jpeg_quality: list[int] = field(default_factory=lambda: [40, 70])


_RULES = {
    "angle": ("range", -90.0, 90.0), "density": ("range", 0.0, 1.0), "length": ("range", 0.0, 1.0),
    "intensity": ("range", 0.0, 1.0), "veil_beta": ("range", 0.0), "airlight": ("range", 0.0, 1.0),
    "layers": ("min", 1), "angle_jitter": ("min", 0.0), "streak_blur": ("range", 0.0),
    "nonhomogeneity": ("min", 0.0), "field_sigma": ("min", 1e-6), "darken": ("range", 0.0, 1.0),
    "noise_sigma": ("range", 0.0), "signal_noise": ("min", 0.0), "jpeg_quality": ("range", 1, 100),
}


def check(cfg: SourceRainConfig | TargetRainConfig) -> None:
    """Raise :class:`~qtbench.errors.UserError` (one line) if a rain config holds impossible values."""
    synth.check_fields("rain", cfg, _RULES)


def rain_source(clean: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                cfg: SourceRainConfig | None = None) -> np.ndarray:
    """Add one layer of sharp rain streaks over a faint homogeneous veil.

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large), from :func:`qtbench.data.depth.depth_proxy`.
        rng: draws, in order: angle, density, length, intensity, the streak layer, veil β, A.
        cfg: ranges; ``SourceRainConfig()`` if omitted.

    Returns:
        HxWx3 float32 rainy image in [0, 1].
    """
    cfg = cfg or SourceRainConfig()
    h, w = depth.shape
    angle, density = synth.uniform(rng, cfg.angle), synth.uniform(rng, cfg.density)
    length, intensity = synth.uniform(rng, cfg.length) * min(h, w), synth.uniform(rng, cfg.intensity)
    s = intensity * synth.streaks(rng, h, w, density, length, angle)
    t = np.exp(-synth.uniform(rng, cfg.veil_beta) * depth.astype(np.float32))[..., None]
    a = synth.uniform(rng, cfg.airlight)
    return np.clip(clean * t + a * (1.0 - t) + s[..., None], 0.0, 1.0).astype(np.float32)


def rain_target(clean: np.ndarray, depth: np.ndarray, rng: np.random.Generator,
                cfg: TargetRainConfig | None = None) -> np.ndarray:
    """Add shifted, "real-like" rain: layered soft streaks, patchy veil, overcast light, noise and JPEG.

    Args:
        clean: HxWx3 float32 RGB in [0, 1].
        depth: HxW relative depth (far = large).
        rng: draws, in order: main angle; per layer (near to far): angle jitter, density, length,
            intensity, blur, the streak layer; then veil β, density field, A, darkening, noise level,
            noise, JPEG quality.
        cfg: the shift; ``TargetRainConfig()`` if omitted.

    Returns:
        HxWx3 float32 rainy image in [0, 1].
    """
    cfg = cfg or TargetRainConfig()
    h, w = depth.shape
    main = synth.uniform(rng, cfg.angle)
    s = np.zeros((h, w), np.float32)
    for layer in range(int(cfg.layers)):
        far = layer / max(1, int(cfg.layers) - 1)  # 0 = nearest layer: longest, softest streaks
        angle = main + synth.uniform(rng, [-cfg.angle_jitter, cfg.angle_jitter])
        density = synth.uniform(rng, cfg.density)
        length = synth.uniform(rng, cfg.length) * min(h, w) * (1.0 - 0.6 * far)
        intensity = synth.uniform(rng, cfg.intensity) * (1.0 - 0.5 * far)
        blur = synth.uniform(rng, cfg.streak_blur) * (1.0 - 0.5 * far)
        layer_img = synth.streaks(rng, h, w, density, length, angle)
        if blur > 0:
            layer_img = cv2.GaussianBlur(layer_img, (0, 0), blur, borderType=cv2.BORDER_REFLECT)
        s = 1.0 - (1.0 - s) * (1.0 - intensity * layer_img)  # screen blend: overlapping streaks saturate
    beta = synth.uniform(rng, cfg.veil_beta) * np.exp(cfg.nonhomogeneity * synth.smooth_field(rng, h, w, cfg.field_sigma))
    t = np.exp(-beta * depth.astype(np.float32))[..., None]
    a = synth.uniform(rng, cfg.airlight)
    dark = synth.uniform(rng, cfg.darken)
    rainy = np.clip(dark * clean * t + a * (1.0 - t) + s[..., None], 0.0, 1.0)
    rainy = synth.sensor_noise(rainy, rng, synth.uniform(rng, cfg.noise_sigma), cfg.signal_noise)
    lo_q, hi_q = cfg.jpeg_quality
    return synth.jpeg(rainy, int(rng.integers(int(lo_q), int(hi_q) + 1)))
