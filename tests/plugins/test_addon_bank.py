"""bank: top-k merge with hand-made scores (docs/method.md §7), gate fallback, labels per crop, checkpoints."""

import pytest
import torch

from qtbench.config.compose import compose_run
from qtbench.engine.candidate_masks import CandidateMasks
from qtbench.engine.plugin_api import AddOnContext, Framework, PLBatch, TargetBatch
from qtbench_methods.bank import MemoryBank


def _bank(*overrides, n_keys=16):
    cfg = compose_run("mt+maug+bank", "dehaze", scale="smoke", overrides=list(overrides))
    b = MemoryBank(cfg, cfg.addons.bank)
    b.setup(AddOnContext(None, total_iters=10, device=torch.device("cpu"), n_keys=n_keys))
    return b


def _step(bank, keys, m1, m2, values, keep=None, weights=(0.5, 0.5), masks=False):
    """One merge: crops ``keys``; candidate c of crop i is a constant image ``values[i][c]`` with member scores
    m1[i][c], m2[i][c]; combined = w1 m1 + w2 m2. ``masks``: each candidate's mask is half its value."""
    m1, m2 = torch.tensor(m1), torch.tensor(m2)
    cands = torch.tensor(values)[:, :, None, None, None].expand(-1, -1, 3, 4, 4).clone()
    pl = PLBatch.from_candidates(cands)
    pl.scores = {"m1": m1, "m2": m2}
    pl.score = weights[0] * m1 + weights[1] * m2
    pl.keep = None if keep is None else torch.tensor(keep)
    if masks:
        pl.cand_mask = CandidateMasks(cands, lambda images: images[:, :1] / 2)
    batch = TargetBatch(torch.zeros(len(keys)), cands[:, 0], cands[:, 0], key=torch.tensor(keys))
    out = bank.on_select(pl, batch, 0)
    return (out, pl.cand_mask.computed) if masks else out


def _stored(bank, key):
    e = bank.bank_entry(key)
    return [round(float(v), 4) for v in e["image"][:, 0, 0, 0].float() / 255.0]


def test_top_k_merge_by_unweighted_sum():
    bank = _bank()
    # step 1: key 5 gets c0 (sum 0.5, value 0.2) and c1 (sum 0.7, value 0.4): both stored, best first
    _step(bank, [5], [[0.2, 0.6]], [[0.3, 0.1]], [[0.2, 0.4]])
    assert _stored(bank, 5) == [0.4, 0.2]
    # step 2: d0 (sum 1.8, value 0.6) and d1 (sum 0.2, value 0.8) -> top 3 of {0.7, 0.5, 1.8, 0.2}
    pl = _step(bank, [5], [[0.9, 0.1]], [[0.9, 0.1]], [[0.6, 0.8]])
    assert _stored(bank, 5) == [0.6, 0.4, 0.2]
    # the student trains on all three, each with its stored combined score (for its level), weight 1/3 each
    assert pl.owner.tolist() == [0, 0, 0]
    assert pl.label[:, 0, 0, 0].tolist() == pytest.approx([0.6, 0.4, 0.2], abs=1e-6)
    assert pl.label_score.tolist() == pytest.approx([0.9, 0.35, 0.25], abs=1e-6)
    assert pl.weight.tolist() == pytest.approx([1 / 3] * 3) and float(pl.norm) == 1.0
    # step 3: the gate dropped the crop: its better candidates are ignored, the bank is returned unchanged
    pl = _step(bank, [5], [[1.0, 1.0]], [[1.0, 1.0]], [[0.9, 1.0]], keep=[False])
    assert _stored(bank, 5) == [0.6, 0.4, 0.2] and pl.label.shape[0] == 3


def test_masks_are_computed_for_the_candidates_that_enter_only():
    bank = _bank()
    # step 1: both candidates of key 5 enter the empty bank: two masks computed and stored
    _, computed = _step(bank, [5], [[0.2, 0.6]], [[0.3, 0.1]], [[0.2, 0.4]], masks=True)
    assert computed == 2
    # step 2 (as in the top-k test): d0 (value 0.6) enters, d1 (0.8, sum 0.2) does not: one mask computed
    pl, computed = _step(bank, [5], [[0.9, 0.1]], [[0.9, 0.1]], [[0.6, 0.8]], masks=True)
    assert computed == 1
    # every stored entry carries its own candidate's mask (half its value), best entry first
    assert pl.mask[:, 0, 0, 0].tolist() == pytest.approx([0.3, 0.2, 0.1], abs=1e-3)
    # the same key twice in a batch: its candidates' masks are computed once
    _, computed = _step(bank, [9, 9], [[0.5, 0.4], [0.5, 0.4]], [[0.5, 0.4], [0.5, 0.4]],
                        [[0.2, 0.4], [0.2, 0.4]], masks=True)
    assert computed == 2


def test_ranking_sum_vs_combined():
    # x: m1 0.8, m2 0.0 (sum 0.8, combined 0.72); y: m1 0.3, m2 0.6 (sum 0.9, combined 0.33)
    args = ([3], [[0.8, 0.3]], [[0.0, 0.6]], [[0.2, 0.4]])
    bank = _bank("addons.bank.k=1")
    _step(bank, *args, weights=(0.9, 0.1))
    assert _stored(bank, 3) == [0.4]  # official: unweighted sum prefers y
    bank = _bank("addons.bank.k=1", "addons.bank.ranking=combined")
    _step(bank, *args, weights=(0.9, 0.1))
    assert _stored(bank, 3) == [0.2]


def test_batch_with_new_old_dropped_and_duplicate_keys():
    bank = _bank("addons.bank.slot_reduction=sum")
    _step(bank, [1], [[0.5, 0.4]], [[0.5, 0.4]], [[0.2, 0.4]])
    # crop 0: key 1 (stored), dropped; crop 1: key 2, new, dropped -> no labels; crops 2, 3: key 7 twice
    pl = _step(bank, [1, 2, 7, 7], [[0.9, 0.9], [0.9, 0.9], [0.1, 0.3], [0.1, 0.3]],
               [[0.9, 0.9], [0.9, 0.9], [0.1, 0.3], [0.1, 0.3]],
               [[0.6, 0.6], [0.6, 0.6], [0.8, 1.0], [0.8, 1.0]], keep=[False, False, True, True])
    assert _stored(bank, 1) == [0.2, 0.4] and bank.bank_entry(2) is None and _stored(bank, 7) == [1.0, 0.8]
    assert pl.owner.tolist() == [0, 0, 2, 2, 3, 3]
    assert pl.weight.tolist() == [1.0] * 6  # "sum": every entry's loss is added ...
    assert float(pl.norm) == 3.0  # ... and averaged over the 3 crops that have entries


def test_state_dict_round_trip():
    bank = _bank()
    _step(bank, [4, 9], [[0.2, 0.6], [0.1, 0.2]], [[0.3, 0.1], [0.1, 0.2]], [[0.2, 0.4], [0.6, 0.8]])
    state = bank.state_dict()
    other = _bank()
    other.load_state_dict(state)
    assert _stored(other, 4) == _stored(bank, 4) and _stored(other, 9) == _stored(bank, 9)
    assert other.summary() == bank.summary()


def test_bank_refuses_random_crops():
    from qtbench.errors import UserError

    with pytest.raises(UserError, match="pl.target_crops=grid"):
        compose_run("mt+qualiteacher", "dehaze", scale="smoke", overrides=["pl.target_crops=random"])


def test_target_loss_with_several_labels_per_crop():
    # crop 0 has two labels (errors 0.1 and 0.3), crop 1 one label (error 0.2); per-crop mean then crop mean
    pred = torch.zeros(3, 3, 2, 2)
    label = torch.tensor([0.1, 0.3, 0.2])[:, None, None, None].expand(-1, 3, 2, 2)
    pl = PLBatch(torch.zeros(2, 2, 3, 2, 2), label, torch.tensor([0.5, 0.5, 1.0]), owner=torch.tensor([0, 0, 1]),
                 norm=torch.tensor(2.0))
    assert float(Framework(None).target_loss(pred, pl)) == pytest.approx((0.2 + 0.2) / 2)


def test_student_runs_once_per_crop_and_level():
    from qtbench.engine.student_pass import StudentPass
    from qtbench.engine.trainer import PLTrainer
    from qtbench.models.unet import UNet

    torch.manual_seed(0)
    net = UNet([8, 16])
    torch.nn.init.normal_(net.level_embedding.weight)
    strong = torch.rand(2, 3, 8, 8)
    pl = PLBatch(torch.zeros(2, 3, 3, 8, 8), torch.zeros(4, 3, 8, 8), torch.ones(4),
                 owner=torch.tensor([0, 0, 0, 1]), level=torch.tensor([3, 5, 3, 3]))
    trainer = PLTrainer.__new__(PLTrainer)
    trainer.student = net
    shared = StudentPass(net, strong)
    out = trainer.student_on_labels(shared, pl)
    assert shared.decoded == 3  # pairs (0,3), (0,5), (1,3)
    ref = torch.cat([net(strong[o:o + 1], level=torch.tensor([q])) for o, q in [(0, 3), (0, 5), (0, 3), (1, 3)]])
    assert torch.allclose(out, ref, atol=1e-6)
