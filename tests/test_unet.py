"""The U-Net backbone: level conditioning is an identity until trained; any image size works."""

import torch

from qtbench.models.unet import UNet


def test_zero_init_level_embedding_is_identity():
    torch.manual_seed(0)
    net = UNet([16, 32, 64])
    x = torch.rand(2, 3, 40, 52)
    y0 = net(x)
    assert torch.equal(y0, net(x, level=7))
    assert torch.equal(y0, net(x, level=torch.tensor([0, 5])))
    with torch.no_grad():
        net.level_embedding.weight[7] += 1.0
    assert not torch.allclose(y0, net(x, level=7))


def test_odd_sizes_and_residual_shape():
    net = UNet([8, 16, 32])
    x = torch.rand(1, 3, 37, 61)
    assert net(x).shape == x.shape


def test_parameter_budget():
    assert sum(p.numel() for p in UNet([16, 32, 64]).parameters()) <= 500_000
