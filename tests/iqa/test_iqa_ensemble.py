"""The ensemble's arithmetic (docs/method.md §3.2-3.3) with hand-computable fake members."""

import pytest
import torch
from iqa_fakes import Brightness, OffsetBrightness

from qtbench.iqa.api import MemberConfig
from qtbench.iqa.ensemble import Ensemble


def _ens(wa: float = 0.4, wb: float = 0.6) -> Ensemble:
    return Ensemble({"a": Brightness(), "b": OffsetBrightness()}, {"a": wa, "b": wb}, preset="custom")


def _const(*values: float, size: int = 8) -> torch.Tensor:
    return torch.stack([torch.full((3, size, size), v) for v in values])


def test_normalisation_and_weights_by_hand():
    ens = _ens()
    s = ens.score(_const(0.2, 0.6))
    # a: raw 20, 60 -> (raw - 0) / 100
    assert torch.allclose(s.raw["a"], torch.tensor([20.0, 60.0]), atol=1e-4)
    assert torch.allclose(s.members["a"], torch.tensor([0.2, 0.6]), atol=1e-6)
    # b: raw -10, 30 -> floor 0 -> 0, 30 -> lower better: 1 - raw / 100
    assert torch.allclose(s.raw["b"], torch.tensor([-10.0, 30.0]), atol=1e-4)
    assert torch.allclose(s.members["b"], torch.tensor([1.0, 0.7]), atol=1e-6)
    # combined = 0.4 a + 0.6 b
    assert torch.allclose(s.combined, torch.tensor([0.4 * 0.2 + 0.6 * 1.0, 0.4 * 0.6 + 0.6 * 0.7]), atol=1e-6)


def test_member_config_overrides_range_direction_clamp_and_floor():
    m = Brightness().configure(MemberConfig(name="a", lo=10.0, hi=30.0, lower_better=True, clamp=True))
    raw = torch.tensor([5.0, 15.0, 40.0])
    assert torch.allclose(m.normalise(raw), torch.tensor([1.0, 0.75, 0.0]))
    # official BRISQUE: (100 - max(raw, 0)) / 100, clamped from below only
    b = Brightness().configure(MemberConfig(name="brisque", lo=0, hi=100, lower_better=True, floor=0.0))
    assert torch.allclose(b.normalise(torch.tensor([-5.0, 20.0, 120.0])), torch.tensor([1.0, 0.8, -0.2]))
    # None keeps the member's own range
    keep = Brightness().configure(MemberConfig(name="a"))
    assert (keep.lo, keep.hi, keep.lower_better) == (0.0, 100.0, False)


def test_one_call_per_member_per_batch():
    ens = _ens()
    ens.score(_const(0.1, 0.2, 0.3))
    assert ens.members["a"].calls == [3] and ens.members["b"].calls == [3]


def test_reward_gradient_flows_through_differentiable_members_only():
    ens = _ens(wa=0.4, wb=0.6)
    x = _const(0.2, 0.6).requires_grad_(True)
    r = ens.reward(x)
    assert torch.allclose(r, ens.score(x.detach()).combined, atol=1e-6)
    r.sum().backward()
    # d/dx of 0.4 * (100 * mean(x)) / 100 = 0.4 / numel per pixel; member b (no grad) contributes nothing
    numel = 3 * 8 * 8
    assert torch.allclose(x.grad, torch.full_like(x, 0.4 / numel), atol=1e-7)
    # members are frozen: no gradient accumulates in their parameters (docs/method.md §21.10)
    assert ens.members["a"].gain.grad is None and not ens.members["a"].gain.requires_grad


def test_reward_without_differentiable_members_is_constant():
    ens = Ensemble({"b": OffsetBrightness()}, {"b": 1.0}, preset="custom")
    r = ens.reward(_const(0.5).requires_grad_(True))
    assert not r.requires_grad


def test_ensemble_stays_in_eval_mode():
    ens = _ens()
    ens.train()
    assert not ens.training and not any(m.training for m in ens.members.values())


def test_block_mask_shape_values_and_batching():
    ens = _ens(wa=1.0, wb=0.0)
    x = torch.zeros(2, 3, 64, 64)
    x[:, :, :, :32] = 0.2  # left tiles: member a scores 0.2
    x[:, :, :, 32:] = 0.8  # right tiles: 0.8
    mask = ens.block_mask(x, block=32)
    assert mask.shape == (2, 1, 64, 64)
    # bilinear upsampling of the 2x2 grid [[.2,.8],[.2,.8]]: edges keep the tile values, the middle blends
    assert torch.allclose(mask[..., :16], torch.tensor(0.2), atol=1e-6)
    assert torch.allclose(mask[..., 48:], torch.tensor(0.8), atol=1e-6)
    assert torch.all(mask[..., 1:] - mask[..., :-1] >= -1e-6)  # non-decreasing left to right
    assert 0.3 < float(mask[0, 0, 0, 31]) < 0.7
    # all 2 x 2 x 2 tiles of both images in one call per member
    assert ens.members["a"].calls[-1] == 8 and ens.members["b"].calls[-1] == 8


def test_block_mask_weights_and_non_multiple_sizes():
    ens = _ens(wa=0.4, wb=0.6)
    x = torch.full((1, 3, 70, 50), 0.5)  # 2 x 1 whole 32-px tiles, stretched over 70 x 50
    mask = ens.block_mask(x, block=32)
    assert mask.shape == (1, 1, 70, 50)
    expected = 0.4 * 0.5 + 0.6 * (1 - 0.2)
    assert torch.allclose(mask, torch.tensor(expected), atol=1e-6)
    small = ens.block_mask(torch.full((1, 3, 16, 16), 0.5), block=32)  # smaller than a block: one tile
    assert torch.allclose(small, torch.tensor(expected), atol=1e-6)


def test_mismatched_weights_rejected():
    with pytest.raises(ValueError):
        Ensemble({"a": Brightness()}, {"b": 1.0}, preset="custom")
