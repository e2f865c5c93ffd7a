"""The step's shared student pass: same outputs and gradients as one forward call per request, less work."""

from __future__ import annotations

import torch
from addon_fakes import FakeStudent

from qtbench.engine.student_pass import StudentPass
from qtbench.models.unet import UNet


def _net(max_rows: int = 0) -> UNet:
    torch.manual_seed(0)
    net = UNet([8, 16, 32])
    torch.nn.init.normal_(net.level_embedding.weight)  # levels must change the output
    net.max_rows = max_rows
    return net


def test_decode_of_encode_is_forward_bit_for_bit():
    net = _net()
    x = torch.rand(3, 3, 20, 12)  # not a multiple of the down factor: padding on both paths
    for level in (None, 5, torch.tensor([0, 3, 7])):
        assert torch.equal(net.decode(x, net.encode(x), level), net(x, level=level))


def test_encoder_runs_once_and_each_pair_once():
    net = _net()
    x = torch.rand(3, 3, 16, 16)
    encodes = []
    net.enc[0].register_forward_hook(lambda m, i, o: encodes.append(i[0].shape[0]))
    shared = StudentPass(net, x)
    labels = shared.at(torch.tensor([0, 0, 1, 2]), torch.tensor([7, 7, 4, 7]))
    winners_losers = shared.at(torch.tensor([0, 1, 2, 0, 1, 2]), torch.tensor([7, 7, 7, 5, 4, 6]))
    assert encodes == [3]  # one encoder pass for the three crops
    assert shared.decoded == 6  # (0,7) (1,4) (2,7) then only (1,7) (0,5) (2,6) are new
    want = torch.cat([net(x[r : r + 1], level=q) for r, q in [(0, 7), (0, 7), (1, 4), (2, 7)]])
    assert torch.allclose(labels, want, atol=1e-6)
    assert torch.allclose(winners_losers[3:], torch.cat([net(x[0:1], level=5), net(x[1:2], level=4),
                                                         net(x[2:3], level=6)]), atol=1e-6)


def test_gradients_equal_separate_passes():
    """Sharing the encoder and the repeated pairs sums the same gradients as one forward per use."""
    x = torch.rand(2, 3, 16, 16)
    rows, levels = torch.tensor([0, 1, 1, 0]), torch.tensor([7, 7, 3, 7])
    w = torch.rand(4, 1, 1, 1)
    grads = []
    for shared in (True, False):
        net = _net(max_rows=3)  # chunked, as on a CPU
        if shared:
            sp = StudentPass(net, x)
            out = torch.cat([sp.at(rows, levels), sp.all_at(7)])
        else:
            out = torch.cat([net(x[r : r + 1], level=int(q)) for r, q in zip(rows.tolist(), levels.tolist())]
                            + [net(x, level=7)])
        (out * torch.cat([w, w[:2]])).square().mean().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_unconditioned_and_backbones_without_encode():
    x = torch.rand(2, 3, 4, 4)
    sp = StudentPass(FakeStudent(), x)  # forward(x, level) only: pairs still shared, no encoder split
    assert not sp.shared_encoder
    assert torch.allclose(sp.all_at(None), x)  # FakeStudent unconditioned: a * x with a = 1
    assert torch.allclose(sp.at(torch.tensor([1]), torch.tensor([4])), x[1:2] * 0.7)
    assert sp.decoded == 3 and sp.at(torch.tensor([], dtype=torch.long), None).shape == (0, 3, 4, 4)
