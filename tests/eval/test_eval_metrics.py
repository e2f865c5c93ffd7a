"""Full-reference metrics against hand-computed values and skimage; pyiqa NR metrics offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # HF-hub fetches fail in < 1 s instead of ~47 s of retries

import math

import numpy as np
import pytest
import torch

from qtbench.errors import UserError
from qtbench.eval.metrics import PSNR_CAP_DB, NRMetric, nr_metric, psnr, ssim


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# ---- PSNR -------------------------------------------------------------------------------------------


def test_psnr_constant_offset_is_exact() -> None:
    target = _rand(2, 3, 16, 20) * 0.9  # stays within [0,1] after +0.1, so the clamp does nothing
    # MSE = 0.01 -> 10 * log10(1 / 0.01) = 20 dB
    out = psnr(target + 0.1, target)
    assert out.shape == (2,)
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.full((2,), 20.0), atol=1e-4)


def test_psnr_data_range_and_known_mse() -> None:
    target = torch.zeros(1, 3, 8, 8)
    pred = torch.full((1, 3, 8, 8), 0.5)
    # MSE = 0.25: 10 log10(1/0.25) = 6.0206 dB
    assert psnr(pred, target).item() == pytest.approx(10 * math.log10(4.0), abs=1e-5)
    # range 255, values scaled by 255: same PSNR
    assert psnr(pred * 255, target * 255, data_range=255).item() == pytest.approx(10 * math.log10(4.0), abs=1e-5)


def test_psnr_identical_is_capped_and_pred_is_clamped() -> None:
    x = _rand(3, 3, 8, 8)
    assert torch.equal(psnr(x, x), torch.full((3,), PSNR_CAP_DB))
    # out-of-range predictions are clamped: 1.7 scores like 1.0
    ones = torch.ones(1, 3, 8, 8)
    assert psnr(ones + 0.7, ones).item() == PSNR_CAP_DB


def test_psnr_batch_matches_per_image() -> None:
    pred, target = _rand(4, 3, 12, 12, seed=1), _rand(4, 3, 12, 12, seed=2)
    batch = psnr(pred, target)
    single = torch.cat([psnr(pred[i : i + 1], target[i : i + 1]) for i in range(4)])
    assert torch.allclose(batch, single)


# ---- SSIM -------------------------------------------------------------------------------------------


def test_ssim_identical_is_one() -> None:
    x = _rand(2, 3, 32, 24)
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-6)


def test_ssim_matches_skimage() -> None:
    skm = pytest.importorskip("skimage.metrics")
    target = _rand(3, 3, 40, 33, seed=3)
    pred = (target + 0.15 * (_rand(3, 3, 40, 33, seed=4) - 0.5)).clamp(0, 1)
    pred[1] = _rand(3, 40, 33, seed=5)  # an unrelated image too: SSIM near 0
    ours = ssim(pred, target)
    for i in range(3):
        ref = skm.structural_similarity(
            pred[i].permute(1, 2, 0).double().numpy(),
            target[i].permute(1, 2, 0).double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=2,
        )
        assert ours[i].item() == pytest.approx(ref, abs=1e-4)


def test_ssim_batch_matches_per_image_and_orders_quality() -> None:
    target = _rand(3, 3, 24, 24, seed=6)
    noise = _rand(3, 3, 24, 24, seed=7) - 0.5
    pred = (target + noise * torch.tensor([0.05, 0.2, 0.5]).view(3, 1, 1, 1)).clamp(0, 1)
    batch = ssim(pred, target)
    single = torch.cat([ssim(pred[i : i + 1], target[i : i + 1]) for i in range(3)])
    assert torch.allclose(batch, single, atol=1e-6)
    assert batch[0] > batch[1] > batch[2]  # more noise, lower SSIM


def test_ssim_same_for_channels_last_and_contiguous_images() -> None:
    """Images converted from HxWx3 arrays arrive channels-last; SSIM must not depend on the memory layout
    (it makes them contiguous for speed), beyond float64 rounding."""
    from qtbench.engine.sampler import to_tensor

    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (2, 40, 52, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 31, a.shape), 0, 255).astype(np.uint8)
    x, y = to_tensor(list(a)), to_tensor(list(b))
    assert not x.is_contiguous()  # the layout this test is about
    assert torch.allclose(ssim(x, y), ssim(x.contiguous(), y.contiguous()), rtol=0, atol=1e-6)


def test_psnr_scores_of_uint8_pairs_match_a_hand_computed_psnr() -> None:
    """The PSNR-only path (levels, trajectory, gallery; score_pairs' PSNR too): 10 log10(1 / MSE) of the
    images scaled to [0, 1], per image; float32 output, so 1e-4 dB."""
    from qtbench.eval.evaluate import psnr_scores

    rng = np.random.default_rng(12)
    outs = [rng.integers(0, 256, (24, 30, 3), dtype=np.uint8) for _ in range(3)]
    gts = [np.clip(o.astype(int) + rng.integers(-9 * (k + 1), 10 * (k + 1), o.shape), 0, 255).astype(np.uint8)
           for k, o in enumerate(outs)]
    want = [10 * math.log10(1 / np.mean((o / 255.0 - t / 255.0) ** 2)) for o, t in zip(outs, gts)]
    assert np.allclose(psnr_scores(outs, gts), want, rtol=0, atol=1e-4)


def test_ssim_rejects_small_and_mismatched() -> None:
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.rand(1, 3, 10, 30), torch.rand(1, 3, 10, 30))
    with pytest.raises(ValueError, match="differ"):
        ssim(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))


# ---- NR metrics through pyiqa ------------------------------------------------------------------------


def test_piqe_runs_finite_and_batches() -> None:
    m = nr_metric("piqe")
    assert m is nr_metric("PIQE")  # cached factory, case-insensitive
    assert m.lower_better is True
    assert m.score_range == "0, 100"
    images = _rand(3, 3, 64, 64, seed=8)
    scores = m(images)
    assert scores.shape == (3,)
    assert scores.dtype == torch.float32
    assert not scores.requires_grad
    assert torch.isfinite(scores).all()
    single = torch.cat([m(images[i : i + 1]) for i in range(3)])
    assert torch.allclose(scores, single, atol=1e-4)


def test_entropy_metadata_defaults_higher_better() -> None:
    m = NRMetric("entropy")
    assert m.lower_better is False
    assert m._model is None  # nothing built until used
    x = torch.from_numpy(np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32))
    assert torch.isfinite(m(x)).all()


def test_unknown_and_full_reference_names_are_user_errors() -> None:
    with pytest.raises(UserError, match="did you mean.*piqe"):
        NRMetric("pique")
    with pytest.raises(UserError, match="full-reference"):
        NRMetric("psnr")


def test_missing_weights_is_a_user_error_not_a_hang(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # an empty pyiqa weight cache and a refused download: what a machine without network sees for ilniqe
    import urllib.error

    import pyiqa.utils.download_util as dl

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(dl, "DEFAULT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(dl, "download_url_to_file", refuse)
    m = NRMetric("ilniqe")  # niqe's file now comes from the package index (tests/iqa/test_classic_iqa.py)
    with pytest.raises(UserError, match="ilniqe.*needs pretrained weights"):
        m.build()
