"""qcond: the level rule of docs/method.md §4 (edges by hand), other L, compose-time checks, level histogram."""

import pytest
import torch
from addon_fakes import FakeEnsemble

from qtbench.config.compose import compose_run
from qtbench.engine.plugin_api import AddOnContext, PLBatch
from qtbench.errors import UserError
from qtbench_methods.qcond import QualityConditioning, quality_levels


@pytest.mark.parametrize("s, level", [
    (-0.5, 0), (0.0, 0), (0.0999, 0), (0.1, 1), (0.25, 2), (0.5, 5), (0.6999, 6), (0.7, 7), (0.95, 7), (1.0, 7),
    (1.7, 7),
])
def test_official_rule_edges(s, level):
    assert int(quality_levels(torch.tensor([s]))[0]) == level


def test_official_rule_batched_float32_and_float64():
    s = [0.0999, 0.1, 0.6999, 0.7, -1.0, 2.0]
    want = [0, 1, 6, 7, 0, 7]
    for dtype in (torch.float32, torch.float64):
        assert quality_levels(torch.tensor(s, dtype=dtype)).tolist() == want


def test_thresholds_for_other_level_counts():
    # L = 4 with lower edges 0.25, 0.5, 0.75: level = number of edges <= s
    s = torch.tensor([-1.0, 0.2499, 0.25, 0.4999, 0.5, 0.7499, 0.75, 3.0])
    assert quality_levels(s, 4, [0.25, 0.5, 0.75]).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # the official rule written as thresholds gives the same levels at the edges
    edges = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    s = torch.tensor([0.0999, 0.1, 0.2, 0.3, 0.6999, 0.7, 1.2])
    assert quality_levels(s, 8, edges).tolist() == quality_levels(s).tolist() == [0, 1, 2, 3, 6, 7, 7]


def test_compose_checks():
    with pytest.raises(UserError, match="exceeds backbone.num_levels=8"):
        compose_run("mt+qcond", "dehaze", scale="smoke", overrides=["addons.qcond.num_levels=12",
                                                                    "addons.qcond.thresholds=[1,2,3,4,5,6,7,8,9,10,11]"])
    with pytest.raises(UserError, match="give addons.qcond.thresholds"):
        compose_run("mt+qcond", "dehaze", scale="smoke", overrides=["addons.qcond.num_levels=4"])
    with pytest.raises(UserError, match="strictly ascending"):
        compose_run("mt+qcond", "dehaze", scale="smoke",
                    overrides=["addons.qcond.num_levels=4", "addons.qcond.thresholds=[0.5,0.2,0.7]"])
    cfg = compose_run("mt+qcond", "dehaze", scale="smoke",
                      overrides=["addons.qcond.num_levels=4", "addons.qcond.thresholds=[0.2,0.4,0.6]"])
    assert QualityConditioning(cfg, cfg.addons.qcond).inference_level() == 3


def test_levels_histogram_and_inference_level():
    cfg = compose_run("mt+qcond", "dehaze", scale="smoke")
    q = QualityConditioning(cfg, cfg.addons.qcond)
    q.setup(AddOnContext(FakeEnsemble(), total_iters=10, device=torch.device("cpu")))
    assert q.inference_level() == 7
    cands = torch.rand(4, 1, 3, 8, 8)
    pl = PLBatch.from_candidates(cands)
    pl.label_score = torch.tensor([0.05, 0.75, 0.31, 0.75])
    pl.weight = torch.tensor([1.0, 1.0, 1.0, 0.0])  # a dropped label does not count in the histogram
    pl = q.on_score(pl)
    assert pl.mask.resolve().shape == (4, 1, 8, 8)  # block-wise trust mask of every candidate, on request
    pl = q.on_select(pl, None, 0)
    assert pl.level.tolist() == [0, 7, 3, 7]
    assert q.summary()["pl_level_histogram"] == [1, 0, 0, 1, 0, 0, 0, 1]
    state = q.state_dict()
    q2 = QualityConditioning(cfg, cfg.addons.qcond)
    q2.load_state_dict(state)
    assert q2.summary() == q.summary()
