"""The "tuned" config file: a study's best setting in a form ``qtbench run`` accepts.

``qtbench tune report`` writes it; ``qtbench run --tuned PATH`` (or ``+tuned=PATH`` among the overrides)
applies it. Applied overrides, in order: the study's own base overrides (so the file reproduces the
trial, e.g. its ``pl.iters``), the tuned values, then the command line's overrides (which win)::

    qtbench run --method mt+qualiteacher --task dehaze --scale smoke --tuned results/tuning/NAME/best.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from qtbench import atomic
from qtbench.errors import UserError
from qtbench.tune.space import overrides as to_overrides

_REQUIRED = ("params", "study_overrides")
_RUN_KEYS = ("method", "task", "scale", "seed")


def write_tuned(path: Path, study: str, identity: dict[str, Any], trial: int, value: float,
                params: dict[str, Any], threads: Optional[int] = None) -> Path:
    """Write the best setting of ``study`` (atomically).

    ``threads`` is the trial's torch thread count: CPU results differ in the last digits between thread
    counts (the reduction order changes), so the file pins it for a bit-exact reproduction.
    """
    import yaml

    body = {
        "study": study, "trial": trial, "metric": identity["metric"], "direction": identity["direction"],
        "value": value, **{k: identity[k] for k in _RUN_KEYS},
        "study_overrides": list(identity["overrides"]), "params": dict(params),
    }
    if threads:
        body["threads"] = int(threads)
    head = (f"# Best setting of study {study}: trial {trial}, {identity['metric']} = {value:.6g} "
            f"({identity['direction']}, target-val).\n"
            f"# Reproduce: qtbench run --method {identity['method']} --task {identity['task']} "
            f"--scale {identity['scale']} --seed {identity['seed']} --tuned {path}\n")
    return atomic.write_text(path, head + yaml.safe_dump(body, sort_keys=False))


def read_tuned(path: str | Path) -> dict[str, Any]:
    """Read and check a tuned file."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UserError(f"tuned config {p} not found (written by `qtbench tune report`)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError:
        raise UserError(f"tuned config {p} is not valid YAML") from None
    if not isinstance(data, dict) or any(k not in data for k in _REQUIRED) or not isinstance(data["params"], dict):
        raise UserError(f"tuned config {p} needs 'params' (a mapping) and 'study_overrides' (a list)")
    return data


def apply_tuned(overrides: list[str], tuned: Optional[str], run: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Expand ``--tuned PATH`` / ``+tuned=PATH`` into overrides.

    Args:
        overrides: the command line's ``key=value`` overrides (a ``+tuned=PATH`` item is taken out).
        tuned: the ``--tuned`` flag's value, if any.
        run: this command's ``method``/``task``/``scale``/``seed``, compared with the file's.

    Returns:
        (overrides to compose with, notes for the user: where the file's run differs from this one).
    """
    rest, paths = [], [tuned] if tuned else []
    for ov in overrides:
        key, eq, val = ov.partition("=")
        if eq and key.lstrip("+") == "tuned":
            paths.append(val)
        else:
            rest.append(ov)
    if not paths:
        return list(overrides), []
    if len(paths) > 1:
        raise UserError("give one tuned config (--tuned PATH or +tuned=PATH), not several")
    data = read_tuned(paths[0])
    notes = [f"{k} differs from the tuned study's ({data.get(k)!r}); its values are applied anyway"
             for k in _RUN_KEYS if k in data and run.get(k) is not None and str(data[k]) != str(run[k])]
    pinned = [f"runtime.threads={int(data['threads'])}"] if data.get("threads") else []  # optional in old files
    return [*map(str, data["study_overrides"]), *to_overrides(data["params"]), *pinned, *rest], notes
