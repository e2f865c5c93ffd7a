"""Factories: backbone, optimiser and learning-rate schedule from config nodes."""

from __future__ import annotations

import torch
from omegaconf import DictConfig, OmegaConf

from qtbench import registry


def build_backbone(cfg: DictConfig) -> torch.nn.Module:
    """Instantiate the registered backbone ``cfg.name`` from its config node."""
    cls = registry.backbones.get(cfg.name).obj
    if hasattr(cls, "from_config"):
        return cls.from_config(cfg)
    kwargs = OmegaConf.to_container(cfg, resolve=True)
    kwargs.pop("name", None)
    return cls(**kwargs)


def build_optimizer(params, stage: DictConfig) -> torch.optim.Optimizer:
    """Adam or AdamW (betas 0.9/0.999) with the stage's lr and weight decay."""
    cls = torch.optim.AdamW if stage.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=stage.lr, betas=(0.9, 0.999), weight_decay=stage.weight_decay)


def build_scheduler(opt: torch.optim.Optimizer, stage: DictConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """Cosine decay from ``lr`` to ``lr_min`` over ``iters`` (constant when they are equal)."""
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, stage.iters), eta_min=stage.lr_min)


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


CPU_CHUNK_ROWS = 8  # measured: 3 x 8 rows of 64 px ~25 % faster than 24 rows on one CPU thread (BENCHMARKS.md)


def chunk_rows(setting: int, device: torch.device | str) -> int:
    """``runtime.chunk_rows`` resolved for ``device``: -1 (auto) gives 8 on a CPU and 0 (never split) on a GPU."""
    if setting >= 0:
        return int(setting)
    return CPU_CHUNK_ROWS if torch.device(device).type == "cpu" else 0


def channels_last(setting: bool | None, device: torch.device | str) -> bool:
    """``runtime.channels_last`` resolved for ``device``: None (auto) is on for a CPU, off for a GPU."""
    if setting is not None:
        return bool(setting)
    return torch.device(device).type == "cpu"
