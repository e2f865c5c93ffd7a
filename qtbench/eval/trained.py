"""A trained model from a run folder or checkpoint, for ``qtbench eval`` and ``qtbench restore``.

A run folder holds ``config.yaml`` (the resolved config) and ``checkpoint.pt`` (student, teacher, ...);
``summary.json`` when the run finished (inference level, NR metrics that were training rewards).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from omegaconf import DictConfig

from qtbench.engine.checkpoint import CHECKPOINT
from qtbench.errors import UserError
from qtbench.safe_load import DamagedFile, load_torch

MODELS = ("student", "teacher", "base")  # base: the run's cached base model (stage 1)


@dataclass
class Trained:
    """A loaded model and what the run says about it.

    Args:
        model: the backbone in eval mode, on ``device``.
        cfg: the run's resolved config.
        run_dir: the folder of the checkpoint.
        which: ``student``, ``teacher`` or ``base``.
        default_level: the run's inference level (None: unconditioned).
        num_levels: quality levels the run trained (0 when it is not quality-conditioned).
        reward_metrics: NR metric names that were training signals (flag them in tables).
    """

    model: torch.nn.Module
    cfg: DictConfig
    run_dir: Path
    which: str
    default_level: Optional[int]
    num_levels: int
    reward_metrics: list[str] = field(default_factory=list)
    device: torch.device = torch.device("cpu")

    def check_level(self, level: Optional[int]) -> Optional[int]:
        """``level`` if the model can take it (None passes); UserError otherwise."""
        if level is None:
            return None
        if self.num_levels == 0:
            raise UserError(f"--level {level}: this run ({self.cfg.method}) is not quality-conditioned; omit --level")
        if not 0 <= level < self.num_levels:
            raise UserError(f"--level {level} is out of range; this run has levels 0..{self.num_levels - 1}")
        return level

    @torch.no_grad()
    def restore(self, rgb: np.ndarray, level: Optional[int]) -> np.ndarray:
        """Restore one HxWx3 float image in [0, 1] at full precision; returns HxWx3 float32 in [0, 1]."""
        x = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)[None].to(self.device)
        y = self.model(x, level=level).clamp(0, 1)
        return y[0].permute(1, 2, 0).cpu().numpy()


def base_model_path(cfg: DictConfig, summary: dict) -> Path:
    """The cached base model of a run (``$QTBENCH_HOME/base/<task>-<backbone>-<key>.pt``).

    The key comes from the run's summary (``base_model.key``) or, for an unfinished run, from its config.

    Raises:
        UserError: the file is not in the cache (it is rebuilt by rerunning the run's command).
    """
    from qtbench.paths import cache_dir

    key = (summary.get("base_model") or {}).get("key")
    if not key:
        from qtbench.engine.base_stage import base_key

        key = base_key(cfg)
    path = cache_dir("base", f"{cfg.task.name}-{cfg.backbone.name}-{key}.pt")
    if not path.is_file():
        raise UserError(f"the base model of this run is not in the cache ({path}); rerun the run's `qtbench run` "
                        "command to rebuild it (same seed, task and base settings), or set $QTBENCH_HOME")
    return path


def load_trained(path: str | Path, which: str = "student", device: str = "cpu") -> Trained:
    """Load ``which`` model of a run folder (``RUN_DIR``) or a checkpoint file (``RUN_DIR/checkpoint.pt``).

    Raises:
        UserError: no checkpoint or config, an unreadable checkpoint, or an unknown model name.
    """
    from qtbench.config.compose import literal_config
    from qtbench.engine.build import build_backbone, resolve_device

    if which not in MODELS:
        raise UserError(f"--model {which!r}: choose one of {', '.join(MODELS)}")
    path = Path(path).expanduser()
    ckpt, run_dir = (path / CHECKPOINT, path) if path.is_dir() else (path, path.parent)
    if not ckpt.is_file():
        raise UserError(f"no checkpoint at {ckpt}; pass a run folder (runs/<task>/<method>/s<seed>-<hash>) "
                        "or its checkpoint.pt")
    config = run_dir / "config.yaml"
    if not config.is_file():
        raise UserError(f"{run_dir} has no config.yaml beside the checkpoint; it is not a qtbench run folder")
    summary = {}
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    try:
        cfg = literal_config(config.read_text(encoding="utf-8"))  # resolved when written: nothing to interpolate
        if which == "base":
            source = base_model_path(cfg, summary)
            weights = load_torch(source, "cached base model")["state_dict"]
        else:
            source = ckpt
            weights = load_torch(ckpt, "checkpoint")[which]  # no code runs: a crafted file is refused (UnsafeFile)
        model = build_backbone(cfg.backbone)
        model.load_state_dict(weights)
    except DamagedFile as exc:
        raise UserError(f"cannot load the {which}: {exc}") from None
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated pickle, foreign file, wrong backbone: all unusable input
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(f"cannot load the {which} from {source if which == 'base' else ckpt}: "
                        f"{type(exc).__name__}: {first}") from None
    dev = resolve_device(device)
    model.to(dev).eval()
    if which == "base":  # unconditioned: no quality level
        return Trained(model, cfg, run_dir, which, None, 0, training_signals(summary, cfg), dev)
    addons = cfg.get("addons") or {}
    num_levels = int(addons["qcond"].num_levels) if "qcond" in addons else 0
    level = summary.get("inference_level") if summary else cfg.eval.get("level")
    if level is None and num_levels:
        level = num_levels - 1  # the top level, as qcond asks at inference (docs/method.md §5)
    return Trained(model, cfg, run_dir, which, level, num_levels, training_signals(summary, cfg), dev)


def training_signals(summary: dict, cfg: Any) -> list[str]:
    """The NR metrics a run was trained on, to flag in its evaluation: the summary's ``reward_metrics``, none
    for a pure-oracle run (``iqa.agreement.alpha = 1``: its preset members had weight 0 and were not run;
    summaries written before that was known list them anyway)."""
    iqa = cfg.get("iqa") or {}
    if "agreement" in iqa and float(iqa["agreement"]["alpha"]) >= 1.0:
        return []
    return list(summary.get("reward_metrics") or [])
