"""Config composition: schemas catch typos and wrong types at compose time; the hash is the identity."""

import pytest
from omegaconf import OmegaConf

import dummy_addons  # noqa: F401
from qtbench.config.compose import compose_run, config_hash, run_dir
from qtbench.engine.build import build_backbone
from qtbench.errors import UserError


def test_default_composes_with_feasibility_defaults():
    cfg = compose_run("mt", "dehaze")
    assert cfg.scale == "cpu" and cfg.pl.iters == 500 and cfg.base.iters == 2000
    assert cfg.pl.ema_decay == 0.99 and cfg.pl.lr == 2e-4 and list(cfg.backbone.widths) == [16, 32, 64]
    assert cfg.task.data.pool == "wheels"


@pytest.mark.slow
def test_scales_compose_and_build():
    smoke = compose_run("mt", "dehaze", scale="smoke")
    assert smoke.pl.iters < 50
    paper = compose_run("mt", "dehaze", scale="paper")
    assert paper.pl.crop == 288 and paper.pl.batch_target == 8 and paper.pl.optimizer == "adamw"
    assert paper.pl.lr == 5e-5 and paper.pl.ema_decay == 0.999 and paper.pl.iters == 10000
    for cfg in (smoke, paper):
        build_backbone(cfg.backbone)
    n_cpu = sum(p.numel() for p in build_backbone(compose_run("mt", "dehaze").backbone).parameters())
    assert n_cpu <= 500_000


@pytest.mark.slow
def test_overrides_apply_and_change_the_hash():
    a = compose_run("mt", "dehaze", overrides=["pl.iters=300"])
    b = compose_run("mt", "dehaze")
    assert a.pl.iters == 300 and config_hash(a) != config_hash(b)
    assert config_hash(b) == config_hash(compose_run("mt", "dehaze"))


@pytest.mark.slow
def test_runtime_keys_are_not_identity():
    a = compose_run("mt", "dehaze", runs_dir="/tmp/x", overrides=["runtime.progress=false"])
    b = compose_run("mt", "dehaze", runs_dir="/tmp/y")
    assert config_hash(a) == config_hash(b)
    assert run_dir(a).name == run_dir(b).name


@pytest.mark.slow
def test_seed_and_method_are_identity():
    base = config_hash(compose_run("mt", "dehaze"))
    assert config_hash(compose_run("mt", "dehaze", seed=1)) != base
    assert config_hash(compose_run("oracle", "dehaze")) != base


def test_addon_config_group():
    cfg = compose_run("mt+dummy_a", "dehaze", overrides=["addons.dummy_a.strength=0.5"])
    assert cfg.addons.dummy_a.strength == 0.5


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["pl.iter=3"], "pl.iter"),  # mistyped key
        (["nonsense=1"], "nonsense"),  # unknown key
        (["pl.iters=many"], "many"),  # wrong type
        (["pl.w_pl=-1"], "loss weight"),
        (["pl.w_sup=-0.5"], "loss weight"),
        (["pl.ema_decay=1.5"], "ema_decay"),
        (["runtime.chunk_rows=-2"], "runtime.chunk_rows"),
        (["task.source.beta=[2.0,1.0]"], "beta"),
        (["framework=oracle"], "--method"),
        (["seed=3"], "--seed"),
        (["justakey"], "key=value"),
        (["pl.optimizer=sgd"], "adam"),
        (["task.data.image_size=24"], r"base.crop=64 is larger than the working images \(task.data.image_size=24\)"),
        (["iqa.niqe_fit.patch=200", "iqa.niqe_fit.calib_crop=300"], "iqa.niqe_fit.calib_crop=300 is larger"),
    ],
)
@pytest.mark.slow
def test_bad_overrides_fail_at_compose_time(overrides, message):
    with pytest.raises(UserError, match=message):
        compose_run("mt", "dehaze", overrides=overrides)


def test_unknown_names():
    with pytest.raises(UserError, match="unknown task 'dehaz'; did you mean dehaze"):
        compose_run("mt", "dehaz")
    with pytest.raises(UserError, match="unknown scale"):
        compose_run("mt", "dehaze", scale="huge")


def test_config_is_read_only():
    cfg = compose_run("mt", "dehaze")
    with pytest.raises(Exception):
        cfg.pl.iters = 3
    assert OmegaConf.is_readonly(cfg)
