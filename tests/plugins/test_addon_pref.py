"""pref: the preference loss of docs/method.md §8, by hand with a fake reward (mean brightness) and student."""

import math

import pytest
import torch
from addon_fakes import FakeEnsemble, FakeStudent

from qtbench.config.compose import compose_run
from qtbench.engine.plugin_api import AddOnContext, PLBatch, TargetBatch
from qtbench.engine.student_pass import StudentPass
from qtbench.errors import UserError
from qtbench_methods.pref import PreferenceLoss, label_anchor, preference_loss, scaled_levels


def softplus(z):
    return math.log1p(math.exp(z))


def test_formula_by_hand():
    r_w, r_l = torch.tensor([0.34, 0.5]), torch.tensor([0.28, 0.1])
    anchor, has = torch.tensor([0.30, 0.0]), torch.tensor([True, False])
    total, l1, l2 = preference_loss(r_w, r_l, anchor, has, beta=1.0, delta=0.1, lam=1.0, lam2=0.5)
    want_l1 = softplus(-(0.34 - 0.28 - 0.1)) + softplus(-(0.5 - 0.1 - 0.1))
    want_l2 = softplus(-(0.34 - 0.30))  # crop 1 has no PL: no anchor term
    assert float(l1) == pytest.approx(want_l1, abs=1e-6) and float(l2) == pytest.approx(want_l2, abs=1e-6)
    assert float(total) == pytest.approx((want_l1 + 0.5 * want_l2) / 2, abs=1e-6)
    total, _, _ = preference_loss(r_w, r_l, anchor, has, beta=2.0, delta=0.0, lam=0.5, lam2=1.0)
    want = 0.5 * (softplus(-2 * 0.06) + softplus(-2 * 0.4) + softplus(-2 * 0.04)) / 2
    assert float(total) == pytest.approx(want, abs=1e-6)


def test_anchor_best_and_worst_banked_pl():
    pl = PLBatch(torch.zeros(3, 1, 3, 2, 2), torch.zeros(4, 3, 2, 2), torch.tensor([1.0, 1.0, 0.0, 1.0]),
                 owner=torch.tensor([0, 0, 0, 2]), label_score=torch.tensor([0.3, 0.6, 0.9, 0.2]))
    best, has = label_anchor(pl, 3, best=True)
    assert best.tolist() == pytest.approx([0.6, 0.0, 0.2]) and has.tolist() == [True, False, True]
    worst, _ = label_anchor(pl, 3, best=False)  # the zero-weight label (0.9) is not a PL the student trains on
    assert worst.tolist() == pytest.approx([0.3, 0.0, 0.2])


def test_q_low_rescaled_for_other_level_counts():
    assert scaled_levels([4, 5, 6], 8, 8) == [4, 5, 6]
    assert scaled_levels([4, 5, 6], 8, 4) == [2, 3]  # 4*3/7=1.71->2, 5*3/7=2.14->2, 6*3/7=2.57->3
    with pytest.raises(UserError, match="every low level"):
        compose_run("mt+qcond+pref", "dehaze", scale="smoke",
                    overrides=["addons.qcond.num_levels=4", "addons.qcond.thresholds=[0.2,0.4,0.6]"])


def test_extra_loss_end_to_end_by_hand():
    cfg = compose_run("mt+qcond+pref", "dehaze", scale="smoke", overrides=["addons.pref.q_low=[4]"])
    pref = PreferenceLoss(cfg, cfg.addons.pref)
    pref.setup(AddOnContext(FakeEnsemble(), total_iters=10, device=torch.device("cpu")))
    assert pref.start_step == 2  # 0.2 of 10 iterations
    student = FakeStudent()
    x = torch.full((1, 3, 4, 4), 0.4)
    pl = PLBatch.from_candidates(x[:, None])
    pl.label_score = torch.tensor([0.3])
    batch = TargetBatch(torch.zeros(1), x, x)
    shared = StudentPass(student, x)
    assert pref.extra_losses(shared, batch, pl, step=1) == {}  # before the start iteration
    loss = pref.extra_losses(shared, batch, pl, step=2)["pref"]
    # y_w = 0.4 (0.5 + 0.05 * 7) = 0.34, y_l = 0.4 (0.5 + 0.05 * 4) = 0.28; r = mean
    want = softplus(-(0.34 - 0.28 - 0.1)) + 0.5 * softplus(-(0.34 - 0.3))
    assert float(loss.detach()) == pytest.approx(want, abs=1e-5)
    loss.backward()
    assert student.a.grad is not None and float(student.a.grad) != 0.0
    assert torch.allclose(shared.all_at(7), torch.full((1, 3, 4, 4), 0.34))  # shared with crop and the labels
    assert shared.decoded == 2  # the winner pair was restored once, not again for all_at


@pytest.mark.parametrize("loser_grad", [True, False])
def test_loser_grad_by_hand(loser_grad):
    """d loss / d a with the fake student S = a x (0.5 + 0.05 q) at a = 1, x = 0.4, q_low = 4, anchor 0.3.

    r_w = 0.34 a, r_l = 0.28 a; z1 = r_w - r_l - 0.1, z2 = r_w - 0.3;
    dL/da = -sigmoid(-z1) dz1/da - 0.5 sigmoid(-z2) 0.34, with dz1/da = 0.06 (both branches, official) or
    0.34 (loser constant).
    """
    cfg = compose_run("mt+qcond+pref", "dehaze", scale="smoke",
                      overrides=["addons.pref.q_low=[4]", f"addons.pref.loser_grad={str(loser_grad).lower()}"])
    pref = PreferenceLoss(cfg, cfg.addons.pref)
    pref.setup(AddOnContext(FakeEnsemble(), total_iters=10, device=torch.device("cpu")))
    student = FakeStudent()
    x = torch.full((1, 3, 4, 4), 0.4)
    pl = PLBatch.from_candidates(x[:, None])
    pl.label_score = torch.tensor([0.3])
    pref.extra_losses(StudentPass(student, x), TargetBatch(torch.zeros(1), x, x), pl, step=2)["pref"].backward()

    def sig(z):
        return 1.0 / (1.0 + math.exp(-z))

    dz1 = 0.06 if loser_grad else 0.34
    want = -sig(-(0.34 - 0.28 - 0.1)) * dz1 - 0.5 * sig(-(0.34 - 0.3)) * 0.34
    assert float(student.a.grad) == pytest.approx(want, abs=1e-6)
