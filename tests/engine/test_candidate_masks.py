"""Candidate masks computed on request (qtbench/engine/candidate_masks.py): same masks, less work."""

import torch

from qtbench.engine.candidate_masks import CandidateMasks, LabelMasks


class _Counting:
    """A per-image mask (mean over channels, times the tile's own max) that counts the images it sees."""

    def __init__(self):
        self.images = 0

    def __call__(self, x):
        self.images += x.shape[0]
        return x.mean(dim=1, keepdim=True) * x.amax(dim=(1, 2, 3), keepdim=True)


def test_each_candidate_is_computed_once_and_equals_computing_all_up_front():
    cands = torch.rand(4, 3, 3, 8, 8)
    f = _Counting()
    masks = CandidateMasks(cands, f)
    eager = f(cands.flatten(0, 1)).view(4, 3, 1, 8, 8)
    f.images = 0
    got = masks.take(torch.tensor([2, 0, 2]), torch.tensor([1, 2, 1]))  # (2, 1) named twice
    assert f.images == 2 and masks.computed == 2
    assert torch.equal(got, eager[[2, 0, 2], [1, 2, 1]])
    assert torch.equal(masks.gather(torch.tensor([1, 0, 2, 0])), eager[torch.arange(4), [1, 0, 2, 0]])
    assert f.images == 6  # four new pairs
    assert torch.equal(masks.gather(torch.tensor([2, 0, 1, 1])), eager[torch.arange(4), [2, 0, 1, 1]])
    assert f.images == 7  # only (3, 1) is new; the other three were computed already
    assert torch.equal(masks.all(), eager) and f.images == 12 and masks.computed == 12


def test_nothing_is_computed_until_asked():
    f = _Counting()
    masks = CandidateMasks(torch.rand(2, 3, 3, 8, 8), f)
    LabelMasks(masks, first_only=False)
    none = torch.zeros(0, dtype=torch.long)
    assert masks.take(none, none).shape == (0, 1, 8, 8)
    assert f.images == 0 and masks.computed == 0


def test_label_masks_follow_the_labels_of_the_candidates():
    cands = torch.rand(3, 2, 3, 8, 8)
    eager = _Counting()(cands.flatten(0, 1)).view(3, 2, 1, 8, 8)
    all_views = LabelMasks(CandidateMasks(cands, _Counting()), first_only=False).resolve()
    assert torch.equal(all_views, eager.flatten(0, 1))  # K labels per crop, crop-major (PLBatch.from_candidates)
    one = CandidateMasks(cands[:, :1], _Counting())
    assert torch.equal(LabelMasks(one, first_only=True).resolve(), eager[:, 0]) and one.computed == 3
