"""Search-space files: parse, validate and sample ``sweeps/spaces/NAME.yaml``.

A space file maps config keys (the same dotted keys as ``qtbench run`` overrides) to ranges::

    params:
      addons.pref.lam:   {type: float, low: 0.1, high: 10.0, log: true}
      addons.pref.start: {type: float, low: 0.0, high: 0.5, step: 0.05}
      addons.bank.k:     {type: int, low: 1, high: 5}
      addons.pref.anchor: {type: categorical, choices: [best, worst]}

Everything is checked before any trial starts: structure and ranges here (:func:`load_space`), the keys
and the range ends against the composed run config in :func:`check_against_config`. Every problem is
one line ``FILE: KEY: what is wrong`` (a :class:`~qtbench.errors.UserError`, exit 2).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qtbench.config.override_text import override_value
from qtbench.errors import UserError

TYPES = ("float", "int", "categorical")
_FIELDS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}
_TOP = {"params", "description"}
# chosen by dedicated flags (--method/--task/--seed/--scale) or not part of what a run computes
_RESERVED = ("method", "task", "seed", "scale", "framework")


@dataclass(frozen=True)
class Param:
    """One tuned config key.

    Args:
        key: dotted config key (``addons.pref.lam``); also the Optuna parameter name.
        type: ``float``, ``int`` or ``categorical``.
        low, high: inclusive range (float/int).
        log: sample on a log scale (needs ``low > 0``).
        step: grid step of the range (not with ``log``).
        choices: values of a categorical parameter (scalars).
    """

    key: str
    type: str
    low: Any = None
    high: Any = None
    log: bool = False
    step: Any = None
    choices: tuple = ()

    def suggest(self, trial: Any) -> Any:
        """Ask ``trial`` (an ``optuna.Trial``) for this parameter's value."""
        if self.type == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, self.low, self.high, log=self.log, step=self.step or 1)
        return trial.suggest_categorical(self.key, list(self.choices))

    def probes(self) -> list[Any]:
        """The values checked against the config before tuning: both range ends, or every choice."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type}
        if self.type == "categorical":
            d["choices"] = list(self.choices)
        else:
            d.update(low=self.low, high=self.high, log=self.log, step=self.step)
        return d


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space (order of the file kept)."""

    params: tuple[Param, ...]
    source: str = "<space>"
    description: str = ""
    keys: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(p.key for p in self.params))

    def suggest(self, trial: Any) -> dict[str, Any]:
        """``{key: value}`` for one trial."""
        return {p.key: p.suggest(trial) for p in self.params}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (study attributes, worker specs); :func:`space_from_dict` reads it back."""
        return {"params": {p.key: p.to_dict() for p in self.params}, "description": self.description}


def overrides(values: dict[str, Any]) -> list[str]:
    """``{key: value}`` -> ``["key=value", ...]`` for :func:`qtbench.config.compose.compose_run`."""
    return [f"{k}={override_value(v)}" for k, v in values.items()]


def _number(where: str, name: str, v: Any, integer: bool) -> Any:
    if isinstance(v, bool) or v is None:
        raise UserError(f"{where}: {name} must be a number, got {v!r}")
    if integer:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if not isinstance(v, int):
            raise UserError(f"{where}: {name} must be an integer for an int parameter, got {v!r}")
        return v
    try:  # YAML 1.1 reads 1e-3 (no dot) as a string: accept numeric strings for floats
        x = float(v)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {name} must be a number, got {v!r}") from None
    if not math.isfinite(x):
        raise UserError(f"{where}: {name} must be finite, got {v!r}")
    return x


def _param(where: str, key: str, spec: Any) -> Param:
    if not isinstance(spec, dict):
        raise UserError(f"{where}: expected a mapping like {{type: float, low: 0.1, high: 1.0}}, got {spec!r}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise UserError(f"{where}: unknown type {kind!r}; choose one of {', '.join(TYPES)}")
    extra = set(spec) - _FIELDS[kind]
    if extra:
        raise UserError(f"{where}: unknown field(s) {', '.join(sorted(map(str, extra)))} for a {kind} parameter "
                        f"(allowed: {', '.join(sorted(_FIELDS[kind]))})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UserError(f"{where}: empty choices; a categorical parameter needs a non-empty list")
        for c in choices:
            if not (c is None or isinstance(c, (bool, int, float, str))):
                raise UserError(f"{where}: choice {c!r} is not a scalar (Optuna stores scalars only)")
        if len({repr(c) for c in choices}) != len(choices):
            raise UserError(f"{where}: duplicate choices in {choices}")
        return Param(key, kind, choices=tuple(choices))
    integer = kind == "int"
    for name in ("low", "high"):
        if name not in spec:
            raise UserError(f"{where}: missing {name}")
    low, high = _number(where, "low", spec["low"], integer), _number(where, "high", spec["high"], integer)
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"{where}: log must be true or false, got {log!r}")
    if low > high:
        raise UserError(f"{where}: low {low} > high {high}")
    if low == high:
        raise UserError(f"{where}: empty range (low == high == {low}); fix the value with an override instead")
    if log and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0, got low {low}")
    step = spec.get("step")
    if step is not None:
        step = _number(where, "step", step, integer)
        if step <= 0:
            raise UserError(f"{where}: step must be > 0, got {step}")
        if log:
            raise UserError(f"{where}: step and log cannot be combined (Optuna samples a log range continuously)")
        if step > high - low:
            raise UserError(f"{where}: step {step} is larger than the range {low}..{high}")
    return Param(key, kind, low=low, high=high, log=log, step=step)


def space_from_dict(data: Any, source: str = "<space>") -> SearchSpace:
    """Validate the structure of a parsed space file (no config needed)."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: a space file is a mapping with a 'params' section")
    extra = set(data) - _TOP
    if extra:
        raise UserError(f"{source}: unknown top-level key(s) {', '.join(sorted(map(str, extra)))} "
                        f"(allowed: {', '.join(sorted(_TOP))})")
    params = data.get("params")
    if not isinstance(params, dict) or not params:
        raise UserError(f"{source}: 'params' must be a non-empty mapping of config keys to ranges")
    out = []
    for key, spec in params.items():
        key = str(key)
        where = f"{source}: {key}"
        root = key.split(".", 1)[0]
        if root in _RESERVED or root == "runtime":
            why = "set it with a flag" if root in _RESERVED else "runtime settings do not change what a run computes"
            raise UserError(f"{where}: cannot be tuned ({why})")
        out.append(_param(where, key, spec))
    return SearchSpace(tuple(out), source=source, description=str(data.get("description") or ""))


def load_space(path: str | Path) -> SearchSpace:
    """Read and structurally validate a space file.

    Raises:
        UserError: missing/unreadable file, bad YAML, unknown type or field, empty range, low > high,
            a log range touching 0...
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UserError(f"space file {p} not found (shipped spaces live in sweeps/spaces/)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{p}: not valid YAML ({first})") from None
    return space_from_dict(data, source=str(p))


def _leaf_keys(cfg: Any, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    keys = []
    for k in cfg:
        full = f"{prefix}.{k}" if prefix else str(k)
        node = cfg._get_node(k)
        keys.extend(_leaf_keys(cfg[k], full) if isinstance(node, DictConfig) else [full])
    return keys


def check_against_config(space: SearchSpace, base_cfg: Any, compose: Callable[[list[str]], Any]) -> None:
    """Check every key exists in the composed config and every range end / choice composes.

    Args:
        space: the structurally valid space.
        base_cfg: the study's run config without any tuned value (method, task, scale, base overrides).
        compose: ``overrides -> cfg``, raising :class:`UserError` (the study's ``compose_run``).

    Raises:
        UserError: unknown key (with close matches), a type or value the config rejects.
    """
    from omegaconf import OmegaConf

    missing = object()
    for p in space.params:
        if OmegaConf.select(base_cfg, p.key, default=missing) is missing:
            close = difflib.get_close_matches(p.key, _leaf_keys(base_cfg), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"{space.source}: {p.key}: unknown config key for method {base_cfg.method}{hint}")
        if OmegaConf.is_config(OmegaConf.select(base_cfg, p.key)):
            raise UserError(f"{space.source}: {p.key}: is a config section, not a value")
    # one compose per range end / choice: names the culprit and catches plugin range checks (w >= 0...)
    for p in space.params:
        for v in p.probes():
            try:
                compose(overrides({p.key: v}))
            except UserError as exc:
                raise UserError(f"{space.source}: {p.key}={override_value(v)} is rejected by the config: {exc}") from None


def describe(space: SearchSpace) -> str:
    """One line per parameter, for the CLI."""
    lines = []
    for p in space.params:
        if p.type == "categorical":
            lines.append(f"  {p.key}: one of {list(p.choices)}")
        else:
            extra = " (log)" if p.log else (f" (step {p.step})" if p.step else "")
            lines.append(f"  {p.key}: {p.type} in [{p.low}, {p.high}]{extra}")
    return "\n".join(lines)
