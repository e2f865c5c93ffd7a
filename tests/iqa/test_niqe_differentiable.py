"""iqa.niqe_fit.differentiable: rewards get NIQE gradients, scores keep the exact numbers, identities stay put."""

import pytest
import torch
from test_niqe_speed_equivalence import _edge_cases, _teacher_like_crops, model, photos  # noqa: F401 - fixtures

from qtbench.config.compose import compose_run, config_hash
from qtbench.iqa import niqe_features as nf
from qtbench.iqa import niqe_fit as niqe_mod


def test_soft_lookup_interpolates_between_the_neighbours():
    tab = nf.aggd_table(torch.float64, torch.device("cpu"))
    i = 4000
    mid = (tab.r_gam[i] + tab.r_gam[i + 1]) / 2
    quarter = tab.r_gam[i] + 0.25 * (tab.r_gam[i + 1] - tab.r_gam[i])
    got = nf.soft_lookup(tab, torch.stack([tab.r_gam[i], mid, quarter]))
    want = torch.stack([tab.gam[i], (tab.gam[i] + tab.gam[i + 1]) / 2, tab.gam[i] + 0.25 * (tab.gam[i + 1] - tab.gam[i])])
    assert torch.allclose(got, want, rtol=0, atol=1e-12)
    # outside the table: clamped to its ends, as the nearest-entry lookup
    assert nf.soft_lookup(tab, tab.r_gam[:1] - 1.0).item() == pytest.approx(tab.gam[0].item())


def test_soft_scores_are_close_and_differentiable(photos, model):  # noqa: F811 - fixtures
    mu, cov = model
    x = _teacher_like_crops(photos, 8, 64, seed=3).requires_grad_(True)
    exact = niqe_mod.niqe_scores(x.detach(), mu, cov, 32)
    soft = niqe_mod.niqe_scores(x, mu, cov, 32, soft=True)
    assert ((soft.detach() - exact).abs() / exact).max() < 0.01  # one table step in the shape: < 1 %
    soft.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_member_differentiates_only_when_asked_and_with_grad_enabled(photos, model):  # noqa: F811
    mu, cov = model
    m = niqe_mod.NIQEFitMember(mu.numpy(), cov.numpy(), 32, 0.0, 10.0)
    x = _teacher_like_crops(photos, 4, 64, seed=5).requires_grad_(True)
    assert not m.raw(x).requires_grad  # default: the official reward, NIQE a constant
    m.differentiable = True
    assert m.raw(x).requires_grad
    with torch.no_grad():
        assert torch.equal(m.raw(x), niqe_mod.niqe_scores(x.detach(), m.mu, m.cov, 32))  # scores stay exact


@pytest.mark.slow
def test_the_option_at_its_default_keeps_run_identities():
    base = compose_run("mt+qualiteacher", "dehaze", scale="smoke")
    same = compose_run("mt+qualiteacher", "dehaze", scale="smoke", overrides=["iqa.niqe_fit.differentiable=false"])
    other = compose_run("mt+qualiteacher", "dehaze", scale="smoke", overrides=["iqa.niqe_fit.differentiable=true"])
    assert config_hash(base) == config_hash(same) != config_hash(other)


def test_flat_and_binary_images_give_finite_gradients(model):  # noqa: F811
    """Undefined AGGD fits (flat blocks: NaN in pyiqa) must not put a NaN into the graph: one would make the
    whole batch's gradient NaN and the run diverge (it did, at PL step 250, before the guards)."""
    mu, cov = model
    x = _edge_cases(64).requires_grad_(True)
    soft = niqe_mod.niqe_scores(x, mu, cov, 32, soft=True)
    exact = niqe_mod.niqe_scores(x.detach(), mu, cov, 32)
    assert torch.equal(soft.isnan(), exact.isnan())  # the same images are unscorable
    torch.where(soft.isfinite(), soft, torch.zeros_like(soft)).sum().backward()
    assert torch.isfinite(x.grad).all()
