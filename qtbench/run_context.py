"""Everything a run needs before its PL stage: the "build" step of :func:`qtbench.runner.execute`.

Method, data, cached base model, IQA ensemble and MLflow run, gathered in one :class:`RunContext` so that fitting,
final evaluation and the summary each read what they need from one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from qtbench import atomic, registry
from qtbench.config.compose import config_hash, identity, run_dir
from qtbench.data.containers import TaskData
from qtbench.engine import checkpoint
from qtbench.engine.base_stage import get_base_model
from qtbench.engine.build import resolve_device
from qtbench.engine.factory import Method, create_method


@dataclass
class RunContext:
    """One run's parts, built by :func:`build_run`.

    Args:
        cfg: the composed run config; ``config_hash`` its identity and ``run_dir`` its folder.
        device: where models run; ``progress``: show progress bars.
        method: the framework and add-ons (:func:`qtbench.engine.factory.create_method`).
        task: the task plugin; ``data`` its splits for this seed.
        base_state, base_info: the cached base model's weights and facts (trained on source pairs).
        ensemble: the IQA ensemble, or None when nothing scores pseudo-labels.
        tracker: the run's MLflow run (resumed when a checkpoint names one).
        level: the quality level the student is evaluated at (None: unconditioned).
        t_start: ``time.perf_counter()`` when the run started (wall time in the summary).
    """

    cfg: DictConfig
    config_hash: str
    run_dir: Path
    device: torch.device
    progress: bool
    method: Method
    task: Any
    data: TaskData
    base_state: dict
    base_info: dict
    ensemble: Optional[torch.nn.Module]
    tracker: Any
    level: Optional[int]
    t_start: float = field(default_factory=time.perf_counter)

    @property
    def oracle_reward(self) -> bool:
        """The reward reads hidden clean targets (``fidelity`` / ``iqa.agreement``): flagged like the oracle."""
        return reads_hidden_targets(self.ensemble)


def reads_hidden_targets(ensemble: Optional[torch.nn.Module]) -> bool:
    """True when ``ensemble`` scores against clean references (an oracle reward), False for none or a plain one."""
    return ensemble is not None and bool(ensemble.needs_reference)


def preflight(cfg: DictConfig) -> Method:
    """The run's method, once every weight file it needs was found; nothing is written.

    Raises:
        UserError: a missing weight file (naming it, the cache dir and the fetch command) or an unknown plugin.
    """
    method = create_method(cfg)
    _check_weight_files(cfg, method.needs_iqa)
    return method


def build_run(cfg: DictConfig, method: Optional[Method] = None) -> RunContext:
    """Build a run's parts (``method`` from :func:`preflight`, else checked here before anything is written).

    Raises:
        UserError: a missing weight file, unknown plugin or unusable store, in one line.
    """
    t_start = time.perf_counter()
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    device = resolve_device(cfg.runtime.device)
    progress = bool(cfg.runtime.progress)
    h, rd = config_hash(cfg), run_dir(cfg)
    method = method if method is not None else preflight(cfg)
    rd.mkdir(parents=True, exist_ok=True)
    atomic.write_text(rd / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    task = registry.tasks.get(cfg.task.name).obj(cfg.task)
    data = task.build(cfg.seed, progress=progress)
    base_state, base_info = get_base_model(cfg, data.train, device, progress)
    ensemble = build_iqa(cfg, data, device, progress) if method.needs_iqa else None
    oracle_reward = reads_hidden_targets(ensemble)

    previous = checkpoint.load(rd)
    tracker = _tracker(cfg, h, previous["mlflow_run_id"] if previous else None, method.oracle, oracle_reward)
    if previous is None:
        from qtbench.tracking.mlflow_tracker import flatten

        tracker.log_params(flatten(identity(cfg)))
        tracker.log_dict(OmegaConf.to_container(cfg, resolve=True), "config.json")
        if ensemble is not None:
            tracker.log_params({"iqa_preset": ensemble.preset})
    return RunContext(cfg, h, rd, device, progress, method, task, data, base_state, base_info, ensemble, tracker,
                      inference_level(cfg, method), t_start)


def inference_level(cfg: DictConfig, method: Method) -> Optional[int]:
    """``eval.level`` if set, else the first add-on's inference level (``qcond``: the top level), else None."""
    if cfg.eval.level is not None:
        return cfg.eval.level
    levels = [a.inference_level() for a in method.by_name.values() if a.inference_level() is not None]
    return levels[0] if levels else None


def _tracker(cfg: DictConfig, h: str, run_id: Optional[str], oracle: bool, oracle_reward: bool = False):
    from qtbench.tracking.mlflow_tracker import Tracker, default_tracking_uri, run_tags

    runs = Path(cfg.runtime.runs_dir)
    uri = cfg.runtime.tracking_uri or default_tracking_uri(runs)
    tags = run_tags(h)
    tags.update({"qtbench.method": cfg.method, "qtbench.task": cfg.task.name, "qtbench.seed": str(cfg.seed),
                 "qtbench.scale": cfg.scale, "qtbench.uses_target_labels": str(oracle or oracle_reward).lower()})
    if oracle_reward:  # the reward read hidden clean targets (fidelity / iqa.agreement): flagged like the oracle
        tags["qtbench.oracle_reward"] = "true"
    rt = cfg.runtime
    tags.update({str(k): str(v) for k, v in (rt.get("tags") or {}).items()})
    if rt.get("parent_run_id"):  # a sweep's cell: nested under the sweep's parent run
        tags["mlflow.parentRunId"] = rt.parent_run_id
    experiment = rt.get("experiment") or f"qtbench-{cfg.task.name}"
    return Tracker(uri, experiment, f"{cfg.method}-{cfg.task.name}-s{cfg.seed}", run_id=run_id, tags=tags)


def build_iqa(cfg: DictConfig, data: Any, device: torch.device, progress: bool) -> torch.nn.Module:
    """The run's IQA ensemble (built once, only when the framework or an add-on ``needs_iqa``; fitted members
    are cached)."""
    from qtbench.iqa.api import IQAContext
    from qtbench.iqa.ensemble import build_ensemble

    ctx = IQAContext(task=cfg.task.name, seed=cfg.seed, data_key=data.key, train=data.train, device=device,
                     progress=progress)
    return build_ensemble(cfg.iqa, ctx, scale=cfg.scale)


def _check_weight_files(cfg: DictConfig, needs_iqa: bool) -> None:
    """Missing weight files of eval NR metrics and pyiqa ensemble members fail now, before data and base model.

    Raises:
        UserError: names the file, the cache dir and the fetch command (qtbench.iqa.weights).
    """
    from qtbench.eval.metrics import nr_metric
    from qtbench.iqa import weights
    from qtbench.iqa.config import resolve_preset
    from qtbench.iqa.presets import preset_members

    for nr in cfg.eval.nr_metrics:
        nr_metric(nr)
    if needs_iqa:
        members = list(cfg.iqa.members) or preset_members(resolve_preset(cfg.iqa.preset, cfg.scale))
        for m in members:
            if m.name not in registry.iqa:
                weights.require(m.name)
