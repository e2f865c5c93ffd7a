"""Every registered task: deterministic synthesis, the leak guard, real sets, config checks, and tiny runs."""

from __future__ import annotations

import numpy as np
import pytest

from qtbench import registry
from qtbench.config.compose import compose_run
from qtbench.data import lowlight, rain, snow, underwater
from qtbench.errors import UserError
from qtbench.data.containers import LeakError, TrainData

TASKS = ("dehaze", "derain", "desnow", "underwater", "lowlight")
# A tiny data set and a few iterations: each run takes seconds on a loaded CPU (numbers are meaningless).
TINY = ["task.data.image_size=64", "task.data.source_realisations=1", "task.data.unlabelled_realisations=1",
        "base.iters=4", "pl.iters=2", "pl.trajectory_points=1", "runtime.progress=false",
        "runtime.threads=1"]  # one thread: faster than two on the shared, loaded test machines
TINY_QT = TINY + ["addons.qcond.diag_max_images=1", "iqa.degprob.iters=4", "iqa.niqe_fit.calib_crops=4"]


def test_all_five_tasks_are_registered():
    assert set(TASKS) <= set(registry.tasks.names())


@pytest.fixture(scope="module", params=TASKS)
def built(request):
    cfg = compose_run("mt", request.param, scale="smoke", overrides=TINY)
    task = registry.tasks.get(request.param).obj(cfg.task)
    return cfg, task, task.build(cfg.seed, progress=False)


def test_build_is_deterministic_and_rebuilds_identically(built, tmp_path, monkeypatch):
    cfg, task, data = built
    monkeypatch.setenv("QTBENCH_HOME", str(tmp_path))  # an empty cache: synthesise again from scratch
    again = task.build(cfg.seed, progress=False)
    for a, b in ((data.train.source.inputs, again.train.source.inputs), (data.train.target_inputs, again.train.target_inputs),
                 (data.evaluation.test.inputs, again.evaluation.test.inputs)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert again.key == data.key


def test_source_and_target_degrade_and_differ(built):
    _, _, data = built
    src, test = data.train.source, data.evaluation.test
    for s in (src, test):
        assert all(x.dtype == np.uint8 and x.shape == s.target(i).shape for i, x in enumerate(s.inputs))
        assert all(not np.array_equal(x, s.target(i)) for i, x in enumerate(s.inputs))
    # the target model is not the source model: the same photo differs under the two (different streams too)
    assert data.train.source.inputs[0].tobytes() != data.train.target_inputs[0].tobytes()


def test_leak_guard_and_split_rules(built):
    cfg, task, data = built
    train = data.train
    assert isinstance(train, TrainData)
    assert {k for k in vars(train) if not k.startswith("_")} == {"source", "target_ids", "target_inputs"}
    held = set(data.split["test"]) | set(data.split["val"])
    assert not any(i.split("#")[0] in held for i in train.target_ids + train.source.ids)
    with pytest.raises(LeakError):
        train.target_labels(registry.frameworks.get("mt").obj(cfg.framework))
    assert len(train.target_labels(registry.frameworks.get("oracle").obj(cfg.framework))) == len(train.target_inputs)
    # real photos (none in the wheels pool) never enter a split
    assert not set(data.evaluation.real_ids) & {p for ids in data.split.values() for p in ids}


def test_preview_matches_the_build(built):
    cfg, task, data = built
    view = task.preview(cfg.seed, n=1)
    assert np.array_equal(view["source"][0][1], data.train.source.inputs[0])
    assert np.array_equal(view["test"][0][1], data.evaluation.test.inputs[0])
    assert view["real"] == []


def test_real_set_notes():
    for name, expect in (("derain", "no real rain"), ("desnow", "no real snow")):
        cfg = compose_run("mt", name, scale="smoke")
        assert expect in registry.tasks.get(name).obj(cfg.task).real_set_note()
    for name, role in (("dehaze", "real_haze"), ("underwater", "real_underwater"), ("lowlight", "real_lowlight")):
        cfg = compose_run("mt", name, scale="smoke")
        task = registry.tasks.get(name).obj(cfg.task)
        assert task.real_role == role and "qtbench data fetch" in task.real_set_note(0)


@pytest.mark.parametrize("task, override, message", [
    ("derain", "task.source.angle=[30,10]", "rain.angle"),
    ("derain", "task.target.layers=0", "rain.layers"),
    ("desnow", "task.target.opacity=[0.5,1.5]", "snow.opacity"),
    ("underwater", "task.target.light_prob=2.0", "underwater.light_prob"),
    ("lowlight", "task.source.exposure=[0,0.3]", "lowlight.exposure"),
    ("lowlight", "task.target.warm_tint=[1,2]", "lowlight.warm_tint"),
])
def test_bad_degradation_values_fail_at_compose(task, override, message):
    with pytest.raises(UserError, match=message):
        compose_run("mt", task, scale="smoke", overrides=[override])


@pytest.mark.parametrize("fn", [rain.rain_source, rain.rain_target, snow.snow_source, snow.snow_target,
                                underwater.water_source, underwater.water_target,
                                lowlight.lowlight_source, lowlight.lowlight_target])
def test_models_are_seeded_and_in_range(fn):
    rng = np.random.default_rng(0)
    clean = rng.random((40, 56, 3), dtype=np.float32)
    depth = np.tile(np.linspace(1.0, 0.1, 40, dtype=np.float32)[:, None], (1, 56))
    a = fn(clean, depth, np.random.default_rng(3))
    assert a.shape == clean.shape and a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, fn(clean, depth, np.random.default_rng(3)))
    assert not np.array_equal(a, fn(clean, depth, np.random.default_rng(4)))


def test_physics_sanity():
    clean = np.full((48, 48, 3), 0.5, np.float32)
    depth = np.full((48, 48), 0.8, np.float32)
    uw = underwater.water_source(clean, depth, np.random.default_rng(0))
    assert uw[..., 0].mean() < uw[..., 2].mean()  # red is absorbed first
    dark = lowlight.lowlight_target(clean, None, np.random.default_rng(0))
    assert dark.mean() < 0.35
    rainy = rain.rain_source(clean, np.full((48, 48), 0.1, np.float32), np.random.default_rng(0),
                             rain.SourceRainConfig(veil_beta=[0.0, 0.0], density=[0.02, 0.02]))
    assert rainy.max() > 0.8  # bright streaks on a grey scene


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")  # one MLflow store for all runs: creating one costs seconds


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS[1:])  # dehaze runs are covered by test_cli_run / test_addon_runs
@pytest.mark.parametrize("method", ["mt", "mt+qualiteacher"])
def test_tiny_runs(task, method, runs_dir):
    from qtbench.runner import execute

    overrides = TINY_QT if "qualiteacher" in method else TINY
    s = execute(compose_run(method, task, scale="smoke", overrides=overrides, runs_dir=str(runs_dir)))
    m = s["metrics"]
    assert s["task"] == task and np.isfinite(m["student/target_psnr"]) and np.isfinite(m["base/target_psnr"])
    assert "delta/student-base/target_psnr" in m
    assert s["real_set"] and s["n_real"] == 0
    if task in ("derain", "desnow"):
        assert s["real_set"].startswith("no real set")
    if "qualiteacher" in method:
        assert s["levels"] is not None
