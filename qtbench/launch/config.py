"""Launcher settings: ``debug`` (in process), ``local`` (subprocesses) or ``slurm`` (sbatch), via submitit.

They live in their own small Hydra tree (``conf/launch.yaml`` + ``conf/launcher/*.yaml``) checked against
:class:`LauncherConfig`, so ``launcher.partitoin=gpu`` fails at once. They are kept out of the run config
on purpose: where a run executes must not change its identity hash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from qtbench.errors import UserError

LAUNCHERS = ("debug", "local", "slurm")
PREFIX = "launcher."


@dataclass
class LauncherConfig:
    """Where and how runs execute (docs/architecture.md §7). SLURM fields map onto submitit's ``slurm_*`` parameters."""

    name: str = "debug"
    partition: Optional[str] = None
    gpus_per_node: int = 0
    cpus_per_task: int = 2
    mem_gb: Optional[float] = None
    timeout_min: int = 240
    array_parallelism: int = 32
    account: Optional[str] = None
    qos: Optional[str] = None
    constraint: Optional[str] = None
    setup: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    signal_delay_s: int = 90
    max_num_timeout: int = 3
    # torch threads per run; 0: cpus_per_task (slurm) or cores / array_parallelism (local); runtime.threads=N wins
    threads: int = 0


@dataclass
class LaunchRoot:
    launcher: LauncherConfig = field(default_factory=LauncherConfig)


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """``(run overrides, launcher overrides)``: ``launcher.KEY=VALUE`` items go to the launcher."""
    run, launch = [], []
    for ov in overrides:
        (launch if ov.lstrip("+~").startswith(PREFIX) else run).append(ov)
    return run, launch


def compose_launcher(name: str, overrides: list[str] = ()) -> DictConfig:
    """The read-only launcher config ``name`` with ``launcher.KEY=VALUE`` overrides applied.

    Raises:
        UserError: unknown launcher, key or value type.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    from qtbench.config.compose import CONF_DIR, _explain

    if name not in LAUNCHERS:
        raise UserError(f"unknown launcher {name!r}; choose one of {', '.join(LAUNCHERS)}")
    ConfigStore.instance().store(name="launch_schema", node=LaunchRoot)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            # free-form sbatch keys are new dict keys, which Hydra wants spelled with "+"
            ovs = ["+" + o if o.startswith(PREFIX + "extra.") else o for o in overrides]
            cfg = compose("launch", overrides=[f"launcher={name}", *ovs])
    except Exception as exc:  # Hydra wraps OmegaConf errors; one line for the user
        raise UserError(f"invalid launcher setting: {_explain(exc)}") from None
    finally:
        GlobalHydra.instance().clear()
    lc = cfg.launcher
    for key in ("cpus_per_task", "timeout_min", "array_parallelism"):
        if lc[key] < 1:
            raise UserError(f"launcher.{key}={lc[key]} must be >= 1")
    OmegaConf.set_readonly(lc, True)
    return lc


def threads_per_run(lc: DictConfig) -> int:
    """torch intra-op threads each run of this launcher should use (0 = torch's default)."""
    if lc.threads > 0:
        return int(lc.threads)
    if lc.name == "slurm":
        return int(lc.cpus_per_task)
    if lc.name == "local":
        return max(1, (os.cpu_count() or 1) // int(lc.array_parallelism))
    return 0
