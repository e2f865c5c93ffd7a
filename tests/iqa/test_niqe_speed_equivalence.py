"""niqe_fit's fast feature path gives the numbers of the pyiqa-based reference it replaced (no timing here).

The reference (``niqe_fit._patch_features_ref`` / ``_niqe_scores_ref``) runs pyiqa's own ``compute_feature``
and ``normalize_img_with_gauss``; the fast path (:mod:`qtbench.iqa.niqe_features`) must agree on random
images, on edge cases (flat, binary, clipped) and on real crops from the wheels photo pool made to look
like teacher outputs (continuous values, hazy/blurred).
"""

import pytest
import torch
import torch.nn.functional as F

from qtbench.data.pools import read_rgb, wheels_pool
from qtbench.iqa import niqe_features as nf
from qtbench.iqa import niqe_fit as niqe_mod

TOL = 1e-5  # max abs difference allowed on raw NIQE (observed: 0 on one CPU, ~1e-13 on another)
# "Same features" in float64: the two paths sum the same terms in the same order, but a CPU's vector kernels
# may fuse or split operations differently (seen: 2.2e-14 on another x86-64 model), so equal to float64
# rounding, not bit for bit.
FEAT_RTOL = 1e-12
FEAT_ATOL = 1e-12


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal element for element to float64 rounding (``FEAT_RTOL``), NaN where the other is NaN."""
    if a.shape != b.shape or not torch.equal(a.isnan(), b.isnan()):
        return False
    ok = ~a.isnan()
    return bool(torch.allclose(a[ok], b[ok], rtol=FEAT_RTOL, atol=FEAT_ATOL))


@pytest.fixture(scope="module")
def photos():
    """The wheels photos at a short side of 160 px (enough for many 64-px crops, quick to read)."""
    return [torch.from_numpy(read_rgb(p.path, short_side=160)).permute(2, 0, 1) for p in wheels_pool()]


@pytest.fixture(scope="module")
def model(photos):
    """A pristine model fitted on the clean photos with the reference features (32-px patches)."""
    feats = []
    for img in photos:
        f, _ = niqe_mod._patch_features_ref(niqe_mod.luma255(img[None]), 32)
        feats.append(f[0])
    x = torch.cat(feats)
    x = x[torch.isfinite(x).all(dim=1)]
    return x.mean(dim=0), torch.cov(x.T)


def _teacher_like_crops(photos, n: int, size: int, seed: int) -> torch.Tensor:
    """Random crops of the photos, degraded/restored the way teacher outputs look: float, hazy, soft."""
    g = torch.Generator().manual_seed(seed)
    crops = []
    for i in range(n):
        img = photos[i % len(photos)]
        y = int(torch.randint(0, img.shape[1] - size + 1, (1,), generator=g))
        x = int(torch.randint(0, img.shape[2] - size + 1, (1,), generator=g))
        c = img[:, y : y + size, x : x + size]
        t = float(torch.rand((), generator=g))
        c = c * (0.6 + 0.4 * t) + 0.3 * (1 - t)  # residual haze
        if i % 2:
            c = F.avg_pool2d(F.pad(c[None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0]  # softened
        c = c + 0.01 * torch.randn(c.shape, generator=g)  # network output noise
        crops.append(c.clamp(0, 1))
    return torch.stack(crops)


def _edge_cases(size: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    x = torch.rand(6, 3, size, size, generator=g)
    x[0] = 0.5  # flat: NaN features
    x[1, :, : size // 2] = 0.2  # half flat
    x[2] = (x[2] > 0.5).float()  # binary
    x[3] = x[3].clamp(0.45, 0.55)  # nearly flat, clipped
    x[4] = torch.linspace(0, 1, size).expand(3, size, size)  # smooth ramp
    return x


@pytest.mark.slow
def test_nearest_in_table_equals_exhaustive_argmin():
    tab = nf.aggd_table(torch.float64, torch.device("cpu"))
    t = tab.r_gam
    g = torch.Generator().manual_seed(0)
    values = torch.cat([
        torch.rand(20000, generator=g, dtype=torch.float64) * 1.2,  # inside, below and above the table
        t[::97], (t[1:] + t[:-1])[::89] / 2,  # exact entries and midpoints (ties go to the lower index)
        torch.tensor([0.0, t[0] - 1e-9, t[-1] + 1e-9, 3.0, 1e12, 1e300, float("inf"), float("nan")],
                     dtype=torch.float64),
    ])
    ref = (t - values.unsqueeze(-1)).abs().argmin(dim=-1)
    assert torch.equal(nf.nearest_in_table(t, values, tab.safe_max), ref)


@pytest.mark.parametrize("size,patch", [(64, 32), (32, 32), (64, 16), (70, 32)])
def test_features_identical_on_random_and_edge_cases(size, patch):
    g = torch.Generator().manual_seed(size + patch)
    x = torch.cat([torch.rand(6, 3, size, size, generator=g), _edge_cases(size)])
    y = niqe_mod.luma255(x)
    fast, sharp = niqe_mod.patch_features(y, patch, sharpness=True)
    ref, sharp_ref = niqe_mod._patch_features_ref(y, patch, sharpness=True)
    assert _same(fast, ref) and _same(sharp, sharp_ref)


def test_features_identical_on_whole_photos(photos):
    """Fitting uses the same path with sharpness: identical features keep the cached models valid."""
    for img in photos[:3]:
        y = niqe_mod.luma255(img[None])
        fast, sharp = niqe_mod.patch_features(y, 32, sharpness=True)
        ref, sharp_ref = niqe_mod._patch_features_ref(y, 32, sharpness=True)
        assert _same(fast, ref) and _same(sharp, sharp_ref)


@pytest.mark.slow
@pytest.mark.parametrize("size", [64, 32])
def test_scores_equal_on_teacher_like_real_crops(photos, model, size):
    mu, cov = model
    x = _teacher_like_crops(photos, 48, size, seed=size)
    fast = niqe_mod.niqe_scores(x, mu, cov, 32)
    ref = niqe_mod._niqe_scores_ref(x, mu, cov, 32)
    assert torch.isfinite(ref).all()
    assert (fast - ref).abs().max() <= TOL


def test_scores_equal_on_random_and_edge_cases(model):
    mu, cov = model
    g = torch.Generator().manual_seed(3)
    x = torch.cat([torch.rand(18, 3, 64, 64, generator=g), _edge_cases(64)])
    fast = niqe_mod.niqe_scores(x, mu, cov, 32)
    ref = niqe_mod._niqe_scores_ref(x, mu, cov, 32)
    assert torch.equal(fast.isnan(), ref.isnan()) and fast.isnan()[18]  # the flat image (first edge case) scores NaN
    ok = ~ref.isnan()
    assert (fast[ok] - ref[ok]).abs().max() <= TOL


def test_cholesky_quadratic_equals_pinv_and_falls_back_on_singular_matrices():
    """NIQE's distance takes a Cholesky solve only where pinv is provably the inverse."""
    g = torch.Generator().manual_seed(5)
    a = torch.randn(36, 200, generator=g, dtype=torch.float64)
    cov = a @ a.T / 200  # a full-rank pristine model
    feats = torch.randn(6, 30, 36, generator=g, dtype=torch.float64)
    dev = feats - feats.mean(1, keepdim=True)
    cov_d = dev.transpose(1, 2) @ dev / 29
    cov_d[0] = 0  # one block: zero covariance (still safe: pooled = cov / 2)
    pooled = (cov + cov_d) / 2
    diff = torch.randn(6, 1, 36, generator=g, dtype=torch.float64)
    want = diff @ torch.linalg.pinv(pooled) @ diff.transpose(1, 2)
    got = niqe_mod._pinv_quadratic(pooled, diff, cov, cov_d.diagonal(dim1=1, dim2=2).sum(-1))
    assert torch.allclose(got, want, rtol=1e-10)
    # a rank-deficient pristine model: no bound holds, so every image takes pinv (its minimum-norm answer)
    low = a[:, :10] @ a[:, :10].T / 10
    pooled_low = (low + cov_d) / 2
    pooled_low[0] = low / 2  # singular: Cholesky would fail or be meaningless
    got = niqe_mod._pinv_quadratic(pooled_low, diff, low, cov_d.diagonal(dim1=1, dim2=2).sum(-1))
    assert torch.allclose(got, diff @ torch.linalg.pinv(pooled_low) @ diff.transpose(1, 2), rtol=1e-8)
