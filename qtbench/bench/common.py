"""What both benches share: the run pieces (data, base model, ensemble), the bench-only random MUSIQ member,
the provenance block of every result file (machine, load, versions, commit, command) and small timing helpers.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from qtbench.iqa import pyiqa_adapter
from qtbench.iqa.api import MemberConfig
from qtbench.iqa.pyiqa_member import PyiqaMember

REPO = Path(__file__).resolve().parents[2]
MUSIQ_LABEL = "offline+musiq_random"  # the offline preset with a random-weights MUSIQ member added


class RandomMusiqMember(PyiqaMember):
    """Bench only: pyiqa's MUSIQ built with ``pretrained=False``.

    Same architecture, hence the same cost, as the paper preset's MUSIQ, but random weights: its scores mean
    nothing, so it is never offered to runs. It builds offline (no weight file), which is why the paper
    preset's cost can be measured on a machine that cannot fetch weights (docs/architecture.md §8).
    """

    @staticmethod
    def _build(name: str, device: torch.device | str) -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):  # same random network every time, global RNG untouched
            torch.manual_seed(0)
            return pyiqa_adapter.create(name, device, pretrained=False).net


def with_random_musiq(ensemble: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """A new ensemble: ``ensemble``'s members plus random MUSIQ at its paper weight and normalisation.

    The other weights are scaled so that all weights still sum to what they summed to (levels and gates
    keep roughly their operating range; MUSIQ's scores are random anyway, only its cost matters).
    """
    from qtbench.iqa.ensemble import Ensemble
    from qtbench.iqa.presets import PRESETS

    paper = next(m for m in PRESETS["paper"] if m.name == "musiq")
    musiq = RandomMusiqMember(MemberConfig(**vars(paper)), device=device)
    total = sum(ensemble.weights.values())
    keep = 1.0 - paper.weight / total
    weights = {k: w * keep for k, w in ensemble.weights.items()}
    weights["musiq"] = paper.weight
    members = dict(ensemble.members.items())
    members["musiq"] = musiq
    return Ensemble(members, weights, MUSIQ_LABEL, fallback=ensemble.fallback)


@dataclass
class BenchContext:
    """The pieces a run builds, built once and shared by every variant of a bench.

    Args:
        cfg: composed config of ``mt+qualiteacher`` (it holds every add-on's options).
        data: the task data (``TaskData``).
        base_state: the cached base model's state dict.
        ensemble: the run's IQA ensemble (offline preset at smoke/cpu scale).
        device: ``--device``: CPU (the default; cpu/smoke scale) or CUDA (paper scale on a GPU).
        musiq: the ensemble with random MUSIQ added, built on first use.
    """

    cfg: DictConfig
    data: Any
    base_state: dict
    ensemble: torch.nn.Module
    device: torch.device
    musiq: torch.nn.Module | None = field(default=None)

    @property
    def sync(self) -> Callable[[], None] | None:
        """``torch.cuda.synchronize`` on CUDA (timings must wait for queued kernels), else None."""
        return torch.cuda.synchronize if self.device.type == "cuda" else None

    def musiq_ensemble(self) -> torch.nn.Module:
        if self.musiq is None:
            self.musiq = with_random_musiq(self.ensemble, self.device)
        return self.musiq


def compose(method: str, args: Any) -> DictConfig:
    """The config a ``qtbench run`` with the bench's task/seed/scale/overrides would compose."""
    from qtbench.config.compose import compose_run

    return compose_run(method, args.task, args.seed, args.scale, list(args.overrides) + ["runtime.progress=false"])


def build_context(args: Any) -> BenchContext:
    """Data, base model (cached, else trained) and ensemble, through the runner's own functions."""
    from qtbench import registry
    from qtbench.engine.base_stage import get_base_model
    from qtbench.runner import build_iqa

    cfg = compose("mt+qualiteacher", args)
    device = torch.device(args.device)
    data = registry.tasks.get(cfg.task.name).obj(cfg.task).build(cfg.seed, progress=False)
    base_state, _ = get_base_model(cfg, data.train, device, progress=False)
    ensemble = build_iqa(cfg, data, device, progress=False)
    return BenchContext(cfg, data, base_state, ensemble, device)


# -- provenance -----------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True, timeout=10,
                              check=False).stdout.strip()

    try:
        # dirty = code differs from the commit; results/ (this bench's own earlier output) does not count
        return {"commit": git("rev-parse", "HEAD") or None,
                "dirty": bool(git("status", "--porcelain", "--", ".", ":(exclude)results"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def machine(threads: int, device: str = "cpu") -> dict[str, Any]:
    """CPU model, cores, the torch threads used, the GPU on CUDA, and the load average now (call again at the end)."""
    cores = os.cpu_count()
    with contextlib.suppress(AttributeError):
        cores = len(os.sched_getaffinity(0))
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else None
    return {"cpu": _cpu_model(), "cores": cores, "threads": threads, "torch_threads": torch.get_num_threads(),
            "device": device, "gpu": gpu, "load_start": list(os.getloadavg())}


def provenance(args: Any, command: str, mach: dict[str, Any]) -> dict[str, Any]:
    """The header of a result file; ``mach`` gets its end-of-bench load average here."""
    mach = dict(mach, load_end=list(os.getloadavg()))
    return {"machine": mach, "torch": torch.__version__, "pyiqa": pyiqa_adapter.version(),
            "python": platform.python_version(), "git": _git(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "command": command,
            "settings": {k: v for k, v in vars(args).items() if k not in ("handler", "command")}}


# -- timing ---------------------------------------------------------------------------------------
def clock(fn: Callable[..., Any], *args: Any, sync: Callable[[], None] | None = None) -> tuple[float, Any]:
    """(seconds, result) of ``fn(*args)``; with ``sync`` (CUDA), queued GPU work is waited for on both ends."""
    if sync is not None:
        sync()
    t0 = time.perf_counter()
    out = fn(*args)
    if sync is not None:
        sync()
    return time.perf_counter() - t0, out


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


@contextlib.contextmanager
def member_clock(ensemble: torch.nn.Module, sync: Callable[[], None] | None = None) -> Iterator[dict[str, float]]:
    """Accumulate the seconds each member spends in ``raw`` while the block runs, whoever calls it.

    Wraps the bound method on the instance (restored afterwards), so the ensemble's own batched ``score``
    is timed per member without calling the members a second time. ``sync``: as in :func:`clock`.
    """
    seconds = {k: 0.0 for k in ensemble.members}

    def wrap(name: str, fn: Callable) -> Callable:
        def timed(images: torch.Tensor) -> torch.Tensor:
            if sync is not None:
                sync()
            t0 = time.perf_counter()
            try:
                return fn(images)
            finally:
                if sync is not None:
                    sync()
                seconds[name] += time.perf_counter() - t0
        return timed

    timed_attrs = ("raw", "reference_raw")  # reference_raw: the official-loop row of the scoring bench
    for k, m in ensemble.members.items():
        for attr in timed_attrs:
            if hasattr(m, attr):
                object.__setattr__(m, attr, wrap(k, getattr(m, attr)))
    try:
        yield seconds
    finally:
        for m in ensemble.members.values():
            for attr in timed_attrs:
                m.__dict__.pop(attr, None)


def plain(obj: Any) -> Any:
    """OmegaConf containers -> plain Python (for JSON)."""
    return OmegaConf.to_container(obj, resolve=True) if OmegaConf.is_config(obj) else obj
