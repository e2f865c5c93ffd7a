"""Pruner and sampler choices of ``qtbench tune`` (``--pruner``, ``--sampler``), parsed before any trial starts.

A pruner is ``NAME`` or ``NAME:key=value,key=value`` with the Optuna class's own argument names, e.g.
``median:n_startup_trials=2,n_warmup_steps=1`` or ``threshold:lower=20``. Values are read as YAML scalars.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

from qtbench.errors import UserError

# default: Optuna's MedianPruner with Optuna's own defaults (no pruning before 5 trials have finished,
# so the median is not the noise of one or two runs)
DEFAULT_PRUNER = "median"
PRUNERS = ("none", "median", "percentile", "threshold", "hyperband", "successive_halving", "patient")
SAMPLERS = ("tpe", "random")


def _pruner_class(name: str) -> Any:
    import optuna.pruners as p

    return {"none": p.NopPruner, "median": p.MedianPruner, "percentile": p.PercentilePruner,
            "threshold": p.ThresholdPruner, "hyperband": p.HyperbandPruner,
            "successive_halving": p.SuccessiveHalvingPruner, "patient": p.PatientPruner}[name]


def parse_pruner(text: str) -> tuple[str, dict[str, Any]]:
    """``"median:n_startup_trials=2"`` -> ``("median", {"n_startup_trials": 2})``; checks names and arguments."""
    import yaml

    name, _, rest = (text or DEFAULT_PRUNER).partition(":")
    name = name.strip().lower().replace("-", "_")
    if name not in PRUNERS:
        raise UserError(f"--pruner {text!r}: unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}")
    kwargs: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, val = item.partition("=")
        if not eq:
            raise UserError(f"--pruner {text!r}: {item!r} must look like key=value")
        kwargs[key.strip()] = yaml.safe_load(val)
    allowed = [n for n in inspect.signature(_pruner_class(name)).parameters if n not in ("self", "wrapped_pruner")]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise UserError(f"--pruner {text!r}: unknown argument(s) {', '.join(unknown)} for {name} "
                        f"(allowed: {', '.join(allowed) or 'none'})")
    if name == "patient":  # PatientPruner wraps another pruner: wrap the default median
        kwargs.setdefault("patience", 1)
    try:
        make_pruner(name, kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--pruner {text!r}: {exc}") from None
    return name, kwargs


def make_pruner(name: str, kwargs: dict[str, Any]) -> Any:
    """Build the Optuna pruner (each worker builds its own; pruners hold no shared state)."""
    cls = _pruner_class(name)
    if name == "patient":
        return cls(_pruner_class("median")(), **kwargs)
    return cls(**kwargs)


def make_sampler(name: str, seed: Optional[int]) -> Any:
    """The sampler of one worker.

    ``tpe`` uses ``constant_liar``: parallel workers otherwise propose the same point while the others'
    trials are still running. ``seed`` must differ per worker (identical seeds would propose identical
    points); None draws one from the OS.
    """
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    raise UserError(f"--sampler {name!r}: choose one of {', '.join(SAMPLERS)}")
