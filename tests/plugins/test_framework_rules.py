"""Selection rules of filter, semiuir and colabator with hand-made scores (docs/frameworks.md §2-§4)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from qtbench.config.compose import compose_run
from qtbench.engine.plugin_api import FrameworkContext, PLBatch, TargetBatch
from qtbench.iqa.api import Scores
from qtbench_methods.colabator import LabelPool, pareto_ok
from qtbench_methods.filter import ThresholdFilter, threshold
from qtbench_methods.pl_common import sigmoid_rampup, warmup_ema
from qtbench_methods.semiuir import ReliableBank
from resume_helpers import uninterrupted_and_resumed

CPU = torch.device("cpu")


class TableEnsemble(nn.Module):
    """Hand-made scores: ``member_scores`` pops the next queued table; a black image scores ``black``;
    ``block_mask`` gives each member a constant tile score from ``tiles``."""

    preset = "offline"

    def __init__(self, black: float = 0.1, tiles: dict[str, float] | None = None) -> None:
        super().__init__()
        self.queue: list[dict[str, Tensor]] = []
        self.black = black
        self.tiles = tiles or {}

    def member_scores(self, images: Tensor, names: list[str]) -> dict[str, Tensor]:
        return self.queue.pop(0)

    def score(self, images: Tensor) -> Scores:
        v = torch.full((images.shape[0],), self.black)
        return Scores(members={"piqe": v, "niqe_fit": v, "degprob": v}, combined=v)

    def block_mask(self, images: Tensor, block: int, weights: dict[str, float] | None = None) -> Tensor:
        value = sum(w * self.tiles[k] for k, w in weights.items())
        return torch.full_like(images[:, :1], value)


def _framework(cls, method, *overrides, ensemble=None, student=None, addons=()):
    cfg = compose_run(method, "dehaze", scale="smoke", overrides=["framework.cp_weight=0", *overrides])
    fw = cls(cfg.framework)
    fw.setup(FrameworkContext(ensemble, 10, CPU, 0, 16, cfg=cfg, addons=addons, student=student))
    return fw


def _pl(values, scores: dict[str, list], combined=None) -> PLBatch:
    """Crop i, candidate c: constant 2x2 image ``values[i][c]``; member scores per crop and candidate."""
    cands = torch.tensor(values, dtype=torch.float32)[:, :, None, None, None].expand(-1, -1, 3, 2, 2).clone()
    pl = PLBatch.from_candidates(cands)
    pl.scores = {k: torch.tensor(v, dtype=torch.float32) for k, v in scores.items()}
    pl.score = torch.tensor(combined if combined is not None else next(iter(scores.values())), dtype=torch.float32)
    pl.label_score = pl.score[:, 0] if pl.owner is None else pl.score.flatten()
    return pl


def _batch(keys) -> TargetBatch:
    x = torch.full((len(keys), 3, 2, 2), 0.5)
    return TargetBatch(torch.zeros(len(keys)), x, x, key=torch.tensor(keys))


def _pixels(pl: PLBatch) -> list[float]:
    return [round(v, 4) for v in pl.label[:, 0, 0, 0].tolist()]


# -- filter ------------------------------------------------------------------------------------------
def test_threshold_absolute_and_quantile():
    h = torch.tensor([0.1, 0.2, 0.3, 0.4])
    assert float(threshold(h, "absolute", 0.7, 0.5)) == pytest.approx(0.7)
    assert float(threshold(h, "quantile", 0.7, 0.5)) == pytest.approx(0.25)  # between 0.2 and 0.3
    assert float(threshold(h, "quantile", 0.7, 0.25)) == pytest.approx(0.175)  # 0.1 + 0.75 * (0.2 - 0.1)


def test_filter_drops_below_tau_and_keeps_the_denominator():
    fw = _framework(ThresholdFilter, "filter")
    pl = fw.select(_pl([[0.2], [0.4], [0.6], [0.8]], {"s": [[0.69], [0.7], [0.9], [0.1]]}), _batch([0, 1, 2, 3]), 0)
    assert pl.weight.tolist() == [0.0, 1.0, 1.0, 0.0] and float(pl.norm) == 4.0  # s >= 0.7 kept (ties kept)
    assert pl.keep.tolist() == [False, True, True, False]
    # loss = (|0.5-0.4| + |0.5-0.6|) / 4 crops: dropping halves the unsupervised signal
    pred = torch.full((4, 3, 2, 2), 0.5)
    assert float(fw.target_loss(pred, pl)) == pytest.approx(0.05)
    assert float(fw.step_metrics()["filter/kept_fraction"]) == 0.5


def test_filter_quantile_window_and_views():
    fw = _framework(ThresholdFilter, "filter", "framework.mode=quantile", "framework.window=6")
    pl = fw.select(_pl([[0.1, 0.1], [0.2, 0.2]], {"s": [[0.1, 0.2], [0.3, 0.4]]}), _batch([0, 1]), 0)
    # median of {0.1..0.4} = 0.25; two views per crop -> 4 labels, denominator 4
    assert pl.weight.tolist() == [0.0, 0.0, 1.0, 1.0] and float(pl.norm) == 4.0
    pl = fw.select(_pl([[0.1, 0.1], [0.2, 0.2]], {"s": [[0.5, 0.05], [0.6, 0.2]]}), _batch([0, 1]), 1)
    # ring buffer of 6: {0.3, 0.4, 0.5, 0.05, 0.6, 0.2} -> median 0.35
    assert float(fw.step_metrics()["filter/tau"]) == pytest.approx(0.35)
    assert pl.weight.tolist() == [1.0, 0.0, 1.0, 0.0] and pl.cand_keep.tolist() == [[True, False], [True, False]]


def test_filter_with_bank_keeps_the_best_passing_label():
    fw = _framework(ThresholdFilter, "filter", "framework.with_bank=true", "framework.storage=float32")
    pl = fw.select(_pl([[0.2], [0.4]], {"s": [[0.8], [0.5]]}), _batch([3, 4]), 0)
    assert _pixels(pl) == [0.2, 0.0] and pl.weight.tolist() == [1.0, 0.0] and float(pl.norm) == 2.0
    # key 3: a passing but worse PL (0.75 < 0.8) does not replace; key 4: first passing PL is stored
    pl = fw.select(_pl([[0.6], [0.7]], {"s": [[0.75], [0.9]]}), _batch([3, 4]), 1)
    assert _pixels(pl) == [0.2, 0.7] and pl.weight.tolist() == [1.0, 1.0]
    assert pl.label_score.tolist() == pytest.approx([0.8, 0.9])


def test_filter_with_bank_and_bank_addon_conflict():
    from qtbench.errors import UserError

    with pytest.raises(UserError, match="bank replaces with_bank"):
        compose_run("filter+bank", "dehaze", scale="smoke", overrides=["framework.with_bank=true"])


def test_bank_addon_stores_only_candidates_the_framework_kept():
    from qtbench_methods.bank import MemoryBank
    from qtbench.engine.plugin_api import AddOnContext

    cfg = compose_run("filter+maug+bank", "dehaze", scale="smoke")
    bank = MemoryBank(cfg, cfg.addons.bank)
    bank.setup(AddOnContext(None, total_iters=10, device=CPU, n_keys=8))
    fw = _framework(ThresholdFilter, "filter+maug+bank", addons=("maug", "bank"))
    pl = _pl([[0.2, 0.4, 0.6]], {"s": [[0.9, 0.3, 0.8]]})
    pl = bank.on_select(fw.select(pl, _batch([5]), 0), _batch([5]), 0)
    stored = bank.bank_entry(5)["image"][:, 0, 0, 0].float() / 255.0
    assert [round(v, 2) for v in stored.tolist()] == [0.2, 0.6]  # 0.3 < tau: never banked


# -- semiuir -----------------------------------------------------------------------------------------
def test_semiuir_replaces_only_when_teacher_beats_student_and_bank():
    ens = TableEnsemble(black=0.1)
    student = nn.Identity()
    fw = _framework(ReliableBank, "semiuir", "framework.storage=float32", ensemble=ens, student=student)
    # step 1 (empty bank = black, score 0.1): teacher 0.5 vs student [0.4, 0.6, 0.4]
    ens.queue.append({"piqe": torch.tensor([0.4, 0.6, 0.4])})
    pl = fw.select(_pl([[0.2], [0.3], [0.4]], {"piqe": [[0.5], [0.5], [0.5]]}), _batch([0, 1, 2]), 0)
    assert _pixels(pl) == [0.2, 0.0, 0.4]  # crop 1: the student wins, positive = the black bank image
    assert pl.weight.tolist() == [1.0, 1.0, 1.0] and pl.label_score.tolist() == pytest.approx([0.5, 0.1, 0.5])
    # step 2: bank holds [0.5, black 0.1, 0.5]; teacher [0.45, 0.7, 0.5] (0.5 ties: no replacement)
    ens.queue.append({"piqe": torch.tensor([0.1, 0.1, 0.1])})
    pl = fw.select(_pl([[0.6], [0.7], [0.8]], {"piqe": [[0.45], [0.7], [0.5]]}), _batch([0, 1, 2]), 1)
    assert _pixels(pl) == [0.2, 0.7, 0.4]
    assert float(fw.step_metrics()["semiuir/accept_rate"]) == pytest.approx(1 / 3)
    assert fw.store.n_used == 3


def test_semiuir_best_view_then_acceptance_and_gate_fallback():
    ens = TableEnsemble(black=0.1)
    fw = _framework(ReliableBank, "semiuir", "framework.storage=float32", ensemble=ens, student=nn.Identity())
    ens.queue.append({"piqe": torch.tensor([0.2, 0.2])})
    pl = _pl([[0.2, 0.3, 0.4], [0.5, 0.6, 0.7]], {"piqe": [[0.3, 0.9, 0.5], [0.4, 0.1, 0.3]]})
    pl.keep = torch.tensor([True, False])  # the gate dropped crop 1 (empty bank): no label to train on
    pl = fw.select(pl, _batch([0, 1]), 0)
    assert _pixels(pl) == [0.3, 0.0] and pl.weight.tolist() == [1.0, 0.0] and pl.owner is None


def test_semiuir_schedules():
    assert sigmoid_rampup(0, 10) == pytest.approx(math.exp(-5))
    assert sigmoid_rampup(5, 10) == pytest.approx(math.exp(-1.25))
    assert sigmoid_rampup(20, 10) == 1.0 and sigmoid_rampup(3, 0) == 1.0
    assert [warmup_ema(t, 0.996) for t in (0, 1, 3, 10_000)] == pytest.approx([0.0, 0.5, 0.75, 0.996])
    fw = _framework(ReliableBank, "semiuir", ensemble=TableEnsemble(), student=nn.Identity())
    assert fw.pl_weight(0) == pytest.approx(0.2 * math.exp(-5)) and fw.pl_weight(5) == pytest.approx(0.2)
    assert fw.ema_decay(0, 0.99) == 0.0
    assert _framework(ReliableBank, "semiuir", "framework.ema=engine", ensemble=TableEnsemble(),
                      student=nn.Identity()).ema_decay(0, 0.99) == 0.99


# -- colabator ---------------------------------------------------------------------------------------
def test_pareto_rule():
    m_old, c_old = torch.tensor([0.5]), torch.tensor([0.5])
    m_new, c_new = torch.tensor([0.6, 0.5, 0.6, 0.4]), torch.tensor([0.6, 0.5, 0.4, 0.9])
    assert pareto_ok(m_new, c_new, m_old, c_old, torch.tensor([True])).tolist() == [True, True, False, False]
    assert pareto_ok(m_new, c_new, m_old, c_old, torch.tensor([False])).all()


def test_colabator_pool_replaces_only_when_every_score_improves():
    ens = TableEnsemble(tiles={"piqe": 0.8, "degprob": 0.4})
    fw = _framework(LabelPool, "colabator", ensemble=ens)
    scores = {"piqe": [[0.5], [0.5], [0.5]], "degprob": [[0.5], [0.5], [0.5]]}
    pl = fw.select(_pl([[0.2], [0.3], [0.4]], scores, combined=[[0.5], [0.5], [0.5]]), _batch([0, 1, 2]), 0)
    assert _pixels(pl) == [0.2, 0.3, 0.4] and pl.weight.tolist() == [1.0, 1.0, 1.0]  # first visits store
    assert float(pl.mask.mean()) == pytest.approx(0.6, abs=1e-6)  # (0.8 + 0.4) / 2
    ens.tiles = {"piqe": 0.2, "degprob": 0.2}
    scores = {"piqe": [[0.6], [0.6], [0.5]], "degprob": [[0.6], [0.4], [0.5]]}
    pl = fw.select(_pl([[0.6], [0.7], [0.8]], scores, combined=[[0.6], [0.52], [0.5]]), _batch([0, 1, 2]), 1)
    # crop 0 improves both: replaced; crop 1 loses on DA-CLIP: pooled PL and pooled mask; crop 2 ties: replaced
    assert _pixels(pl) == [0.6, 0.3, 0.8]
    assert pl.mask[:, 0, 0, 0].tolist() == pytest.approx([0.2, 0.6, 0.2], abs=1e-3)  # pooled masks: float16
    assert pl.label_score.tolist() == pytest.approx([0.6, 0.5, 0.5])


def test_colabator_mask_options():
    ens = TableEnsemble(tiles={"piqe": 0.8, "degprob": 0.4})
    x = torch.zeros(1, 3, 2, 2)
    sign = _framework(LabelPool, "colabator", "framework.clip_mask_sign=official", ensemble=ens)
    assert float(sign.trust_mask(x).mean()) == pytest.approx(0.7)  # (0.8 + (1 - 0.4)) / 2
    mult = _framework(LabelPool, "colabator", "framework.weight_map=multiplication", ensemble=ens)
    assert float(mult.trust_mask(x).mean()) == pytest.approx(0.32)


# -- checkpoints ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, extra", [
    ("filter", ["framework.with_bank=true", "framework.mode=quantile", "framework.window=8",
                "framework.cp_weight=1.0"]),
    ("semiuir", []),
    ("colabator+maug", []),
])
@pytest.mark.slow
def test_interrupted_run_resumes_bit_identically(method, extra, tmp_path, monkeypatch):
    """Stored PLs, running quantiles and counters live in the checkpoint (docs/frameworks.md §3.6, §4.6); 48-px crops
    make 4 keys per image, so stores are revisited within 8 steps."""
    import json

    overrides = ["pl.crop=48", "pl.iters=8", "pl.checkpoint_every=2", "pl.trajectory_points=1",
                 "runtime.progress=false", "runtime.threads=1", *extra]
    ref, resumed = uninterrupted_and_resumed(method, overrides, 5, tmp_path, monkeypatch)
    assert json.dumps(resumed["metrics"], sort_keys=True) == json.dumps(ref["metrics"], sort_keys=True)
    assert resumed["framework"] == ref["framework"] and ref["framework"]["keys_stored"] > 0


def test_semiuir_teacher_init_stores_first_visits():
    ens = TableEnsemble(black=0.1)
    fw = _framework(ReliableBank, "semiuir", "framework.storage=float32", "framework.init=teacher", ensemble=ens,
                    student=nn.Identity())
    ens.queue.append({"piqe": torch.tensor([0.9, 0.9])})  # the student wins everywhere
    pl = fw.select(_pl([[0.2], [0.3]], {"piqe": [[0.5], [0.5]]}), _batch([0, 1]), 0)
    assert _pixels(pl) == [0.2, 0.3] and fw.store.n_used == 2
    ens.queue.append({"piqe": torch.tensor([0.9, 0.9])})
    pl = fw.select(_pl([[0.6], [0.7]], {"piqe": [[0.8], [0.8]]}), _batch([0, 1]), 1)
    assert _pixels(pl) == [0.2, 0.3]  # revisits follow the normal rule
