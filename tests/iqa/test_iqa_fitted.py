"""Members qtbench fits on a run's training data: niqe_fit and degprob (fit, cache, behaviour)."""

import pytest
import scipy.io
import torch
from iqa_fakes import smoke_iqa_cfg, tiny_ctx

from qtbench import registry
from qtbench.iqa import degprob as degprob_mod
from qtbench.iqa import fit_util
from qtbench.iqa import niqe_fit as niqe_mod
from qtbench.iqa.api import MemberConfig
from qtbench.iqa.ensemble import build_ensemble


@pytest.fixture(scope="module")
def ctx():
    return tiny_ctx()


@pytest.fixture(scope="module")
def cfg():
    return smoke_iqa_cfg()


@pytest.fixture(scope="module")
def niqe(ctx, cfg):
    return niqe_mod.NIQEFitMember.build(MemberConfig(name="niqe_fit"), cfg, ctx)


@pytest.fixture(scope="module")
def degprob(ctx, cfg):
    return degprob_mod.DegProbMember.build(MemberConfig(name="degprob"), cfg, ctx)


def _held_out_pairs(ctx, n=16, size=32):
    import numpy as np

    return fit_util.paired_crops(ctx.train, n, size, np.random.default_rng(123))


def test_registered_through_entry_points():
    assert {"niqe_fit", "degprob"} <= set(registry.iqa.names())


def test_niqe_fit_writes_a_pyiqa_compatible_model(niqe):
    m = scipy.io.loadmat(niqe.cache_file)
    assert m["mu_prisparam"].shape == (1, 36) and m["cov_prisparam"].shape == (36, 36)
    assert niqe.lower_better and not niqe.differentiable and niqe.hi > niqe.lo
    import pyiqa

    # the same file loads as pyiqa's own NIQE pristine model (its 96-px blocks need a >= 96 px image)
    metric = pyiqa.create_metric("niqe", pretrained_model_path=niqe.cache_file, device="cpu")
    assert torch.isfinite(metric(torch.rand(1, 3, 96, 96))).all()


def test_niqe_fit_batched_equals_per_image(niqe):
    x = torch.rand(4, 3, 32, 32)
    x[:2] = torch.nn.functional.avg_pool2d(x[:2], 3, 1, 1)
    batch = niqe.raw(x)
    single = torch.cat([niqe.raw(x[i : i + 1]) for i in range(4)])
    assert batch.shape == (4,) and torch.allclose(batch, single, atol=1e-5)


def test_niqe_fit_equals_pyiqa_niqe_and_survives_flat_images(niqe):
    from pyiqa.archs.niqe_arch import niqe as pyiqa_niqe

    x = torch.rand(3, 3, 32, 48)
    ref = pyiqa_niqe(niqe_mod.luma255(x), niqe.mu.repeat(3, 1), niqe.cov.repeat(3, 1, 1), 16, 16)
    assert torch.allclose(niqe.raw(x), ref.float(), rtol=1e-5)
    # pyiqa's niqe() crashes in pinv on a flat image; here it is NaN, and the ensemble uses its fallback
    flat = torch.cat([torch.full((1, 3, 32, 32), 0.5), x[:1, :, :, :32]])
    raw = niqe.raw(flat)
    assert torch.isnan(raw[0]) and torch.isfinite(raw[1])
    from qtbench.iqa.ensemble import Ensemble

    ens = Ensemble({"niqe_fit": niqe}, {"niqe_fit": 1.0}, preset="custom", fallback=0.5)
    assert ens.score(flat).combined[0] == 0.5


def test_niqe_fit_cache_reused(niqe, ctx, cfg, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("refitted although cached")

    monkeypatch.setattr(niqe_mod, "fit_pristine", boom)
    again = niqe_mod.NIQEFitMember.build(MemberConfig(name="niqe_fit"), cfg, ctx)
    assert again.cache_file == niqe.cache_file and torch.equal(again.mu, niqe.mu)
    assert (again.lo, again.hi) == (niqe.lo, niqe.hi)


def test_degprob_scores_clean_higher_than_degraded_and_is_frozen(degprob, ctx):
    clean, deg = _held_out_pairs(ctx)
    sc, sd = degprob(clean), degprob(deg)
    assert sc.mean() > sd.mean() + 0.2, (sc.mean(), sd.mean())
    assert ((sc >= 0) & (sc <= 1)).all()
    assert not degprob.net.training and not any(p.requires_grad for p in degprob.parameters())
    assert sum(p.numel() for p in degprob.parameters()) < 100_000
    x = clean[:2].clone().requires_grad_(True)
    degprob(x).sum().backward()
    assert x.grad.abs().sum() > 0  # differentiable w.r.t. the image


def test_degprob_cache_reused_and_global_rng_untouched(degprob, ctx, cfg, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(degprob_mod, "train_degprob", boom)
    again = degprob_mod.DegProbMember.build(MemberConfig(name="degprob"), cfg, ctx)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(again(x), degprob(x))


def test_degprob_training_leaves_the_run_rng_alone(ctx):
    cfg = smoke_iqa_cfg()
    cfg.degprob.iters = 2
    state = torch.get_rng_state()
    degprob_mod.train_degprob(ctx, cfg.degprob)
    assert torch.equal(state, torch.get_rng_state())


def test_fits_are_keyed_by_data(cfg):
    other = tiny_ctx(seed=1, key="other-data")
    a = fit_util.cache_path("degprob", tiny_ctx(), cfg.degprob, 1, "pt")
    b = fit_util.cache_path("degprob", other, cfg.degprob, 1, "pt")
    cfg2 = smoke_iqa_cfg()
    cfg2.degprob.iters = 81
    c = fit_util.cache_path("degprob", tiny_ctx(), cfg2.degprob, 1, "pt")
    assert len({a, b, c}) == 3


def test_offline_preset_builds_and_scores(ctx, cfg, niqe, degprob):
    ens = build_ensemble(cfg, ctx)
    assert ens.preset == "offline" and set(ens.members) == {"niqe_fit", "piqe", "degprob"}
    assert ens.weights == {"niqe_fit": 0.4, "piqe": 0.4, "degprob": 0.2}
    clean, deg = _held_out_pairs(ctx, n=8)
    s = ens.score(torch.cat([clean, deg]))
    assert s.combined.shape == (16,) and torch.isfinite(s.combined).all()
    assert s.combined[:8].mean() > s.combined[8:].mean()
    mask = ens.block_mask(clean[:2], cfg.block_size)
    assert mask.shape == (2, 1, 32, 32) and torch.isfinite(mask).all()
    assert ens.describe()["members"]["niqe_fit"]["cache_file"] == niqe.cache_file
