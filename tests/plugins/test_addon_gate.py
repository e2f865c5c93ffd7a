"""gate: dual-drop gating (docs/method.md §6.2) with hand-computed stds, and the calibrated mode."""

import math

import pytest
import torch

from qtbench.config.compose import compose_run
from qtbench.engine.plugin_api import AddOnContext, PLBatch
from qtbench_methods.gate import DualDropGate, gate_stats

# two crops x three views; piqe and niqe_fit enter drop 1, degprob is excluded (docs/method.md §6.2)
SCORES = {
    "niqe_fit": torch.tensor([[0.5, 0.5, 0.5], [0.2, 0.9, 0.2]]),
    "piqe": torch.tensor([[0.5, 0.6, 0.7], [0.2, 0.9, 0.2]]),
    "degprob": torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]),
}
S_IQA = [0.2 / math.sqrt(2), 0.0]  # worst |piqe - niqe| / sqrt(2) per crop
S_AUG = [0.1, math.sqrt(((0.2 - 1.3 / 3) ** 2 * 2 + (0.9 - 1.3 / 3) ** 2) / 2)]  # unbiased std of piqe over views


def _gate(*overrides):
    cfg = compose_run("mt+maug+gate", "dehaze", scale="smoke", overrides=list(overrides))
    g = DualDropGate(cfg, cfg.addons.gate)
    ens = type("E", (), {"preset": "offline"})()
    g.setup(AddOnContext(ens, total_iters=10, device=torch.device("cpu")))
    return g


def _pl():
    pl = PLBatch.from_candidates(torch.rand(2, 3, 3, 4, 4))
    pl.scores = {k: v.clone() for k, v in SCORES.items()}
    return pl


def test_stats_by_hand():
    s_iqa, s_aug = gate_stats(SCORES, ["niqe_fit", "piqe"], "piqe")
    assert s_iqa.tolist() == pytest.approx(S_IQA, abs=1e-6)
    assert s_aug.tolist() == pytest.approx(S_AUG, abs=1e-6)
    assert S_AUG[1] == pytest.approx(0.404145, abs=1e-6)


@pytest.mark.parametrize("tau_multi, tau_aug, keep", [
    (1.0, 1.0, [True, True]),      # official thresholds: a no-op
    (0.12, 1.0, [False, True]),    # crop 0: one view's |piqe - niqe| / sqrt 2 = 0.141 > 0.12 drops all 3 views
    (0.15, 0.3, [True, False]),    # crop 1: views disagree (std 0.404 > 0.3)
    (0.15, 0.09, [False, False]),  # crop 0's std over views 0.1 > 0.09
    (0.15, 0.5, [True, True]),
])
def test_keep_and_drop(tau_multi, tau_aug, keep):
    g = _gate(f"addons.gate.tau_multi={tau_multi}", f"addons.gate.tau_aug={tau_aug}")
    pl = g.on_select(_pl(), None, 0)
    assert g.multi == ["niqe_fit", "piqe"] and g.aug == "piqe"
    assert pl.keep.tolist() == keep
    # without a bank the dropped crops' labels (3 per crop) get weight 0
    assert pl.weight.tolist() == [float(k) for k in keep for _ in range(3)]


def test_calibrated_thresholds_from_running_percentiles():
    # rate 0.19 over two tests -> each test drops r = 1 - sqrt(0.81) = 0.1 -> the 90th percentile
    g = _gate("addons.gate.mode=calibrated", "addons.gate.target_drop_rate=0.19", "addons.gate.min_history=10",
              "addons.gate.window=10")
    assert g.thresholds(3).tolist() == [1.0, 1.0]  # too little history: fixed thresholds
    g._remember(torch.stack([torch.arange(10) / 10.0, torch.arange(10) / 25.0]))
    tau = g.thresholds(3)
    assert tau.tolist() == pytest.approx([0.81, 0.324], abs=1e-6)  # linear interpolation at 0.9 * 9 = 8.1
    # with one candidate per crop the whole rate goes to drop 1: the 81st percentile
    assert float(g.thresholds(1)[0]) == pytest.approx(0.729, abs=1e-6)
    pl = g.on_select(_pl(), None, 0)
    assert pl.keep.tolist() == [True, False]  # crop 1: s_aug 0.404 > 0.324
    state = g.state_dict()
    g2 = _gate("addons.gate.mode=calibrated", "addons.gate.target_drop_rate=0.19", "addons.gate.min_history=10",
               "addons.gate.window=10")
    g2.load_state_dict(state)
    assert torch.equal(g2.thresholds(3), g.thresholds(3))
