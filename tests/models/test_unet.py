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


def test_chunked_forward_is_the_same_function():
    """max_rows splits a batch (runtime.chunk_rows): same outputs and gradients, per-row or scalar levels."""
    torch.manual_seed(0)
    net = UNet([8, 16, 32])
    with torch.no_grad():
        net.level_embedding.weight.normal_()  # make levels matter
    x = torch.rand(7, 3, 32, 32)
    levels = torch.tensor([0, 1, 2, 3, 4, 5, 6])
    whole = net(x, level=levels)
    g_whole = torch.autograd.grad(whole.square().sum(), net.out.weight)[0]
    net.max_rows = 3  # chunks of 3, 3, 1
    parts = net(x, level=levels)
    g_parts = torch.autograd.grad(parts.square().sum(), net.out.weight)[0]
    assert torch.allclose(whole, parts, atol=1e-6) and torch.allclose(g_whole, g_parts, rtol=1e-5, atol=1e-6)
    scalar_chunked = net(x, level=5)
    net.max_rows = 0
    assert torch.allclose(scalar_chunked, net(x, level=5), atol=1e-6)


def test_chunk_rows_auto_is_8_on_cpu_and_off_on_gpu():
    from qtbench.engine.build import chunk_rows

    assert chunk_rows(-1, "cpu") == 8 and chunk_rows(-1, "cuda") == 0
    assert chunk_rows(0, "cpu") == 0 and chunk_rows(5, "cuda") == 5


def test_channels_last_is_the_same_function_whatever_the_input_layout():
    """runtime.channels_last changes the memory format of a pass, not its outputs or gradients."""
    torch.manual_seed(0)
    net = UNet([8, 16, 32])
    with torch.no_grad():
        net.level_embedding.weight.normal_()
    x = torch.rand(4, 3, 20, 24)  # padded to the down factor on both paths
    levels = torch.tensor([0, 3, 5, 7])
    ref = net(x, level=levels)
    g_ref = torch.autograd.grad(ref.square().sum(), net.enc[0][0].weight)[0]
    net.channels_last = True
    for inp in (x, x.contiguous(memory_format=torch.channels_last)):
        out = net(inp, level=levels)
        g = torch.autograd.grad(out.square().sum(), net.enc[0][0].weight)[0]
        assert torch.allclose(out, ref, atol=1e-5) and torch.allclose(g, g_ref, rtol=1e-4, atol=1e-5)


def test_channels_last_auto_is_on_for_cpu_and_off_on_gpu():
    from qtbench.engine.build import channels_last

    assert channels_last(None, "cpu") and not channels_last(None, "cuda")
    assert not channels_last(False, "cpu") and channels_last(True, "cuda")
