"""Reward agreement (docs/agreement.md): the fidelity oracle, the alpha/sigma knobs, identities, the measurement,
and the pipeline check that pref adds no gradient through a reward without differentiable members."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from addon_fakes import FakeStudent
from iqa_fakes import Brightness, OffsetBrightness

from qtbench.config.compose import compose_run, config_hash, identity
from qtbench.engine.plugin_api import AddOnContext, PLBatch, TargetBatch
from qtbench.engine.referee import AgreementProbe, CropRefs, spearman
from qtbench.engine.student_pass import StudentPass
from qtbench.errors import UserError
from qtbench.iqa.ensemble import Ensemble
from qtbench.iqa.fidelity import Reference, gaussian, noise_ids, oracle_member, psnr
from qtbench_methods.pref import PreferenceLoss


def _pairs(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, 3, 16, 16, generator=g)
    noise = torch.linspace(0.01, 0.3, n).view(n, 1, 1, 1)  # increasing distortion: decreasing PSNR
    return (clean + noise * torch.randn(n, 3, 16, 16, generator=g)).clamp(0, 1), clean


def _ens(alpha=0.0, sigma=0.0, members=None):
    members = members or {"b": Brightness(), "o": OffsetBrightness()}
    weights = {k: 1.0 / len(members) for k in members}
    return Ensemble(members, weights, "fake", alpha=alpha, sigma=sigma,
                    oracle=oracle_member(10.0, 40.0) if alpha > 0 else None, seed=3)


def test_default_agreement_fields_keep_run_identities():
    for method in ("mt", "mt+qualiteacher", "semiuir"):
        base = compose_run(method, "dehaze", scale="smoke")
        same = compose_run(method, "dehaze", scale="smoke", overrides=[
            "iqa.agreement.alpha=0.0", "iqa.agreement.sigma=0.0", "iqa.agreement.every=10",
            "iqa.agreement.lo=10.0", "iqa.agreement.hi=40.0"])
        assert config_hash(base) == config_hash(same)
        assert "agreement" not in json.dumps(identity(base))  # the section is left out whole
    other = compose_run("mt", "dehaze", scale="smoke", overrides=["iqa.agreement.alpha=0.5"])
    assert config_hash(other) != config_hash(compose_run("mt", "dehaze", scale="smoke"))


@pytest.mark.parametrize("overrides, message", [
    (["iqa.agreement.alpha=1.5"], "must be in [0, 1]"),
    (["iqa.agreement.alpha=-0.1"], "must be in [0, 1]"),
    (["iqa.agreement.alpha=0.5", "iqa.agreement.sigma=-0.1"], "use >= 0"),
    (["iqa.agreement.sigma=0.1"], "alpha > 0"),
    (["iqa.agreement.alpha=1", "iqa.agreement.lo=40", "iqa.agreement.hi=10"], "hi > lo"),
])
def test_bad_knobs_fail_at_compose(overrides, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        compose_run("mt+qcond", "dehaze", scale="smoke", overrides=overrides)


@pytest.mark.parametrize("alpha, members, oracle", [
    (0.0, ["niqe", "degprob"], False), (None, [], False), (0.25, ["niqe"], True), ("1.0", [], True),
    (0.0, ["niqe", "fidelity"], True)])
def test_one_rule_says_which_reward_reads_hidden_targets(alpha, members, oracle):
    """The rule runs (uses_fidelity) and tables (a pending cell's alpha label) share: mixed in or a member."""
    from qtbench.iqa.config import reads_hidden_targets

    assert reads_hidden_targets(alpha, members) is oracle


def test_oracle_on_own_unlabelled_data_is_one_line_exit_2(tmp_path):
    folder = tmp_path / "hazy"
    folder.mkdir()
    from PIL import Image

    for i in range(2):
        Image.fromarray(np.full((96, 96, 3), 60 + i, np.uint8)).save(folder / f"{i}.png")
    runs = tmp_path / "runs"
    out = subprocess.run([sys.executable, "-m", "qtbench.cli.main", "run", "--method", "mt+qcond", "--task", "dehaze",
                          "--scale", "smoke", "--runs-dir", str(runs), f"task.data.unlabelled={folder}",
                          "iqa.agreement.alpha=1"], capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "clean images" in out.stderr and not runs.exists()


def test_fidelity_orders_like_psnr_and_is_differentiable():
    x, clean = _pairs()
    m = oracle_member(10.0, 40.0)
    f = m.normalise(m.raw(x, clean))
    p = psnr(x, clean)
    assert torch.allclose(f, (p - 10.0) / 30.0, atol=1e-6)
    assert spearman(f.detach().numpy(), p.detach().numpy()) == pytest.approx(1.0)
    y = x.clone().requires_grad_(True)
    m.normalise(m.raw(y, clean)).sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_alpha_mixes_every_member_and_alpha_1_is_the_oracle():
    x, clean = _pairs()
    ref = Reference(clean, noise_ids(np.arange(6)))
    plain = _ens().score(x)
    f = (psnr(x, clean) - 10.0) / 30.0
    mixed = _ens(alpha=0.25).score(x, ref=ref)
    for k in ("b", "o"):
        assert torch.allclose(mixed.members[k], 0.75 * plain.members[k] + 0.25 * f, atol=1e-5)
    assert torch.allclose(mixed.combined, 0.75 * plain.combined + 0.25 * f, atol=1e-5)
    oracle = _ens(alpha=1.0).score(x, ref=ref)
    assert torch.allclose(oracle.combined, f, atol=1e-6) and torch.allclose(oracle.oracle, f, atol=1e-6)
    with pytest.raises(RuntimeError, match="clean references"):
        _ens(alpha=0.5).score(x)  # an oracle ensemble never scores without references


def test_noise_is_fixed_per_identity_not_per_call_or_batch():
    x, clean = _pairs()
    ids = noise_ids(np.arange(6), 0, 0, 0, 16, 16)
    e = _ens(alpha=1.0, sigma=0.1)
    a = e.score(x, ref=Reference(clean, ids)).combined
    b = e.score(x, ref=Reference(clean, ids)).combined
    assert torch.equal(a, b)
    rev = e.score(x.flip(0), ref=Reference(clean.flip(0), ids[::-1].copy())).combined
    assert torch.allclose(rev.flip(0), a, atol=1e-6)  # batch order does not matter
    eps = gaussian(noise_ids(np.arange(20000)), seed=3)
    assert abs(eps.mean()) < 0.03 and abs(eps.std() - 1.0) < 0.03  # standard normal
    assert not np.allclose(gaussian(ids, 3), gaussian(ids, 4))  # seeded


def test_crop_refs_keep_views_and_windows_apart():
    clean = torch.rand(2, 3, 8, 8)
    refs = CropRefs(clean, torch.tensor([5, 9]))
    c = refs.candidates(3)
    assert c.clean.shape == (6, 3, 8, 8) and torch.equal(c.clean[4], clean[1])
    assert len(set(c.ids.tolist())) == 6  # every (crop, view) its own noise
    w = refs.windows(torch.tensor([0, 4]), torch.tensor([2, 0]), (4, 4), slot=7)
    assert torch.equal(w.clean[1], clean[1, :, 4:8, 0:4])
    s = refs.rows(torch.tensor([0, 0]), 7)
    assert s.ids[0] == s.ids[1]  # the same crop and slot (pref's winner and loser): the same noise


def test_probe_measures_spearman_and_resumes():
    refs = CropRefs(torch.full((4, 3, 8, 8), 0.5), torch.arange(4))
    cands = torch.full((4, 2, 3, 8, 8), 0.5) + torch.linspace(0.0, 0.35, 8).view(4, 2, 1, 1, 1)
    pl = PLBatch.from_candidates(cands)
    pl.score = -torch.linspace(0.0, 1.0, 8).view(4, 2)  # perfectly anti-correlated with PSNR... of distance
    pl.scores = {"m": torch.linspace(0.0, 1.0, 8).view(4, 2)}
    probe = AgreementProbe(every=2)
    assert probe.due(0) and not probe.due(1) and probe.due(2)
    probe.record(pl, refs, None)
    m = probe.metrics()
    # PSNR falls as the candidates move away from the clean 0.5: ensemble (-distance) agrees, m disagrees
    assert m["iqa/agreement_srcc/ensemble"] == pytest.approx(1.0)
    assert m["iqa/agreement_srcc/m"] == pytest.approx(-1.0) and m["iqa/agreement_n"] == 8
    again = AgreementProbe(every=2)
    again.load_state_dict(probe.state_dict())
    assert again.metrics() == m
    assert "iqa/agreement_gradcos/ensemble" not in m  # nothing recorded: no gradient alignment reported


def test_probe_averages_reward_gradient_cosines_and_skips_rewards_without_gradient():
    refs = CropRefs(torch.full((2, 3, 8, 8), 0.5), torch.arange(2))
    pl = PLBatch.from_candidates(torch.rand(2, 2, 3, 8, 8))
    pl.score, pl.scores = torch.rand(2, 2), {}
    probe = AgreementProbe(every=1)
    probe.record(pl, refs, None, np.array([1.0, 0.5, float("nan"), 0.0]))
    probe.record(pl, refs, None, np.array([-0.5, 1.0, 0.5, 0.5]))
    assert probe.metrics()["iqa/agreement_gradcos/ensemble"] == pytest.approx(3.0 / 7.0)  # NaN left out
    flat = AgreementProbe(every=1)
    flat.record(pl, refs, None, np.full(4, float("nan")))  # a reward of constants only
    assert "iqa/agreement_gradcos/ensemble" not in flat.metrics()


def test_pref_adds_exactly_zero_gradient_without_differentiable_members():
    """A reward with no differentiable member is a constant: pref's loss has a value but no gradient."""
    cfg = compose_run("mt+qcond+pref", "dehaze", scale="smoke", overrides=["addons.pref.q_low=[4]"])
    pref = PreferenceLoss(cfg, cfg.addons.pref)
    ens = Ensemble({"o": OffsetBrightness()}, {"o": 1.0}, "fake")
    pref.setup(AddOnContext(ens, total_iters=10, device=torch.device("cpu")))
    student = FakeStudent()
    x = torch.rand(3, 3, 8, 8)
    pl = PLBatch.from_candidates(x[:, None])
    pl.label_score = torch.tensor([0.3, 0.2, 0.4])
    loss = pref.extra_losses(StudentPass(student, x), TargetBatch(torch.zeros(3), x, x), pl, step=5)["pref"]
    assert math.isfinite(float(loss)) and float(loss) > 0
    assert not loss.requires_grad  # nothing to back-propagate: the total's gradient is the rest's, exactly
    # with a differentiable member the same call does carry a gradient (the test can fail)
    pref.setup(AddOnContext(Ensemble({"b": Brightness()}, {"b": 1.0}, "fake"), total_iters=10,
                            device=torch.device("cpu")))
    assert pref.extra_losses(StudentPass(student, x), TargetBatch(torch.zeros(3), x, x), pl, step=5)["pref"].requires_grad


def _smoke(tmp_path, method, *overrides):
    from qtbench import runner

    cfg = compose_run(method, "dehaze", scale="smoke", runs_dir=str(tmp_path),
                      overrides=["runtime.threads=1", "runtime.progress=false", *overrides])
    return runner.execute(cfg)


@pytest.mark.slow
def test_pref_without_differentiable_reward_matches_qcond_run(tmp_path):
    members = "iqa.members=[{name:piqe,weight:1.0}]"  # pyiqa PIQE: not differentiable
    with_pref = _smoke(tmp_path, "mt+qcond+pref", members)
    without = _smoke(tmp_path, "mt+qcond", members)
    for key in ("student/target_psnr", "teacher/target_psnr", "student/val_psnr"):
        assert with_pref["metrics"][key] == pytest.approx(without["metrics"][key], abs=1e-3), key


@pytest.mark.slow
def test_oracle_reward_run_is_flagged_and_measures_agreement(tmp_path):
    s = _smoke(tmp_path, "mt+qualiteacher", "iqa.agreement.alpha=1", "iqa.agreement.sigma=0.05",
               "iqa.agreement.every=1")
    assert s["oracle_reward"] and s["uses_target_labels"]
    assert s["agreement"]["alpha"] == 1.0 and s["agreement"]["n_candidates"] > 0
    m = s["metrics"]
    assert -1.0 <= m["iqa/agreement_srcc/ensemble"] <= 1.0 and "iqa/agreement_srcc/oracle" in m
    # the oracle's gradient is PSNR's (its noise is constant per crop): aligned with the PSNR-raising direction
    assert m["iqa/agreement_gradcos/ensemble"] == pytest.approx(1.0, abs=1e-3)
    plain = _smoke(tmp_path, "mt+qcond")
    assert not plain["oracle_reward"] and "iqa/agreement_srcc/ensemble" in plain["metrics"]
    # the offline reward's gradient is degprob's: some cosine in [-1, 1], measured in a plain run too
    assert -1.0 <= plain["metrics"]["iqa/agreement_gradcos/ensemble"] <= 1.0
