"""Level diagnostics (qtbench/eval/levels.py) with a fake ensemble (mean brightness) and a fake student."""

import numpy as np
import pytest

from addon_fakes import FakeEnsemble, FakeStudent
from qtbench.eval.levels import level_diagnostics, level_metrics, reward_metric_names
from qtbench.data.containers import ImageSet


def _images():
    rng = np.random.default_rng(0)
    clean = [rng.integers(100, 200, (16, 16, 3), dtype=np.uint8) for _ in range(2)]
    return ImageSet(["a#0", "b#0"], [c // 2 for c in clean], np.array([0, 1]), clean)


def test_monotone_student_gives_rho_one():
    import torch

    student, teacher = FakeStudent(), FakeStudent()
    with torch.no_grad():
        teacher.a.fill_(0.5)  # unconditioned teacher: 0.5 x, darker than the student at the top level (0.85 x)
    d = level_diagnostics(student, teacher, _images(), FakeEnsemble(), 8, "cpu")
    assert d["levels"] == list(range(8)) and d["n_images"] == 2
    assert d["spearman_rho"] == pytest.approx(1.0)  # brighter with every level: score = mean brightness
    assert all(b > a for a, b in zip(d["score"], d["score"][1:]))
    assert d["top_minus_teacher_score"] > 0
    m = level_metrics(d)
    assert {"levels/psnr@0", "levels/score@7", "levels/spearman_rho", "levels/top_minus_teacher_psnr"} <= set(m)
    assert level_diagnostics(student, teacher, _images(), FakeEnsemble(), 4, "cpu", max_images=1)["n_images"] == 1


def test_constant_outputs_give_nan_rho():
    class Flat(FakeStudent):
        def forward(self, x, level=None):
            return x

    d = level_diagnostics(Flat(), Flat(), _images(), FakeEnsemble(), 3, "cpu")
    assert np.isnan(d["spearman_rho"])


def test_reward_metric_names():
    ens = FakeEnsemble({"niqe_fit": 0.4, "piqe": 0.4, "degprob": 0.2})
    assert reward_metric_names(ens, {"niqe_fit", "degprob"}) == ["niqe", "piqe"]
    assert reward_metric_names(None, set()) == []
    unweighted = FakeEnsemble({"niqe_fit": 0.0, "piqe": 0.4, "brisque": 0.6})
    assert reward_metric_names(unweighted, {"niqe_fit"}) == ["brisque", "piqe"]  # weight 0: no training signal
    oracle = FakeEnsemble({"niqe_fit": 0.4, "piqe": 0.6})
    oracle.alpha = 1.0  # the pure oracle: the members are not run
    assert reward_metric_names(oracle, {"niqe_fit"}) == []
