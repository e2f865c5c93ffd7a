"""Tests of the depth proxy and the source/target haze models (qtbench.data.depth, qtbench.data.haze)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from qtbench.data import depth as depth_mod
from qtbench.data import haze
from qtbench.data.depth import DepthConfig, depth_proxy
from qtbench.data.haze import (
    SourceHazeConfig,
    TargetHazeConfig,
    haze_source,
    haze_target,
)
from qtbench.errors import UserError


def _photo(seed: int = 0, h: int = 64, w: int = 96) -> np.ndarray:
    """A textured synthetic 'photo': smooth colour gradients plus fine detail."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / w, yy / h, 0.5 + 0.3 * np.sin(xx / 7.0)], axis=2)
    return np.clip(
        0.8 * base + 0.2 * rng.random((h, w, 3), dtype=np.float32), 0, 1
    ).astype(np.float32)


def _contrast(img: np.ndarray) -> float:
    return float(img.mean(axis=2).std())


@pytest.fixture(scope="module")
def scene():
    img = _photo()
    return img, depth_proxy(img, DepthConfig())


def test_depth_range_dtype_and_far_at_top_on_flat_image():
    cfg = DepthConfig()
    flat = np.full((40, 30, 3), 0.4, np.float32)
    d = depth_proxy(flat, cfg)
    assert d.shape == (40, 30) and d.dtype == np.float32
    assert d.min() >= cfg.d_min - 1e-6 and d.max() <= 1.0 + 1e-6
    assert d[0].mean() == pytest.approx(1.0) and d[-1].mean() == pytest.approx(
        cfg.d_min
    )
    assert np.all(
        np.diff(d.mean(axis=1)) < 0
    )  # monotonically nearer towards the bottom


def test_depth_range_on_textured_image(scene):
    _, d = scene
    assert d.min() >= 0.1 - 1e-6 and d.max() <= 1.0 + 1e-6
    assert d.min() == pytest.approx(0.1, abs=1e-5) and d.max() == pytest.approx(
        1.0, abs=1e-5
    )


@pytest.mark.parametrize(
    "fn, cfg", [(haze_source, SourceHazeConfig()), (haze_target, TargetHazeConfig())]
)
def test_deterministic_range_dtype_shape(scene, fn, cfg):
    img, d = scene
    a = fn(img, d, np.random.default_rng(7), cfg)
    b = fn(img, d, np.random.default_rng(7), cfg)
    c = fn(img, d, np.random.default_rng(8), cfg)
    assert a.shape == img.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_source_beta_zero_is_identity(scene):
    img, d = scene
    out = haze_source(
        img, d, np.random.default_rng(0), SourceHazeConfig(beta=[0.0, 0.0])
    )
    np.testing.assert_allclose(out, img, atol=1e-6)


def test_target_has_lower_contrast_than_source(scene):
    img, d = scene
    src = np.mean(
        [_contrast(haze_source(img, d, np.random.default_rng(s))) for s in range(8)]
    )
    tgt = np.mean(
        [_contrast(haze_target(img, d, np.random.default_rng(s))) for s in range(8)]
    )
    assert tgt < src < _contrast(img)


def test_target_airlight_is_tinted():
    # A black scene at infinite depth shows the airlight alone (plus noise and JPEG).
    black = np.zeros((32, 32, 3), np.float32)
    far = np.full((32, 32), 50.0, np.float32)
    cfg = TargetHazeConfig(
        tint_strength=[0.2, 0.2],
        noise_sigma=[0.0, 0.0],
        signal_noise=0.0,
        jpeg_quality=[100, 100],
        bluish_prob=1.0,
    )
    r, g, b = (
        haze_target(black, far, np.random.default_rng(0), cfg)
        .reshape(-1, 3)
        .mean(axis=0)
    )
    assert b > g > r


def test_presets():
    assert haze.target_preset("default") == TargetHazeConfig()
    strong = haze.target_preset("strong")
    assert strong.beta[0] > TargetHazeConfig().beta[0]
    with pytest.raises(UserError):
        haze.target_preset("medium")


def test_defaults_pass_check():
    haze.check(SourceHazeConfig())
    haze.check(TargetHazeConfig())
    haze.check(haze.target_preset("strong"))
    depth_mod.check(DepthConfig())


@pytest.mark.parametrize(
    "cls, changes",
    [
        (SourceHazeConfig, {"beta": [1.5, 0.6]}),
        (SourceHazeConfig, {"beta": [-0.1, 1.0]}),
        (SourceHazeConfig, {"airlight": [0.8, 1.2]}),
        (SourceHazeConfig, {"airlight": [0.8]}),
        (TargetHazeConfig, {"jpeg_quality": [0, 70]}),
        (TargetHazeConfig, {"jpeg_quality": [40, 101]}),
        (TargetHazeConfig, {"noise_sigma": [0.03, 0.01]}),
        (TargetHazeConfig, {"nonhomogeneity": -0.1}),
        (TargetHazeConfig, {"field_sigma": 0.0}),
        (TargetHazeConfig, {"bluish_prob": 1.5}),
        (TargetHazeConfig, {"bluish_tint": [1.0, 0.0]}),
    ],
)
def test_check_rejects_bad_values(cls, changes):
    cfg = dataclasses.replace(cls(), **changes)
    with pytest.raises(UserError) as err:
        haze.check(cfg)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"d_min": 1.0},
        {"percentiles": [99.0, 1.0]},
        {"min_filter": 0},
        {"vertical_weight": 1.5},
    ],
)
def test_depth_check_rejects_bad_values(changes):
    with pytest.raises(UserError):
        depth_mod.check(dataclasses.replace(DepthConfig(), **changes))


def test_configs_work_as_omegaconf_schemas():
    omegaconf = pytest.importorskip("omegaconf")
    for cls in (DepthConfig, SourceHazeConfig, TargetHazeConfig):
        node = omegaconf.OmegaConf.structured(cls)
        obj = omegaconf.OmegaConf.to_object(node)
        assert obj == cls()
    node = omegaconf.OmegaConf.structured(TargetHazeConfig)
    haze.check(node)  # checks accept a DictConfig too
    node.beta = [3.0, 1.0]
    with pytest.raises(UserError):
        haze.check(node)
