"""Stage 1: the base model, supervised on source pairs and cached by the hash of what it depends on.

Every method and control of the same seed starts from the same base (docs/architecture.md §2): paired
differences against it are the numbers tables report.
"""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from qtbench import atomic
from qtbench.data.pools import pool_fingerprint
from qtbench.engine.augment import dihedral
from qtbench.engine.build import build_backbone, build_optimizer, build_scheduler
from qtbench.engine.sampler import CropSampler
from qtbench.paths import cache_dir
from qtbench.data.containers import TrainData
from qtbench.tasks.base import DATA_VERSION, task_identity

BASE_VERSION = 1  # bump when this stage's code changes results


def base_key(cfg: DictConfig) -> str:
    """Content hash of everything the base model depends on."""
    blob = json.dumps(
        {
            "task": task_identity(cfg.task, fingerprints=True),  # own-data folders by content
            "backbone": OmegaConf.to_container(cfg.backbone, resolve=True),
            "base": OmegaConf.to_container(cfg.base, resolve=True),
            "seed": cfg.seed,
            "pool": pool_fingerprint(cfg.task.data.pool),
            "v": [BASE_VERSION, DATA_VERSION],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def train_base(cfg: DictConfig, data: TrainData, device: torch.device, progress: bool = True) -> dict:
    """Supervised L1 training on source crops with dihedral augmentation; returns the state dict."""
    torch.manual_seed(cfg.seed)
    model = build_backbone(cfg.backbone).to(device)
    opt = build_optimizer(model.parameters(), cfg.base)
    sched = build_scheduler(opt, cfg.base)
    src = data.source
    sampler = CropSampler(src.inputs, cfg.base.crop, np.random.default_rng([cfg.seed, 7]), targets=src.target)
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    bar = tqdm(range(cfg.base.iters), desc="base model (source pairs)", disable=not progress, leave=False)
    for _ in bar:
        _, x, y = sampler.sample(cfg.base.batch_size)
        if cfg.base.dihedral:
            x, y = dihedral(x, y, gen)
        x, y = x.to(device), y.to(device)
        loss = (model(x) - y).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def get_base_model(cfg: DictConfig, data: TrainData, device: torch.device, progress: bool = True) -> tuple[dict, dict]:
    """Load the cached base model of ``cfg`` or train and cache it.

    Returns:
        (state_dict, info) where info has ``key``, ``cached`` (bool) and ``train_seconds``.
    """
    key = base_key(cfg)
    path = cache_dir("base", f"{cfg.task.name}-{cfg.backbone.name}-{key}.pt")
    if path.exists():
        from qtbench.safe_load import load_torch

        blob = load_torch(path, "cached base model")  # no code runs; a foreign file is refused
        return blob["state_dict"], {"key": key, "cached": True, "train_seconds": blob["train_seconds"], "path": str(path)}
    t0 = time.perf_counter()
    state = train_base(cfg, data, device, progress)
    seconds = time.perf_counter() - t0
    atomic.torch_save(path, {"state_dict": state, "train_seconds": seconds, "key": key})
    return state, {"key": key, "cached": False, "train_seconds": seconds, "path": str(path)}
