"""Independent NumPy implementations of BRISQUE and NIQE, to check pyiqa's with the published models.

Written from the papers and the LIVE MATLAB releases' formulas, with no pyiqa or qtbench code:

- BRISQUE (Mittal, Moorthy, Bovik 2012): 36 NSS features (GGD of the MSCN image; AGGD of its 4 neighbour
  products; 2 scales), scaled to [-1, 1] with the release's feature ranges, then libsvm's epsilon-SVR
  decision function ``sum_i coef_i exp(-gamma ||x - sv_i||^2) - rho`` over the support vectors read straight
  from the ``allmodel`` text.
- NIQE (Mittal, Soundararajan, Bovik 2013): 36 features per 96-px block (18 per scale), their multivariate
  Gaussian against the pristine one, ``sqrt(d^T pinv((S_p + S_d) / 2) d)``, pristine model read straight from
  the ``.npz``.

The 2x downscale uses Pillow's bicubic filter (antialiased like MATLAB's ``imresize``, not identical at the
borders), so agreement is close but not exact: that is the point of an independent check.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image
from scipy.ndimage import correlate
from scipy.special import gamma as G

# BRISQUE release feature ranges (allrange: min, max per feature); part of the published model
BRISQUE_RANGES = np.array([
    [0.338, 10], [0.017204, 0.806612], [0.236, 1.642], [-0.123884, 0.20293], [0.000155, 0.712298],
    [0.001122, 0.470257], [0.244, 1.641], [-0.123586, 0.179083], [0.000152, 0.710456], [0.000975, 0.470984],
    [0.249, 1.555], [-0.135687, 0.100858], [0.000174, 0.684173], [0.000913, 0.534174], [0.258, 1.561],
    [-0.143408, 0.100486], [0.000179, 0.685696], [0.000888, 0.536508], [0.471, 3.264], [0.012809, 0.703171],
    [0.218, 1.046], [-0.094876, 0.187459], [1.5e-005, 0.442057], [0.001272, 0.40803], [0.222, 1.042],
    [-0.115772, 0.162604], [1.6e-005, 0.444362], [0.001374, 0.40243], [0.227, 0.996], [-0.117188, 0.098323],
    [3e-005, 0.531903], [0.001122, 0.369589], [0.228, 0.99], [-0.12243, 0.098658], [2.8e-005, 0.530092],
    [0.001118, 0.370399]])

_GAM = np.arange(0.2, 10.0005, 0.001)  # the releases' shape grid 0.2:0.001:10


def _window() -> np.ndarray:
    ax = np.arange(7) - 3.0
    g = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * (7.0 / 6.0) ** 2))
    return g / g.sum()


def mscn(y: np.ndarray, mode: str) -> np.ndarray:
    """Mean-subtracted contrast-normalised image, 7x7 Gaussian (sigma 7/6), C = 1; ``mode``: border rule."""
    w = _window()
    kw = {"mode": "constant", "cval": 0.0} if mode == "zero" else {"mode": "nearest"}
    mu = correlate(y, w, **kw)
    sigma = np.sqrt(np.abs(correlate(y * y, w, **kw) - mu * mu))
    return (y - mu) / (sigma + 1.0)


def ggd(x: np.ndarray) -> tuple[float, float]:
    """Generalised Gaussian shape and variance by moment matching (BRISQUE)."""
    r_gam = G(1 / _GAM) * G(3 / _GAM) / G(2 / _GAM) ** 2
    sigma_sq = np.mean(x * x)
    rho = sigma_sq / np.mean(np.abs(x)) ** 2
    return float(_GAM[np.argmin(np.abs(rho - r_gam))]), float(sigma_sq)


def aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric GGD: shape, left and right standard deviations (the releases' estimateaggdparam)."""
    r_gam = G(2 / _GAM) ** 2 / (G(1 / _GAM) * G(3 / _GAM))
    left = math.sqrt(np.mean(x[x < 0] ** 2))
    right = math.sqrt(np.mean(x[x > 0] ** 2))
    ghat = left / right
    rhat = np.mean(np.abs(x)) ** 2 / np.mean(x * x)
    rnorm = rhat * (ghat**3 + 1) * (ghat + 1) / (ghat**2 + 1) ** 2
    return float(_GAM[np.argmin((r_gam - rnorm) ** 2)]), left, right


def half(y: np.ndarray) -> np.ndarray:
    """2x bicubic downscale with antialiasing (Pillow; MATLAB's imresize(0.5) up to border handling)."""
    h, w = y.shape
    return np.asarray(Image.fromarray(y.astype(np.float32), mode="F").resize((w // 2, h // 2), Image.BICUBIC),
                      dtype=np.float64)


_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


def brisque_features(y: np.ndarray) -> np.ndarray:
    """36 BRISQUE features of a luma image in [0, 255]."""
    feats = []
    for _ in range(2):
        m = mscn(y, "zero")
        a, s2 = ggd(m.ravel())
        feats += [a, s2]
        for sh in _SHIFTS:
            a, left, right = aggd((m * np.roll(m, sh, axis=(0, 1))).ravel())
            eta = (right - left) * G(2 / a) / math.sqrt(G(1 / a) * G(3 / a))
            feats += [a, eta, left**2, right**2]
        y = half(y)
    return np.asarray(feats)


def read_libsvm(text: str) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(gamma, rho, coef [n], sv [n, 36])`` of a libsvm model text."""
    head, body = text.split("\nSV\n", 1)
    meta = dict(line.split(" ", 1) for line in head.splitlines())
    coef, sv = [], []
    for line in body.splitlines():
        if line.strip():
            parts = line.split()
            coef.append(float(parts[0]))
            row = np.zeros(36)
            for tok in parts[1:]:
                k, v = tok.split(":")
                row[int(k) - 1] = float(v)
            sv.append(row)
    return float(meta["gamma"]), float(meta["rho"]), np.asarray(coef), np.asarray(sv)


def brisque_score(y: np.ndarray, model_text: str) -> float:
    """BRISQUE of a luma image with the libsvm model ``model_text``: the RBF decision function."""
    gamma, rho, coef, sv = read_libsvm(model_text)
    lo, hi = BRISQUE_RANGES[:, 0], BRISQUE_RANGES[:, 1]
    x = -1 + 2 * (brisque_features(y) - lo) / (hi - lo)
    return float(coef @ np.exp(-gamma * ((sv - x) ** 2).sum(axis=1)) - rho)


def _block_features(m: np.ndarray) -> list[float]:
    a, left, right = aggd(m.ravel())
    beta = math.sqrt(G(1 / a) / G(3 / a))  # the release's AGGD scale: beta = std * sqrt(G(1/a) / G(3/a))
    f = [a, (left + right) / 2 * beta]
    for sh in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a, left, right = aggd((m * np.roll(m, sh, axis=(0, 1))).ravel())
        beta = math.sqrt(G(1 / a) / G(3 / a))
        bl, br = left * beta, right * beta
        f += [a, (br - bl) * G(2 / a) / G(1 / a), bl, br]
    return f


def niqe_score(y: np.ndarray, npz: bytes, block: int = 96) -> float:
    """NIQE of a luma image in [0, 255] against the pristine model in ``npz`` (96-px blocks)."""
    with np.load(io.BytesIO(npz), allow_pickle=False) as d:
        mu_p, cov_p = d["mu_pris_param"].ravel(), d["cov_pris_param"]
    h, w = (y.shape[0] // block) * block, (y.shape[1] // block) * block
    y = y[:h, :w]
    per_scale = []
    for scale in (1, 2):
        m, b = mscn(y, "replicate"), block // scale
        per_scale.append([_block_features(m[i : i + b, j : j + b])
                          for i in range(0, m.shape[0] - b + 1, b) for j in range(0, m.shape[1] - b + 1, b)])
        y = half(y)
    feats = np.hstack([np.asarray(p) for p in per_scale])
    d = mu_p - feats.mean(axis=0)
    cov = (cov_p + np.cov(feats, rowvar=False)) / 2
    return float(math.sqrt(d @ np.linalg.pinv(cov) @ d))


def luma(rgb: np.ndarray) -> np.ndarray:
    """Y of YIQ in [0, 255], rounded: the releases' rgb2gray of a uint8 image (both metrics' luma)."""
    x = rgb.astype(np.float64)
    return np.round(0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2])
