"""crop: cropped consistency of docs/method.md §9, by hand with a fake reward (mean) and a pointwise student."""

import pytest
import torch
from addon_fakes import FakeEnsemble, FakeStudent

from qtbench.engine.windows import windows
from qtbench.config.compose import compose_run
from qtbench.engine.plugin_api import AddOnContext, PLBatch, TargetBatch
from qtbench.engine.student_pass import StudentPass
from qtbench_methods.crop import CroppedConsistency, consistency_loss

X = (torch.arange(16.0) / 16).view(1, 1, 4, 4).expand(1, 3, 4, 4).contiguous()  # x[i, j] = (4 i + j) / 16


def test_windows_gather_per_sample():
    x = torch.cat([X, X + 1])
    w = windows(x, torch.tensor([0, 2]), torch.tensor([1, 0]), (2, 2))
    assert torch.equal(w[0, 0], torch.tensor([[1.0, 2.0], [5.0, 6.0]]) / 16)
    assert torch.equal(w[1, 0], torch.tensor([[8.0, 9.0], [12.0, 13.0]]) / 16 + 1)


def test_formula_by_hand():
    assert float(consistency_loss(torch.tensor([0.5, 0.2]), torch.tensor([0.3, 0.6]), 2.0)) == pytest.approx(
        2.0 * (0.2 + 0.4) / 2)


def _crop(*overrides):
    cfg = compose_run("mt+qcond+crop", "dehaze", scale="smoke", overrides=list(overrides))
    c = CroppedConsistency(cfg, cfg.addons.crop)
    c.setup(AddOnContext(FakeEnsemble(), total_iters=10, device=torch.device("cpu")))
    return c


def test_independent_windows_by_hand(monkeypatch):
    c = _crop()
    offsets = iter([(torch.tensor([0]), torch.tensor([0])), (torch.tensor([2]), torch.tensor([2]))])
    monkeypatch.setattr(c, "_offsets", lambda *a: next(offsets))
    student = FakeStudent()
    pl = PLBatch.from_candidates(X[:, None])
    loss = c.extra_losses(StudentPass(student, X), TargetBatch(torch.zeros(1), X, X), pl, step=2)["crop"]
    # top level: S(x) = 0.85 x. Window (0,0) holds 0,1,4,5 (mean 2.5/16), window (2,2) holds 10,11,14,15
    assert float(loss.detach()) == pytest.approx(0.85 * abs(2.5 - 12.5) / 16, abs=1e-6)
    loss.backward()
    assert float(student.a.grad) != 0.0


def test_aligned_windows_and_pointwise_student_agree():
    c = _crop("addons.crop.windows=aligned")
    pl = PLBatch.from_candidates(X[:, None])
    loss = c.extra_losses(StudentPass(FakeStudent(), X), TargetBatch(torch.zeros(1), X, X), pl, step=5)["crop"]
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-7)  # crop and restore commute for a pointwise student
    assert c.extra_losses(StudentPass(FakeStudent(), X), TargetBatch(torch.zeros(1), X, X), pl, step=1) == {}


def test_reuses_the_top_level_output_of_pref():
    c = _crop("addons.crop.windows=aligned")
    pl = PLBatch.from_candidates(X[:, None])
    shared = StudentPass(FakeStudent(), X)
    shared.all_at(7)  # as pref's winner: every crop at the top level
    c.extra_losses(shared, TargetBatch(torch.zeros(1), X, X), pl, step=5)
    assert shared.decoded == 1  # crop's Y is that output, not a second pass
