"""Helpers shared by the members qtbench fits on a run's training data (``niqe_fit``, ``degprob``).

Both see only :class:`~qtbench.tasks.base.TrainData`: clean *source* photos, their degraded inputs and the
degraded *target* inputs — never a clean target image. Both are cached by a content hash of what produced
them (docs/architecture.md §6), so every run of a seed reuses the same fitted member.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor

from qtbench.iqa.api import IQAContext
from qtbench.paths import cache_dir


def plain(cfg: Any) -> dict[str, Any]:
    """A dataclass or DictConfig section as a plain dict (for hashing and logging)."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)
    if is_dataclass(cfg):
        return asdict(cfg)
    return dict(cfg)


def cache_path(kind: str, ctx: IQAContext, params: Any, version: int, suffix: str) -> Path:
    """``<cache>/iqa/<kind>-<hash>.<suffix>``; the hash covers the data, the seed, the fit options and ``version``.

    Args:
        kind: member name.
        ctx: run context (``data_key`` is the content hash of the task data).
        params: the member's fit options.
        version: bump when the fitting code changes its results.
        suffix: file suffix.
    """
    blob = json.dumps({"kind": kind, "v": version, "data": ctx.data_key, "task": ctx.task, "seed": ctx.seed,
                       "params": plain(params)}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:20]
    return cache_dir("iqa", f"{kind}-{key}.{suffix}")


def to_tensor(img: np.ndarray) -> Tensor:
    """uint8 HxWx3 -> float [1,3,H,W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).unsqueeze(0).to(torch.float32) / 255.0


def crop_size(size: int, images: list[np.ndarray]) -> int:
    """``size`` shrunk to the smallest image side (even, so NIQE's half scale stays whole)."""
    side = min(min(im.shape[:2]) for im in images)
    return min(size, side - side % 2)


def crop(img: np.ndarray, y: int, x: int, size: int) -> np.ndarray:
    return img[y : y + size, x : x + size]


def random_pos(img: np.ndarray, size: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left corner of a random ``size`` crop of ``img``."""
    h, w = img.shape[:2]
    return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))


def paired_crops(train: Any, n: int, size: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """``n`` co-located crops of degraded source inputs and their clean photos: ``(clean, degraded)`` [n,3,s,s].

    Co-located pairs make a difference between the two sets come from the degradation, not from the content.
    """
    src = train.source
    idx = rng.integers(0, len(src.inputs), size=n)
    clean, deg = [], []
    for i in idx:
        d, c = src.inputs[int(i)], src.target(int(i))
        y, x = random_pos(d, size, rng)
        deg.append(crop(d, y, x, size))
        clean.append(crop(c, y, x, size))
    return _stack(clean), _stack(deg)


def random_crops(images: list[np.ndarray], n: int, size: int, rng: np.random.Generator) -> Tensor:
    """``n`` random ``size`` crops of random images of ``images``: [n,3,s,s] in [0, 1]."""
    idx = rng.integers(0, len(images), size=n)
    out = []
    for i in idx:
        y, x = random_pos(images[int(i)], size, rng)
        out.append(crop(images[int(i)], y, x, size))
    return _stack(out)


def _stack(crops: list[np.ndarray]) -> Tensor:
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).to(torch.float32) / 255.0
