"""Registry-driven matrix: every installed framework x {no add-on, each bundle, each valid single add-on}.

Generated from the registries (only plugins installed through entry points, so test-only dummies stay
out): a new framework or add-on package is smoke-tested here without editing this file. Each cell runs two
PL steps and the full evaluation in-process at smoke scale (about a second each once the shared base model
and IQA members are cached).
"""

from __future__ import annotations

import math
from importlib.metadata import entry_points

import pytest

from qtbench import registry
from qtbench.errors import UserError
from qtbench.method_spec import parse_method

TINY = ["pl.iters=2", "pl.trajectory_points=1", "runtime.progress=false", "runtime.threads=1"]


def installed(reg: registry.Registry) -> list[registry.Entry]:
    """Entries registered by modules named in ``reg``'s entry points (bundles: by entry-point name)."""
    eps = entry_points(group=reg.group)
    modules = {ep.value.split(":")[0] for ep in eps}
    names = {ep.name for ep in eps}
    return [e for e in reg if (e.obj is not None and e.obj.__module__ in modules) or e.name in names]


def addon_sets() -> list[str]:
    """'' (none), every bundle, and every add-on that is valid on its own (no ``requires``)."""
    out = [""]
    for e in installed(registry.addons):
        if e.meta.get("bundle") is not None or not e.meta.get("requires"):
            out.append(e.name)
    return out


def matrix() -> list[str]:
    methods = []
    for fw in installed(registry.frameworks):
        for a in addon_sets():
            text = f"{fw.name}+{a}" if a else fw.name
            try:
                parse_method(text)  # frameworks/conflicts restrictions declared in the registry
            except UserError:
                continue
            methods.append(text)
    return methods


def test_matrix_covers_the_paper_frameworks():
    m = matrix()
    for fw in ("mt", "filter", "semiuir", "colabator"):
        assert fw in m and f"{fw}+qualiteacher" in m and f"{fw}+bank" in m


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("matrix_runs")


@pytest.mark.slow
@pytest.mark.parametrize("method", matrix())
def test_cell_trains_and_evaluates(method, runs_dir):
    from qtbench.config.compose import compose_run
    from qtbench.runner import execute

    spec = parse_method(method)
    extra = ["addons.qcond.diag_max_images=1"] if "qcond" in spec.addons else []
    s = execute(compose_run(method, "dehaze", scale="smoke", overrides=TINY + extra, runs_dir=str(runs_dir)))
    assert s["method"] == method and s["timing"]["s_per_iter"] > 0
    for name in ("base", "teacher", "student"):
        assert math.isfinite(s["metrics"][f"{name}/target_psnr"])
    assert isinstance(s["framework"], dict) and set(s["addons"]) == set(spec.addons)
    if "qcond" in spec.addons:
        assert s["inference_level"] == 7
