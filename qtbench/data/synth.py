"""Building blocks shared by the degradation models (haze, rain, snow, underwater, low light).

Every function takes its randomness from an explicit ``numpy.random.Generator`` so that a seed fixes a
degraded image exactly; callers draw in a fixed, documented order. The range checks raise
:class:`~qtbench.errors.UserError` with one-line messages prefixed by the model's name (``rain.beta``).
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from qtbench.errors import UserError

__all__ = [
    "check_range",
    "check_triple",
    "check_unit",
    "jpeg",
    "line_kernel",
    "sensor_noise",
    "smooth_field",
    "uniform",
]


def uniform(rng: np.random.Generator, lo_hi) -> float:
    """One draw from U[lo, hi] (a ``[lo, hi]`` config pair)."""
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi))


def check_range(prefix: str, name: str, lo_hi, lo_min: float | None = None, hi_max: float | None = None) -> None:
    """Raise :class:`UserError` unless ``lo_hi`` is a ``[lo, hi]`` pair with ``lo_min <= lo <= hi <= hi_max``.

    Args:
        prefix: the model's name in messages (``haze``, ``rain``...).
        name: the field's name.
        lo_hi: the pair to check.
        lo_min: smallest allowed lower bound, or None.
        hi_max: largest allowed upper bound, or None.
    """
    vals = list(lo_hi)
    if len(vals) != 2:
        raise UserError(f"{prefix}.{name} must be a [lo, hi] pair, got {vals}")
    lo, hi = vals
    if lo > hi:
        raise UserError(f"{prefix}.{name}: lower bound {lo} > upper bound {hi}; write [lo, hi] with lo <= hi")
    if lo_min is not None and lo < lo_min:
        raise UserError(f"{prefix}.{name} must be >= {lo_min}, got {vals}")
    if hi_max is not None and hi > hi_max:
        raise UserError(f"{prefix}.{name} must be <= {hi_max}, got {vals}")


def check_unit(prefix: str, name: str, value: float) -> None:
    """Raise :class:`UserError` unless ``0 <= value <= 1`` (a probability or a fraction)."""
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{prefix}.{name} must be in [0, 1], got {value}")


def check_triple(prefix: str, name: str, values) -> None:
    """Raise :class:`UserError` unless ``values`` holds 3 numbers (R, G, B)."""
    if len(list(values)) != 3:
        raise UserError(f"{prefix}.{name} must hold 3 numbers (R, G, B), got {list(values)}")


def smooth_field(rng: np.random.Generator, h: int, w: int, sigma_frac: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with correlation length ``sigma_frac`` x short side."""
    # Draw on a grid 4x coarser and upsample: the field is smooth anyway, and this keeps the
    # blur kernel small (sigma = 32 px would need a 193-tap kernel at full size).
    step = 4
    hs, ws = -(-h // step), -(-w // step)
    noise = rng.standard_normal((hs, ws)).astype(np.float32)
    sigma = max(sigma_frac * min(h, w) / step, 0.5)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    smooth = cv2.resize(smooth, (w, h), interpolation=cv2.INTER_CUBIC)
    return (smooth - smooth.mean()) / max(float(smooth.std()), 1e-6)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through an in-memory JPEG (PIL defaults: 4:2:0 chroma, the usual camera setting)."""
    buf = io.BytesIO()
    Image.fromarray(np.round(img * 255.0).astype(np.uint8)).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0


def sensor_noise(img: np.ndarray, rng: np.random.Generator, sigma: float, signal: float) -> np.ndarray:
    """Read noise ``sigma`` plus shot noise of std ``signal * sqrt(I)`` (independent Gaussians: variances add)."""
    std = np.sqrt(sigma**2 + signal**2 * img)
    return np.clip(img + std * rng.standard_normal(img.shape, dtype=np.float32), 0.0, 1.0)


def line_kernel(length: float, angle_deg: float, width: float = 1.0) -> np.ndarray:
    """A normalised motion-blur kernel: a line of ``length`` px at ``angle_deg`` from the vertical.

    Args:
        length: streak length in px (>= 1).
        angle_deg: 0 = vertical; positive leans to the right at the bottom.
        width: line thickness in px (anti-aliased).
    """
    size = int(np.ceil(length)) | 1  # odd, so the kernel has a centre pixel
    k = np.zeros((size, size), np.float32)
    c = (size - 1) / 2.0
    a = np.deg2rad(angle_deg)
    dx, dy = np.sin(a) * (length - 1) / 2.0, np.cos(a) * (length - 1) / 2.0
    # cv2.line takes integer coordinates; a 4-bit shift gives sub-pixel endpoints
    s = 16
    p0 = (int(round((c - dx) * s)), int(round((c - dy) * s)))
    p1 = (int(round((c + dx) * s)), int(round((c + dy) * s)))
    cv2.line(k, p0, p1, 1.0, thickness=max(1, int(round(width))), lineType=cv2.LINE_AA, shift=4)
    total = float(k.sum())
    if total <= 0:
        k[int(c), int(c)] = 1.0
        total = 1.0
    return k / total


def particles(rng: np.random.Generator, h: int, w: int, density: float, radius: float) -> np.ndarray:
    """HxW mask in [0, 1] of round particles (snow flakes, marine snow): Gaussian blobs of std ``radius`` px.

    Draws, in order: the seed positions (each pixel with probability ``density``), then each seed's
    strength in [0.5, 1]. Blobs are scaled so that an isolated one peaks at its strength.
    """
    seeds = (rng.random((h, w), dtype=np.float32) < density).astype(np.float32)
    seeds *= rng.uniform(0.5, 1.0, (h, w)).astype(np.float32)
    if radius <= 0:
        return np.clip(seeds, 0.0, 1.0)
    blob = cv2.GaussianBlur(seeds, (0, 0), float(radius), borderType=cv2.BORDER_REFLECT)
    peak = float(cv2.GaussianBlur(_impulse(radius), (0, 0), float(radius)).max())
    return np.clip(blob / peak, 0.0, 1.0)


def _impulse(radius: float) -> np.ndarray:
    size = 2 * int(np.ceil(4 * radius)) + 1
    k = np.zeros((size, size), np.float32)
    k[size // 2, size // 2] = 1.0
    return k


def streaks(rng: np.random.Generator, h: int, w: int, density: float, length: float, angle: float) -> np.ndarray:
    """HxW layer in [0, 1] of motion-blurred sparse noise (rain streaks, falling snow).

    Draws, in order: the seed positions (probability ``density``) and their strengths in [0.5, 1].
    Each seed is smeared along a line of ``length`` px at ``angle`` degrees from the vertical; the kernel is
    scaled to peak 1 so a streak keeps its seed's brightness along its length.
    """
    seeds = (rng.random((h, w), dtype=np.float32) < density).astype(np.float32)
    seeds *= rng.uniform(0.5, 1.0, (h, w)).astype(np.float32)
    k = line_kernel(max(1.0, length), angle)
    return np.clip(cv2.filter2D(seeds, -1, k / k.max(), borderType=cv2.BORDER_REFLECT), 0.0, 1.0)


def check_fields(prefix: str, cfg, rules: dict[str, tuple]) -> None:
    """Check the fields of a degradation config by rule; fields absent from ``cfg`` are skipped.

    Rules: ``("range", lo_min, hi_max)`` a [lo, hi] pair; ``("min", m)`` a number >= m; ``("unit",)`` in [0, 1];
    ``("triple",)`` 3 numbers.
    """
    for name, rule in rules.items():
        if not hasattr(cfg, name):  # source configs lack the target-only fields
            continue
        value, kind = getattr(cfg, name), rule[0]
        if kind == "range":
            check_range(prefix, name, value, *rule[1:])
        elif kind == "min":
            if value < rule[1]:
                raise UserError(f"{prefix}.{name} must be >= {rule[1]}, got {value}")
        elif kind == "unit":
            check_unit(prefix, name, value)
        elif kind == "triple":
            check_triple(prefix, name, value)
        else:  # a programming error in the rules table, not user input
            raise ValueError(f"unknown check rule {rule!r}")
