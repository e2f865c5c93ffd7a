"""Compose, validate and hash a run's configuration (Hydra compose API, no ``@hydra.main``).

``compose_run`` turns the CLI's ``--method/--task/--seed/--scale`` and ``key=value`` overrides into one
read-only ``DictConfig``. Plugin schemas come from the registries, so a mistyped key or a wrong type
fails here, before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from qtbench import registry
from qtbench.config.schema import RunConfig
from qtbench.errors import UserError
from qtbench.iqa.config import resolve_preset, validate_iqa
from qtbench.method_spec import MethodSpec, parse_method

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
SCALES = tuple(sorted(p.stem for p in (CONF_DIR / "scale").glob("*.yaml")))
# Keys that say where/how a run executes but not what it computes: excluded from the identity hash.
NON_IDENTITY_KEYS = ("runtime",)
# Options added after runs were made, whose default reproduces the old behaviour: left out of the identity while
# at that default, so finished runs stay finished and caches stay valid (like task_identity's own-data fields).
NEUTRAL_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("iqa", "niqe_fit", "differentiable"): False,
    ("iqa", "niqe", "differentiable"): False,
    ("addons", "pref", "loser_grad"): True,
    ("strong", "on_source"): False,
    ("pl", "pl_reduction"): "mean",
    # the reward-agreement knobs and measurement (docs/agreement.md); the section is dropped once emptied
    ("iqa", "agreement", "alpha"): 0.0,
    ("iqa", "agreement", "sigma"): 0.0,
    ("iqa", "agreement", "lo"): 10.0,
    ("iqa", "agreement", "hi"): 40.0,
    ("iqa", "agreement", "every"): 10,
}
# Groups chosen by dedicated CLI flags; a key=value override of them would bypass the method grammar.
_RESERVED = {"task": "--task", "framework": "--method", "method": "--method", "seed": "--seed", "scale": "--scale"}


def _store_schemas() -> None:
    """Put the engine schema and every plugin's schema into Hydra's ConfigStore (idempotent)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="run_schema", node=RunConfig)
    for group, reg in (("task", registry.tasks), ("backbone", registry.backbones), ("framework", registry.frameworks)):
        for entry in reg:
            cs.store(group=group, name=entry.name, node=entry.config if entry.config is not None else {})
    for entry in registry.addons:
        if entry.meta.get("bundle") is None:
            node = entry.config if entry.config is not None else {}
            cs.store(group=f"addons/{entry.name}", name="default", node=node, package=f"addons.{entry.name}")


def _explain(exc: BaseException) -> str:
    """The most specific first line of a Hydra/OmegaConf exception chain."""
    msgs = []
    while exc is not None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msgs.append(first)
        exc = exc.__cause__ or exc.__context__
    return "; ".join(dict.fromkeys(msgs))


def compose_run(
    method: str,
    task: str,
    seed: int = 0,
    scale: str = "cpu",
    overrides: list[str] | tuple[str, ...] = (),
    runs_dir: str | None = None,
    tracking_uri: str | None = None,
) -> DictConfig:
    """Compose the resolved, validated, read-only config of one run.

    Args:
        method: ``FRAMEWORK[+ADDON...][-ADDON...]``.
        task: registered task name (e.g. ``dehaze``).
        seed: photo split, degradation realisations, initialisation and training randomness.
        scale: ``smoke``, ``cpu`` or ``paper`` (``conf/scale/*.yaml``).
        overrides: Hydra ``key=value`` overrides (``pl.iters=300``, ``framework.w_pl=0.5``...).
        runs_dir: where run folders go (``runtime.runs_dir``).
        tracking_uri: MLflow tracking URI (``runtime.tracking_uri``). Both are set after composition, never
            parsed by Hydra: any character of a path (``,`` ``=`` ``'`` ``[`` ``${...}``, unicode) stays literal.

    Raises:
        UserError: any invalid name, key, type or value, with a one-line explanation.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    spec: MethodSpec = parse_method(method)
    task_name = registry.tasks.get(task).name
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    for ov in overrides:
        key = ov.split("=", 1)[0].lstrip("+~")
        if "=" not in ov or not key:
            raise UserError(f"override {ov!r} must look like key=value (e.g. pl.iters=300)")
        if key in _RESERVED:
            raise UserError(f"override {ov!r}: set {key} with {_RESERVED[key]} instead")
    _store_schemas()
    hydra_overrides = [
        f"task={task_name}",
        f"framework={spec.framework}",
        f"scale={scale}",
        f"seed={seed}",
        f"method={spec.text}",
        *[f"+addons/{a}=default" for a in spec.addons],
        *overrides,
    ]
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("config", overrides=list(hydra_overrides))
    except Exception as exc:  # Hydra wraps OmegaConf errors; show the user the specific cause
        raise UserError(f"invalid configuration: {_explain(exc)} (see `qtbench run --help` and `qtbench config`)") from None
    finally:
        GlobalHydra.instance().clear()
    if runs_dir is not None:
        cfg.runtime.runs_dir = _literal(str(runs_dir))
    if tracking_uri is not None:
        cfg.runtime.tracking_uri = _literal(str(tracking_uri))
    cfg.iqa.preset = resolve_preset(cfg.iqa.preset, cfg.scale)  # "auto" -> the scale's preset, logged with the run
    validate(cfg, spec)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def _literal(text: str) -> str:
    """``text`` as an OmegaConf string value that resolves to itself (``${`` is escaped, not interpolated)."""
    return text.replace("${", "\\${")


def literal_config(data: Any) -> DictConfig:
    """A DictConfig of an already *resolved* config (a container, or config.yaml's text), whose strings stay
    literal: a ``${`` inside a path (``--runs-dir``) is not interpolated again when the config is read back."""
    def esc(x: Any) -> Any:
        if isinstance(x, str):
            return _literal(x)
        if isinstance(x, dict):
            return {k: esc(v) for k, v in x.items()}
        if isinstance(x, list):
            return [esc(v) for v in x]
        return x

    if isinstance(data, str):  # OmegaConf's YAML loader (floats like 1e-4), without resolving anything
        data = OmegaConf.to_container(OmegaConf.create(data), resolve=False)
    return OmegaConf.create(esc(data))


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise UserError(msg)


# Largest working short side (px) of task.data.image_size: the whole data set is held in memory (photos x
# realisations x ~2*size^2*3 bytes), so 2048 px (5x the paper scale's 384) already needs tens of GB on the debian pool.
MAX_IMAGE_SIZE = 2048


def _non_finite(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys of every float in ``node`` (a plain container) that is NaN or infinite."""
    if isinstance(node, dict):
        return [k for key, v in node.items() for k in _non_finite(v, f"{prefix}{key}.")]
    if isinstance(node, list):
        return [k for i, v in enumerate(node) for k in _non_finite(v, f"{prefix}{i}.")]
    return [prefix.rstrip(".")] if isinstance(node, float) and not math.isfinite(node) else []


def _check_ranges(cfg: DictConfig) -> None:
    """Settings no run can use: non-finite numbers, empty batches, working images beyond MAX_IMAGE_SIZE."""
    bad = _non_finite(OmegaConf.to_container(cfg, resolve=True))
    _check(not bad, f"{bad[0] if bad else ''}={OmegaConf.select(cfg, bad[0]) if bad else ''} is not a finite "
           "number; give a finite value")
    for key in ("base.batch_size", "pl.batch_source", "pl.batch_target", "eval.batch_size"):
        value = OmegaConf.select(cfg, key)
        _check(value is None or value > 0, f"{key}={value} must be >= 1")
    from qtbench.data.pools import POOLS

    pool = OmegaConf.select(cfg, "task.data.pool")  # before a run folder exists, not when the data is built
    _check(pool is None or pool in POOLS, f"unknown photo pool {pool!r}; choose one of {', '.join(POOLS)} "
           "(task.data.pool=...)")
    size = OmegaConf.select(cfg, "task.data.image_size")
    _check(size is None or size <= MAX_IMAGE_SIZE, f"task.data.image_size={size} is larger than {MAX_IMAGE_SIZE} px "
           "(the whole data set is held in memory); use a smaller working size")


def validate(cfg: DictConfig, spec: MethodSpec | None = None) -> None:
    """Value checks that types alone cannot express (ranges, choices), then the plugins' own checks."""
    _check_ranges(cfg)
    for stage in ("base", "pl"):
        s = cfg[stage]
        _check(s.iters >= 0, f"{stage}.iters={s.iters} must be >= 0")
        _check(s.optimizer in ("adam", "adamw"), f"{stage}.optimizer={s.optimizer!r}: choose adam or adamw")
        _check(s.lr > 0 and s.lr_min >= 0, f"{stage}.lr and {stage}.lr_min must be positive")
        _check(s.crop >= 16 and s.crop % 4 == 0, f"{stage}.crop={s.crop} must be a multiple of 4, >= 16")
    _check(cfg.pl.target_crops in ("random", "grid"), f"pl.target_crops={cfg.pl.target_crops!r}: choose random or grid")
    _check(cfg.pl.pl_reduction in ("mean", "sum"), f"pl.pl_reduction={cfg.pl.pl_reduction!r}: choose mean or sum")
    _check(0.0 <= cfg.pl.ema_decay < 1.0, f"pl.ema_decay={cfg.pl.ema_decay} must be in [0, 1)")
    for key in ("w_sup", "w_pl"):
        _check(cfg.pl[key] >= 0, f"pl.{key}={cfg.pl[key]} is a loss weight and must be >= 0")
    _check(cfg.pl.checkpoint_every > 0 and cfg.pl.log_every > 0, "pl.checkpoint_every and pl.log_every must be > 0")
    lo, hi = cfg.strong.contrast
    _check(0 < lo <= hi, f"strong.contrast={list(cfg.strong.contrast)} must satisfy 0 < low <= high")
    lo, hi = cfg.strong.gamma
    _check(0 < lo <= hi, f"strong.gamma={list(cfg.strong.gamma)} must satisfy 0 < low <= high")
    lo, hi = cfg.strong.noise
    _check(0 <= lo <= hi, f"strong.noise={list(cfg.strong.noise)} must satisfy 0 <= low <= high")
    _check(0 <= cfg.strong.blur_prob <= 1, f"strong.blur_prob={cfg.strong.blur_prob} must be in [0, 1]")
    _check(cfg.runtime.device in ("cpu", "cuda", "auto"), f"runtime.device={cfg.runtime.device!r}: cpu, cuda or auto")
    _check(cfg.runtime.chunk_rows >= -1, f"runtime.chunk_rows={cfg.runtime.chunk_rows}: -1 (auto), 0 (never split) or "
           "a row count")
    validate_iqa(cfg)
    _check_crops_fit(cfg)
    framework = spec.framework if spec is not None else parse_method(cfg.method).framework
    for reg, key in ((registry.tasks, cfg.task.name), (registry.backbones, cfg.backbone.name), (registry.frameworks, framework)):
        entry = reg.get(key)
        check = getattr(entry.obj, "validate_config", None)
        if check is not None:
            check(cfg)
    for name in cfg.addons:
        check = getattr(registry.addons.get(name).obj, "validate_config", None)
        if check is not None:
            check(cfg)


def _check_crops_fit(cfg: DictConfig) -> None:
    """Every crop the run takes must fit in the working images (their short side is ``task.data.image_size``).

    Caught here so that a too-small image size fails before any data is built, not deep in a sampler.
    """
    size = OmegaConf.select(cfg, "task.data.image_size")  # a task without a fixed working size has nothing to check
    if size is None:
        return
    crops = {"base.crop": cfg.base.crop, "pl.crop": cfg.pl.crop,
             "iqa.niqe_fit.calib_crop": cfg.iqa.niqe_fit.calib_crop, "iqa.degprob.crop": cfg.iqa.degprob.crop}
    for key, crop in crops.items():
        _check(crop <= size, f"{key}={crop} is larger than the working images (task.data.image_size={size}); "
                             f"lower {key} or raise task.data.image_size")


def identity(cfg: DictConfig) -> dict[str, Any]:
    """The part of the config that defines what a run computes."""
    from qtbench.tasks.base import task_identity

    data = OmegaConf.to_container(cfg, resolve=True)
    for key in NON_IDENTITY_KEYS:
        data.pop(key, None)
    if data.get("task") is not None:
        data["task"] = task_identity(cfg.task)  # unset own-data fields are left out (stable identities)
    for path, default in NEUTRAL_DEFAULTS.items():
        node = data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node and node[path[-1]] == default:
            del node[path[-1]]
            _drop_emptied(data, path[:-1])
    return data


def _drop_emptied(data: dict, path: tuple[str, ...]) -> None:
    """Remove the section at ``path`` if removing neutral defaults left it empty (a section added with them)."""
    node, parents = data, []
    for key in path:
        parents.append(node)
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and not node and parents:
        del parents[-1][path[-1]]


def config_hash(cfg: DictConfig) -> str:
    """sha256 (hex) of the canonical JSON of :func:`identity`: the run's identity."""
    blob = json.dumps(identity(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def run_dir(cfg: DictConfig) -> Path:
    """``<runs_dir>/<task>/<method>/s<seed>-<hash12>``: one folder per run identity."""
    return Path(cfg.runtime.runs_dir) / cfg.task.name / cfg.method / f"s{cfg.seed}-{config_hash(cfg)[:12]}"
