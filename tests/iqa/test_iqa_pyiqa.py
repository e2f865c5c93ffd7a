"""pyiqa-backed members: batching, normalisation metadata, weight files and the no-network guarantee."""

import socket
import urllib.request

import pytest
import torch

from qtbench.errors import UserError
from qtbench.iqa import weights
from qtbench.iqa.api import MemberConfig
from qtbench.iqa.ensemble import Ensemble
from qtbench.iqa.presets import preset_members
from qtbench.iqa.pyiqa_member import PyiqaMember

MUSIQ_FILE = "musiq_koniq_ckpt-e95806b9.pth"


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty $TORCH_HOME (so pyiqa's cache is empty) and no network: any attempt fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path


def _images(n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    x[: n // 2] = torch.nn.functional.avg_pool2d(x[: n // 2], 5, 1, 2)  # some blurred, some noisy
    return x


def test_piqe_metadata_and_batched_equals_per_image(torch_home):
    m = PyiqaMember(MemberConfig(name="piqe"))
    assert (m.lo, m.hi, m.lower_better, m.differentiable, m.batched) == (0.0, 100.0, True, False, True)
    x = _images(6)
    batch = m.raw(x)
    single = torch.cat([m.raw(x[i : i + 1]) for i in range(6)])
    assert batch.shape == (6,) and torch.allclose(batch, single, atol=1e-5)
    assert torch.allclose(m(x), 1 - batch / 100, atol=1e-6)


def test_scoring_turns_tf32_off_only_for_its_own_call(torch_home):
    """PIQE's thresholds turned cuDNN TF32 rounding into score jumps on a GPU; the flag is restored after."""
    member = PyiqaMember(MemberConfig(name="piqe"))
    torch.backends.cudnn.allow_tf32 = True
    seen = []
    forward = member.net.forward
    member.net.forward = lambda x: seen.append(torch.backends.cudnn.allow_tf32) or forward(x)
    member.raw(torch.rand(2, 3, 64, 64))
    assert seen and not any(seen)
    assert torch.backends.cudnn.allow_tf32


def test_missing_weights_name_file_cache_dir_and_command_without_network(torch_home):
    with pytest.raises(UserError) as err:
        PyiqaMember(MemberConfig(name="musiq"))
    msg = str(err.value)
    assert MUSIQ_FILE in msg
    assert str(torch_home / "hub" / "pyiqa") in msg
    assert "qtbench weights fetch --preset paper" in msg


def test_metric_outside_the_manifest_is_blocked_not_downloaded(torch_home):
    assert weights.metric_entry("uranker") is None
    with pytest.raises(UserError) as err:
        PyiqaMember(MemberConfig(name="uranker"))
    assert "URanker_ckpt-450eb36d.pth" in str(err.value) and "qtbench weights fetch" in str(err.value)


def test_unknown_and_full_reference_names():
    with pytest.raises(UserError, match="did you mean piqe"):
        PyiqaMember(MemberConfig(name="piqee"))
    with pytest.raises(UserError, match="full-reference"):
        PyiqaMember(MemberConfig(name="ssim"))


@pytest.mark.slow
def test_musiq_with_random_weights_file_builds_scores_and_passes_gradients(torch_home):
    import pyiqa

    net = pyiqa.create_metric("musiq", pretrained=False, device="cpu").net  # offline, random weights
    (torch_home / "hub" / "pyiqa").mkdir(parents=True)
    torch.save(net.state_dict(), torch_home / "hub" / "pyiqa" / MUSIQ_FILE)
    cfg = preset_members("paper")[0]
    assert cfg.name == "musiq"
    m = PyiqaMember(cfg)
    for k, v in net.state_dict().items():  # the file was loaded, not a fresh random init
        assert torch.equal(m.net.state_dict()[k], v)
    assert m.differentiable and (m.lo, m.hi, m.clamp) == (0.0, 100.0, False)
    ens = Ensemble({"musiq": m}, {"musiq": 0.4}, preset="custom")
    x = _images(1, size=32).requires_grad_(True)  # MUSIQ rescales to 224 and 384 px: one image is enough
    r = ens.reward(x)
    r.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in m.parameters())
    assert torch.allclose(r.detach(), ens.score(x.detach()).combined, atol=1e-4)


def test_brisque_with_stand_in_svm_file_batches_and_normalises_officially(torch_home):
    # a stand-in SVM (pyiqa's file format: (sv_coef, sv)); real values need `qtbench weights fetch`
    g = torch.Generator().manual_seed(0)
    (torch_home / "hub" / "pyiqa").mkdir(parents=True)
    torch.save((torch.randn(20, 1, generator=g), torch.rand(20, 36, generator=g)),
               torch_home / "hub" / "pyiqa" / "brisque_svm_weights.pth")
    cfg = preset_members("paper")[2]
    assert (cfg.name, cfg.floor, cfg.lower_better) == ("brisque", 0.0, True)
    m = PyiqaMember(cfg)
    x = _images(4, size=48)
    batch = m.raw(x)
    single = torch.cat([m.raw(x[i : i + 1]) for i in range(4)])
    assert torch.allclose(batch, single, atol=1e-4 * batch.abs().max().item())
    assert torch.allclose(m(x), (100 - batch.clamp_min(0)) / 100, atol=1e-6)
