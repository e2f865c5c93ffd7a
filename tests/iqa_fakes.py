"""Test helpers for the IQA tests: hand-computable fake members and a tiny synthetic TrainData."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from qtbench.iqa.api import IQAContext, Member
from qtbench.iqa.config import DegProbConfig, IQAConfig, NIQEFitConfig
from qtbench.data.containers import ImageSet, TrainData


class Brightness(Member):
    """raw = gain * 100 * mean(image): differentiable, with one (frozen by the ensemble) parameter."""

    differentiable = True
    lo, hi = 0.0, 100.0

    def __init__(self) -> None:
        super().__init__()
        self.gain = torch.nn.Parameter(torch.tensor(1.0))
        self.calls: list[int] = []

    def raw(self, images: Tensor) -> Tensor:
        self.calls.append(images.shape[0])
        return self.gain * 100.0 * images.mean(dim=(1, 2, 3))


class OffsetBrightness(Member):
    """raw = 100 * mean(image) - 30, lower better, raw floored at 0: BRISQUE's official normalisation shape."""

    differentiable = False
    lower_better = True
    lo, hi = 0.0, 100.0
    floor = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def raw(self, images: Tensor) -> Tensor:
        self.calls.append(images.shape[0])
        return 100.0 * images.mean(dim=(1, 2, 3)) - 30.0


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A natural-ish photo: multi-scale smooth noise plus a few hard edges, uint8 HxWx3."""
    img = np.zeros((size, size, 3))
    for cells in (3, 6, 12, 24):
        coarse = rng.random((cells, cells, 3))
        reps = int(np.ceil(size / cells))
        up = np.kron(coarse, np.ones((reps, reps, 1)))[:size, :size]
        img += up / 4
    yy, xx = np.mgrid[:size, :size]
    for _ in range(3):
        a, b, c = rng.normal(size=3)
        img[(a * yy + b * xx + c * size / 3) > 0] *= 0.6
    img += rng.normal(0, 0.02, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _haze(img: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    x = img / 255.0 * t + 0.85 * (1 - t) + rng.normal(0, 0.01, img.shape)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def tiny_train(seed: int = 0, photos: int = 4, size: int = 96) -> TrainData:
    """Source pairs (2 hazy realisations per clean photo) and hazy target images; no real photos needed."""
    rng = np.random.default_rng(seed)
    clean = [_texture(rng, size) for _ in range(photos)]
    ids, inputs, index = [], [], []
    for k, c in enumerate(clean):
        for r in range(2):
            ids.append(f"p{k}#{r}")
            inputs.append(_haze(c, rng.uniform(0.4, 0.6), rng))
            index.append(k)
    source = ImageSet(ids, inputs, np.asarray(index), clean)
    tclean = [_texture(rng, size) for _ in range(2)]
    target = ImageSet([f"t{k}#0" for k in range(2)], [_haze(c, 0.45, rng) for c in tclean], np.arange(2), tclean)
    return TrainData(source, target)


def tiny_ctx(seed: int = 0, key: str = "tiny-data-v1") -> IQAContext:
    return IQAContext(task="dehaze", seed=seed, data_key=key, train=tiny_train(seed), progress=False)


def smoke_iqa_cfg(**kw) -> IQAConfig:
    """The smoke-scale options of conf/scale/smoke.yaml, shrunk further for unit tests."""
    return IQAConfig(preset="offline", block_size=16,
                     niqe_fit=NIQEFitConfig(patch=16, calib_crop=32, calib_crops=8),
                     degprob=DegProbConfig(iters=80, batch=8, crop=32), **kw)
