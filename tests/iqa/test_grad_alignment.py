"""Gradient alignment of a reward with fidelity (qtbench/iqa/grad_alignment.py), on hand-computable scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qtbench.iqa.grad_alignment import cosines, gradient_alignment, input_gradient, reward_alignment


class _Score(torch.nn.Module):
    """A member stand-in: normalised score [N] from a function of the images."""

    def __init__(self, fn, differentiable=True):
        super().__init__()
        self.fn, self.differentiable = fn, differentiable

    def forward(self, x):
        return self.fn(x)


class _Ens:
    """The parts of an Ensemble that gradient_alignment reads."""

    def __init__(self, members, weights):
        self.members, self.weights = members, weights

    def reward(self, x):
        total = 0.0
        for k, m in self.members.items():
            s = m(x) if m.differentiable else m(x).detach()
            total = total + self.weights[k] * s
        return total


def test_cosines_by_hand_and_nan_for_a_zero_gradient():
    g = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    d = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    c = cosines(g, d)
    assert c[0] == pytest.approx(1.0) and c[1] == pytest.approx(1 / math.sqrt(2)) and math.isnan(c[2])


def test_input_gradient_is_per_image_and_none_without_gradient():
    x = torch.rand(3, 3, 4, 4)
    g = input_gradient(lambda t: (t ** 2).flatten(1).sum(1), x)
    assert torch.allclose(g, 2 * x)
    assert input_gradient(lambda t: t.detach().mean((1, 2, 3)), x) is None


def test_mse_reward_is_aligned_brightness_reward_is_not_and_mixing_mixes_gradients():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 8, 8) * 0.5
    clean = x + 0.1 * torch.randn_like(x)
    d = clean - x
    members = {
        "mse": _Score(lambda t: -((t - clean) ** 2).flatten(1).mean(1)),  # gradient 2 (clean - t) / n: cos 1
        "bright": _Score(lambda t: t.flatten(1).mean(1)),  # gradient: the all-ones direction
        "const": _Score(lambda t: t.flatten(1).std(1), differentiable=False),
    }
    ens = _Ens(members, {"mse": 0.0, "bright": 1.0, "const": 0.5})
    out = gradient_alignment(ens, x, clean, alphas=[0.0, 1.0], lo=10.0, hi=40.0, batch=4)
    ones = torch.ones_like(d)
    by_hand = float(np.mean(cosines(ones, d)))  # mean of sum(d) / (sqrt(n) |d|) over images
    assert out["members"]["mse"] == pytest.approx(1.0, abs=1e-9)
    assert out["members"]["bright"] == pytest.approx(by_hand, abs=1e-9)
    assert "const" not in out["members"]  # no gradient: a constant in the reward
    assert out["ensemble"] == pytest.approx(by_hand, abs=1e-9)  # only 'bright' has weight and gradient
    assert out["oracle"] == pytest.approx(1.0, abs=1e-9)  # PSNR's gradient is along clean - x
    assert out["mixed"]["0"] == pytest.approx(by_hand, abs=1e-9) and out["mixed"]["1"] == pytest.approx(1.0, abs=1e-9)


def test_reward_alignment_passes_references_and_is_nan_without_gradient():
    x = torch.rand(3, 3, 4, 4)
    clean = torch.rand(3, 3, 4, 4)

    class _Ref:
        def reward(self, t, ref=None):  # reads its references, like a reward with the oracle mixed in
            return -((t - ref) ** 2).flatten(1).mean(1)

    assert reward_alignment(_Ref(), x, clean, ref=clean) == pytest.approx(np.ones(3), abs=1e-9)

    class _Flat:
        def reward(self, t):
            return t.detach().mean((1, 2, 3))  # constants only

    assert np.isnan(reward_alignment(_Flat(), x, clean)).all()
