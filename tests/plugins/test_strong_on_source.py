"""``strong.on_source``: MT's supervised source branch can get the strong view that ``srconly`` always gets."""

import torch

from qtbench import registry
from qtbench.config.compose import compose_run, config_hash
from qtbench.engine import trainer as trainer_mod
from qtbench.engine.base_stage import get_base_model
from qtbench.engine.trainer import PLTrainer


def test_default_keeps_run_identities_and_true_is_a_new_run():
    default = compose_run("mt", "dehaze")
    assert default.strong.on_source is False
    assert config_hash(compose_run("mt", "dehaze", overrides=["strong.on_source=false"])) == config_hash(default)
    assert config_hash(compose_run("mt", "dehaze", overrides=["strong.on_source=true"])) != config_hash(default)


def _strong_view_inputs(method, overrides, monkeypatch, tmp_path):
    """Batch sizes of every strong_view call in one PL step."""
    cfg = compose_run(method, "dehaze", scale="smoke",
                      overrides=["pl.iters=2", "pl.batch_source=3", "pl.batch_target=5", *overrides])
    data = registry.tasks.get("dehaze").obj(cfg.task).build(cfg.seed, progress=False)
    base, _ = get_base_model(cfg, data.train, torch.device("cpu"), progress=False)
    fw = registry.frameworks.get(method).obj(cfg.framework)
    t = PLTrainer(cfg, data.train, base, fw, [], tmp_path, torch.device("cpu"), lambda m: {}, lambda m, s: None,
                  progress=False)
    seen, real = [], trainer_mod.strong_view
    monkeypatch.setattr(trainer_mod, "strong_view", lambda x, c, g: seen.append(x.shape[0]) or real(x, c, g))
    t.train_step()
    return seen


def test_mt_views_only_target_inputs_by_default(monkeypatch, tmp_path):
    assert _strong_view_inputs("mt", [], monkeypatch, tmp_path) == [5]


def test_on_source_also_views_the_source_batch(monkeypatch, tmp_path):
    assert _strong_view_inputs("mt", ["strong.on_source=true"], monkeypatch, tmp_path) == [3, 5]


def test_srconly_views_its_source_batch_either_way(monkeypatch, tmp_path):
    assert _strong_view_inputs("srconly", [], monkeypatch, tmp_path) == [3]
