"""Search-space files and the tuner's other inputs fail before any trial starts, with one line."""

from pathlib import Path

import pytest
from conftest import run_cli
from tune_helpers import SPACE, TUNE, write_space

from qtbench.config.override_text import override_value
from qtbench.errors import UserError
from qtbench.tune.driver import TuneRequest, prepare
from qtbench.tune.space import load_space


@pytest.mark.parametrize(
    "body, message",
    [
        ("params:\n  pl.w_pl: {type: floaty, low: 0, high: 1}\n", "unknown type 'floaty'"),
        ("params:\n  pl.w_pl: {type: float, low: 2.0, high: 1.0}\n", "low 2.0 > high 1.0"),
        ("params:\n  pl.w_pl: {type: float, low: 1.0, high: 1.0}\n", "empty range"),
        ("params:\n  pl.lr: {type: float, low: 0, high: 1e-3, log: true}\n", "log range needs low > 0"),
        ("params:\n  pl.w_pl: {type: categorical, choices: []}\n", "empty choices"),
        ("params:\n  pl.w_pl: {type: float, low: 0, high: 1, lg: true}\n", "unknown field(s) lg"),
        ("params:\n  pl.iters: {type: int, low: 2.5, high: 9}\n", "must be an integer"),
        ("params:\n  pl.lr: {type: float, low: 1e-4, high: 1e-3, log: true, step: 1e-4}\n", "step and log"),
        ("params: {}\n", "non-empty mapping"),
        ("prams:\n  pl.w_pl: {type: float, low: 0, high: 1}\n", "unknown top-level key(s) prams"),
        ("params:\n  seed: {type: int, low: 0, high: 3}\n", "cannot be tuned"),
        ("params:\n  runtime.threads: {type: int, low: 1, high: 3}\n", "cannot be tuned"),
        ("params: [oops\n", "not valid YAML"),
    ],
)
def test_structural_errors(tmp_path, body, message):
    path = write_space(tmp_path, body)
    with pytest.raises(UserError) as err:
        load_space(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def _request(tmp_path, space_text=SPACE, **kw):
    args = dict(method="mt", task="dehaze", space=str(write_space(tmp_path, space_text)), n_trials=2, scale="smoke",
                runs_dir=str(tmp_path / "runs"))
    args.update(kw)
    return TuneRequest(**args)


@pytest.mark.parametrize(
    "space, kw, message",
    [
        ("params:\n  pl.w_pll: {type: float, low: 0, high: 1}\n", {}, "unknown config key for method mt; did you mean pl.w_pl"),
        ("params:\n  addons.pref.lam: {type: float, low: 0.1, high: 1}\n", {}, "unknown config key"),
        ("params:\n  pl.w_pl: {type: float, low: -1, high: 1}\n", {}, "pl.w_pl=-1.0 is rejected by the config"),
        ("params:\n  pl.iters: {type: float, low: 2, high: 9}\n", {}, "pl.iters=2.0 is rejected"),
        ("params:\n  pl: {type: float, low: 0.1, high: 1}\n", {}, "config section"),
        (SPACE, {"metric": "student/target_psnr"}, "target-val metric"),
        (SPACE, {"metric": "student/val_piqe"}, "declare its direction"),
        (SPACE, {"pruner": "medain"}, "unknown pruner 'medain'"),
        (SPACE, {"pruner": "median:n_start=2"}, "unknown argument(s) n_start"),
        (SPACE, {"n_trials": 0}, "--n-trials"),
        (SPACE, {"heartbeat_interval": 5, "grace_period": 5}, "--grace"),
    ],
)
def test_config_level_errors_before_anything_is_written(tmp_path, space, kw, message):
    req = _request(tmp_path, space, **kw)
    with pytest.raises(UserError) as err:
        prepare(req)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_shipped_loss_weights_space_is_valid_for_qualiteacher(tmp_path):
    text = (Path(__file__).resolve().parents[2] / "sweeps/spaces/loss_weights.yaml").read_text()
    spec, _ = prepare(_request(tmp_path, text, method="mt+qualiteacher"))
    keys = set(spec.space["params"])
    assert {"addons.pref.lam", "addons.pref.lam2", "addons.pref.delta", "addons.pref.beta",
            "addons.crop.weight", "addons.pref.start", "addons.crop.start"} <= keys
    assert not (tmp_path / "runs").exists()


def test_value_formatting_round_trips_through_hydra():
    assert override_value(1e-05) == "1e-05" and override_value(True) == "true" and override_value("best") == "best"
    assert override_value("true") == "'true'" and override_value("a b") == "'a b'"
    # sweep axes: lists and mappings, recursively (one function for sweeps, launchers and trials)
    assert override_value([0.5, 2, "a b", {"k": None, "m": [True]}]) == "[0.5,2,'a b',{k:null,m:[true]}]"
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for v in ["gamma:0.7", "mt+bank", "0.5", "a,b", "it's", "true", ["gamma:0.7", "0.5", 3], {"a": "x y"}]:
        assert parser.parse_override(f"k={override_value(v)}").value() == v


@pytest.mark.parametrize("body, message", [
    ("params:\n  pl.w_pl: {type: float, low: 2.0, high: 1.0}\n", "low 2.0 > high 1.0"),
    ("params:\n  pl.nope: {type: float, low: 0.1, high: 1.0}\n", "unknown config key"),
])
@pytest.mark.slow
def test_cli_bad_space_is_one_line_exit_2_nothing_written(tmp_path, body, message):
    path = write_space(tmp_path, body)
    runs = tmp_path / "runs"
    out = run_cli(*TUNE, "--space", str(path), "--n-trials", "2", "--runs-dir", str(runs))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr and message in out.stderr
    assert not runs.exists()
