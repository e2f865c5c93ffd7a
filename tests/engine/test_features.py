"""Offline feature extractors and the contrastive regulariser (qtbench/engine/features.py)."""

from __future__ import annotations

import pytest
import torch

from qtbench.engine.features import EncoderFeatures, FeatureExtractor, build_features, contrastive_ratio
from qtbench.engine.plugin_api import PLBatch
from qtbench.errors import UserError
from qtbench_methods.pl_common import STRONG, pl_loss


class Layers(FeatureExtractor):
    """phi_1(x) = x, phi_2(x) = 2x, weights (0.5, 1)."""

    name = "test"
    weights = (0.5, 1.0)

    def forward(self, x):
        return [x, 2 * x]


def _full(v, n=1):
    return torch.full((n, 3, 4, 4), float(v))


def test_contrastive_ratio_hand_computed():
    # |a-p| = 0.1, |a-n| = 0.5 -> layer 1: 0.1/0.5 = 0.2; layer 2: 0.2/1.0 = 0.2; 0.5*0.2 + 1*0.2 = 0.3
    r = contrastive_ratio(Layers(), _full(0.5), _full(0.4), _full(0.0), eps=0.0)
    assert r.tolist() == pytest.approx([0.3])
    r = contrastive_ratio(Layers(), _full(0.5), _full(0.4), _full(0.0), eps=0.5)  # 0.5*0.1/1.0 + 0.2/1.5
    assert r.tolist() == pytest.approx([0.05 + 0.2 / 1.5])


def test_pl_loss_weights_and_dropped_labels():
    pred = torch.cat([_full(0.5), _full(0.5)]).requires_grad_(True)
    pl = PLBatch(candidates=torch.zeros(2, 1, 3, 4, 4), label=torch.cat([_full(0.4), _full(0.5)]),
                 weight=torch.tensor([1.0, 0.0]))
    pl.cache[STRONG] = torch.cat([_full(0.0), _full(0.5)])  # label 1 equals its negative: ratio 0/0
    loss = pl_loss(pred, pl, Layers(), cp_weight=1.0, eps=0.0, pixel_weight=2.0)
    # kept label: 2 * 0.1 + 0.3 = 0.5, over a weight sum of 1; the dropped 0/0 ratio is never computed
    assert float(loss.detach()) == pytest.approx(0.5)
    loss.backward()
    assert torch.isfinite(pred.grad).all() and float(pred.grad[1].abs().sum()) == 0.0


def test_base_encoder_features_are_frozen_and_offline():
    from qtbench.models.unet import UNet

    base = UNet([4, 8, 16])
    f = build_features("base", base, torch.device("cpu"))
    assert isinstance(f, EncoderFeatures) and f.weights == (1 / 8, 1 / 4, 1.0)
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    maps = f(x)
    assert [m.shape[1] for m in maps] == [4, 8, 16]
    r = contrastive_ratio(f, x, torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), eps=1e-7)
    r.sum().backward()
    assert x.grad is not None and all(p.grad is None for p in base.parameters())


@pytest.mark.slow
def test_vgg19_missing_weights_fail_fast(tmp_path, monkeypatch):
    from qtbench.config.compose import compose_run

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(UserError) as err:
        build_features("vgg19", None, torch.device("cpu"))
    msg = str(err.value)
    assert "\n" not in msg and "vgg19-dcbb9e9d.pth" in msg and str(tmp_path / "hub" / "checkpoints") in msg
    assert "torchvision.models.vgg19" in msg and "features=base" in msg
    with pytest.raises(UserError, match="vgg19-dcbb9e9d.pth"):  # at compose time, before any training
        compose_run("colabator", "dehaze", scale="smoke", overrides=["framework.features=vgg19"])
    with pytest.raises(UserError, match="choose base or vgg19"):
        compose_run("semiuir", "dehaze", scale="smoke", overrides=["framework.features=resnet"])
