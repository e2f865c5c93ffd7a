"""Hostile-but-honest inputs: crafted pickles, two identical runs, path names, image sizes, storage faults,
unauthenticated servers, and the paired difference to the base model in ``qtbench eval``."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from conftest import run_cli
from qtbench.config.compose import compose_run, config_hash, run_dir
from qtbench.errors import UserError


class _Payload:
    """A real pickle payload: unpickling it would create ``marker`` (through os.system)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qtbench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _fake_run(root: Path, base_home: Path | None = None) -> Path:
    """A run folder of the smoke config with random weights (config.yaml, checkpoint.pt, summary.json), and its
    cached base model under ``base_home``; cheap enough for every test here."""
    from qtbench.engine import checkpoint
    from qtbench.engine.build import build_backbone

    cfg = compose_run("mt", "dehaze", 0, "smoke", [], runs_dir=str(root))
    rd = run_dir(cfg)
    rd.mkdir(parents=True)
    (rd / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    torch.manual_seed(0)
    student, base = build_backbone(cfg.backbone), build_backbone(cfg.backbone)
    checkpoint.save(rd, {"step": 1, "student": student.state_dict(), "teacher": student.state_dict()})
    (rd / "summary.json").write_text(json.dumps({"base_model": {"key": "testkey"}, "reward_metrics": []}))
    if base_home is not None:
        path = base_home / "base" / f"{cfg.task.name}-{cfg.backbone.name}-testkey.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": base.state_dict(), "train_seconds": 0.0, "key": "testkey"}, path)
    return rd


def _images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(folder / f"im{i}.png")


# -- 1. loading runs no code --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_crafted_checkpoint_is_refused_by_eval_and_resume_and_runs_no_code(tmp_path):
    marker = tmp_path / "marker"
    assert pickle.loads(pickle.dumps(_Payload(tmp_path / "control"))) == 0 and (tmp_path / "control").exists()
    rd = _fake_run(tmp_path / "runs")
    torch.save({"step": 1, "student": _Payload(marker), "teacher": {}}, rd / "checkpoint.pt")
    _images(tmp_path / "imgs", [(40, 40)])
    msg = _one_line_error(run_cli("eval", "--checkpoint", str(rd), "--data", str(tmp_path / "imgs")))
    assert "refused" in msg and "system" in msg and "nothing was executed" in msg
    msg = _one_line_error(run_cli("run", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--resume",
                                  "--runs-dir", str(tmp_path / "runs")))
    assert "refused" in msg
    assert not marker.exists()
    assert (rd / "checkpoint.pt").exists()  # a refused file is left as it is (only damaged ones are moved aside)


def test_crafted_data_cache_and_base_model_are_refused(tmp_path):
    from qtbench.safe_load import UnsafeFile, load_data_pickle, load_torch

    marker = tmp_path / "marker"
    (tmp_path / "data.pkl").write_bytes(pickle.dumps({"x": _Payload(marker)}))
    with pytest.raises(UnsafeFile, match="posix.system|os.system"):
        load_data_pickle(tmp_path / "data.pkl")
    torch.save({"state_dict": _Payload(marker)}, tmp_path / "base.pt")
    with pytest.raises(UnsafeFile):
        load_torch(tmp_path / "base.pt", "cached base model")
    assert not marker.exists()


def test_checkpoints_of_the_previous_format_still_load(tmp_path):
    """The previous code stored numpy's global RNG state as numpy's own tuple (an ndarray inside)."""
    import random

    from qtbench.engine import checkpoint

    np.random.seed(3)
    old_state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    torch.save({"step": 4, "global_rng": old_state, "np_rng": np.random.default_rng(1).bit_generator.state},
               tmp_path / "checkpoint.pt")  # exactly what the old checkpoint.save wrote
    expected = np.random.random(3)
    np.random.seed(99)
    state = checkpoint.load(tmp_path)
    checkpoint.set_global_rng_state(state["global_rng"])
    np.testing.assert_array_equal(np.random.random(3), expected)
    # the new format round-trips numpy's state through a tensor, bit for bit
    np.random.seed(5)
    checkpoint.save(tmp_path, {"step": 1})
    after = np.random.random(3)
    np.random.seed(0)
    checkpoint.set_global_rng_state(checkpoint.load(tmp_path)["global_rng"])
    np.testing.assert_array_equal(np.random.random(3), after)
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "checkpoint.pt")
    assert unsafe == []  # new checkpoints need no allowlist at all


@pytest.mark.slow
def test_truncated_checkpoint_on_resume_is_moved_aside_with_the_remedy(tmp_path):
    rd = _fake_run(tmp_path / "runs")
    blob = (rd / "checkpoint.pt").read_bytes()
    (rd / "checkpoint.pt").write_bytes(blob[: len(blob) // 3])
    msg = _one_line_error(run_cli("run", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--resume",
                                  "--runs-dir", str(tmp_path / "runs")))
    assert "--force" in msg and "truncated or damaged" in msg
    aside = list(rd.glob("checkpoint.pt.corrupt-*"))
    assert len(aside) == 1 and not (rd / "checkpoint.pt").exists()


# -- 2. one training per identity -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_second_identical_run_refuses_naming_the_running_process(tmp_path):
    args = ["run", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--runs-dir", str(tmp_path),
            "--no-progress", "runtime.threads=1", "pl.iters=100000"]
    first = subprocess.Popen([sys.executable, "-m", "qtbench.cli.main", *args], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=dict(os.environ))
    try:
        lock = None
        for _ in range(600):  # until the first process holds the lock (data and base model are built under it)
            found = list(tmp_path.glob("dehaze/mt/*/.job.lock"))
            if found and found[0].read_text().strip():
                lock = found[0]
                break
            assert first.poll() is None, "the first run ended early"
            time.sleep(0.2)
        assert lock is not None
        msg = _one_line_error(run_cli(*args))
        assert f"pid {first.pid} on host {socket.gethostname()}" in msg
        assert first.poll() is None  # the first run was not disturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the kernel released the dead process's lock: the next run takes it over (checked without training)
    from qtbench.launch.runlock import holder, run_lock

    assert f"pid {first.pid}" in holder(lock.parent)  # its note is still there
    with run_lock(lock.parent):
        assert f"pid {os.getpid()}" in holder(lock.parent)


def test_run_lock_is_reentrant_and_a_stale_lock_file_is_taken_over(tmp_path):
    from qtbench.launch.runlock import LOCK_NAME, holder, run_lock

    (tmp_path / LOCK_NAME).write_text(f"999999 {socket.gethostname()} 0\n")  # a dead process's leftover
    with run_lock(tmp_path), run_lock(tmp_path):
        assert f"pid {os.getpid()}" in holder(tmp_path)
        held = subprocess.run([sys.executable, "-c", "from qtbench.launch.runlock import run_lock\n"
                               f"with run_lock({str(tmp_path)!r}): pass"], capture_output=True, text=True)
        assert held.returncode != 0 and f"pid {os.getpid()}" in held.stderr


# -- 3. names and paths ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["../../x", "/abs", "a/b", "..", ".hidden", "a b", ""])
def test_sweep_names_must_be_plain(tmp_path, name):
    sweep = tmp_path / "s.yaml"
    sweep.write_text(f"name: {json.dumps(name)}\naxes:\n  methods: [mt]\n")
    proc = run_cli("sweep", str(sweep), "--dry-run", "--runs-dir", str(tmp_path / "runs"))
    if name == "":  # an empty name falls back to the file's stem
        assert proc.returncode == 0, proc.stderr
        return
    assert "plain name" in _one_line_error(proc)
    assert not (tmp_path / "runs").exists() and not (tmp_path.parent / "x").exists()


def test_study_names_with_paths_are_refused():
    from qtbench.tune.study import safe_name

    for bad in ("../x", "a/b", ".."):
        with pytest.raises(UserError, match="plain name"):
            safe_name(bad)
    assert safe_name("mt+qualiteacher-dehaze-loss_weights-cpu") == "mt+qualiteacher-dehaze-loss_weights-cpu"


@pytest.mark.slow
def test_runs_dir_and_tracking_uri_are_taken_literally_and_keep_the_identity(tmp_path):
    weird = str(tmp_path / "rüns ,=a'[b]${oc.env:HOME}")
    cfg = compose_run("mt", "dehaze", 0, "smoke", [], runs_dir=weird, tracking_uri="sqlite:///" + weird + "/m.db")
    assert cfg.runtime.runs_dir == weird and cfg.runtime.tracking_uri.endswith("${oc.env:HOME}/m.db")
    assert str(run_dir(cfg)).startswith(weird)
    assert config_hash(cfg) == config_hash(compose_run("mt", "dehaze", 0, "smoke", []))
    proc = run_cli("config", "--method", "mt", "--task", "dehaze", "--scale", "smoke", "--runs-dir", weird)
    assert proc.returncode == 0, proc.stderr
    assert f"runs_dir: {weird}" in proc.stdout


# -- 4. images checked before anything is written ---------------------------------------------------------------------
@pytest.mark.slow
def test_restore_checks_every_image_before_writing(tmp_path):
    rd = _fake_run(tmp_path / "runs")
    _images(tmp_path / "in", [(40, 40), (48, 32), (40, 40), (1, 1)])
    msg = _one_line_error(run_cli("restore", "--checkpoint", str(rd), "--input", str(tmp_path / "in"),
                                  "--output", str(tmp_path / "out")))
    assert "1x1" in msg and "nothing was written" in msg
    assert not (tmp_path / "out").exists()
    Image.new("RGB", (8000, 8000)).save(tmp_path / "in" / "im3.png")
    msg = _one_line_error(run_cli("restore", "--checkpoint", str(rd), "--input", str(tmp_path / "in"),
                                  "--output", str(tmp_path / "out")))
    assert "8000x8000" in msg and "--max-pixels" in msg and not (tmp_path / "out").exists()
    (tmp_path / "in" / "im3.png").unlink()
    _images(tmp_path / "in2", [(4, 4), (5, 7)])  # the smallest the network pads: restored, not a crash
    proc = run_cli("restore", "--checkpoint", str(rd), "--input", str(tmp_path / "in2"), "--output",
                   str(tmp_path / "out2"))
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "out2" / "im1.png").size == (5, 7)


@pytest.mark.slow
def test_eval_checks_json_and_sizes_before_any_work(tmp_path):
    rd = _fake_run(tmp_path / "runs")
    _images(tmp_path / "imgs", [(40, 40), (8, 8)])
    assert "is a folder" in _one_line_error(run_cli("eval", "--checkpoint", str(rd), "--data",
                                                    str(tmp_path / "imgs"), "--json", str(tmp_path)))
    (tmp_path / "file").write_text("")
    assert "--json" in _one_line_error(run_cli("eval", "--checkpoint", str(rd), "--data", str(tmp_path / "imgs"),
                                               "--json", str(tmp_path / "file" / "x.json")))
    assert "8x8" in _one_line_error(run_cli("eval", "--checkpoint", str(rd), "--data", str(tmp_path / "imgs")))


# -- 5. storage and numeric faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize("override", ["pl.lr=inf", "base.lr=nan", "pl.batch_target=0", "eval.batch_size=0",
                                      "base.batch_size=0", "task.data.image_size=100000", "pl.ema_decay=nan"])
def test_unusable_numbers_are_refused_at_composition(override):
    with pytest.raises(UserError, match=override.split("=")[0]):
        compose_run("mt", "dehaze", 0, "smoke", [override])


def test_unusable_mlflow_store_names_the_file(tmp_path):
    from qtbench.tracking.mlflow_tracker import Tracker

    db = tmp_path / "mlflow.db"
    db.write_bytes(os.urandom(4096))
    with pytest.raises(UserError, match=f"{db}.*--tracking-uri"):
        Tracker(f"sqlite:///{db}", "e", "r")


def test_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    from qtbench import atomic
    from qtbench.cli import main as cli_main

    def fails(path):  # what torch.save raises when its stream hits a full disk
        path.write_bytes(b"x")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100, 100, 0))
    with pytest.raises(OSError) as info:
        atomic._atomic(tmp_path / "checkpoint.pt", fails)
    assert info.value.errno == 28 and list(tmp_path.iterdir()) == []  # no temp file left behind

    def handler(args):
        raise info.value

    monkeypatch.setattr(cli_main, "build_parser", lambda: _parser_with(handler))
    assert cli_main.main(["x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "disk is full" in err[0] and "checkpoint.pt" in err[0]


def _parser_with(handler):
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("x")
    p.set_defaults(handler=handler)
    return p


# -- 6. unauthenticated tracking server --------------------------------------------------------------------------------
def test_tracking_serve_off_loopback_warns(tmp_path, monkeypatch, capsys):
    from qtbench.cli import main as cli_main
    from qtbench.cli.tracking_cmd import is_loopback
    from qtbench.tracking import server

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("node12")
    monkeypatch.setattr(server, "start", lambda *a, **k: {"url": "http://x", "pid": 1, "backend": "b", "log": "l"})
    for host, warned in (("0.0.0.0", True), ("127.0.0.1", False)):
        assert cli_main.main(["tracking", "serve", "--detach", "--host", host, "--runs-dir", str(tmp_path)]) == 0
        err = capsys.readouterr().err
        assert ("no authentication" in err) is warned


# -- 7. eval --model base and the paired difference ---------------------------------------------------------------------
@pytest.mark.slow
def test_eval_scores_the_base_model_and_the_paired_difference(tmp_path, qtbench_home):
    from qtbench.eval.evaluate import restore, score_pairs
    from qtbench.eval.trained import load_trained

    rd = _fake_run(tmp_path / "runs", base_home=qtbench_home)
    _images(tmp_path / "pairs" / "gt", [(40, 40), (48, 40), (40, 56)], seed=1)
    _images(tmp_path / "pairs" / "input", [(40, 40), (48, 40), (40, 56)], seed=2)
    out = tmp_path / "e.json"
    proc = run_cli("eval", "--checkpoint", str(rd), "--data", str(tmp_path / "pairs"), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "paired difference student - base on 3 images" in proc.stdout and "bootstrap" in proc.stdout
    assert "too few to rank methods" in proc.stdout
    got = json.loads(out.read_text())["delta_vs_base"]["rows"]["student"]
    # independently: the two models restore the same pairs
    from qtbench.data import images as im

    ins, gts = im.load_pairs(tmp_path / "pairs")
    u8 = [(np.clip(x.rgb, 0, 1) * 255 + 0.5).astype(np.uint8) for x in ins.images]
    g8 = [(np.clip(x.rgb, 0, 1) * 255 + 0.5).astype(np.uint8) for x in gts.images]
    st, base = load_trained(rd, "student"), load_trained(rd, "base")
    d = score_pairs(restore(st.model, u8, None, "cpu"), g8)[0] - score_pairs(restore(base.model, u8, None, "cpu"), g8)[0]
    np.testing.assert_allclose(got["psnr"], d, rtol=1e-6, atol=1e-6)
    assert abs(got["mean_psnr"] - d.mean()) < 1e-9 and got["boot95_psnr"][0] <= d.mean() <= got["boot95_psnr"][1]
    proc = run_cli("eval", "--checkpoint", str(rd), "--data", str(tmp_path / "pairs"), "--model", "base")
    assert proc.returncode == 0, proc.stderr
    assert "mt base" in proc.stdout and "paired difference" not in proc.stdout
    assert "--level" in _one_line_error(run_cli("eval", "--checkpoint", str(rd), "--data", str(tmp_path / "pairs"),
                                                "--model", "base", "--level", "1"))


def test_the_run_summary_says_when_test_images_are_too_few(capsys):
    from qtbench.cli.run_cmd import print_summary

    metrics = {f"{m}/target_{k}": 1.0 for m in ("input", "base", "teacher", "student") for k in ("psnr", "ssim")}
    summary = {"method": "mt", "task": "dehaze", "seed": 0, "scale": "cpu", "pool": "wheels", "test_ids": ["a", "b"],
               "metrics": metrics, "timing": {"base_cached": True, "pl_seconds": 1.0, "s_per_iter": 0.1}}
    print_summary(summary)
    out = capsys.readouterr().out
    assert "2 target-test images cannot rank methods" in out and "task.data.pool=debian" in out
    print_summary(dict(summary, pool="debian", test_ids=[str(i) for i in range(40)]))
    assert "cannot rank" not in capsys.readouterr().out


def test_data_caches_of_this_and_the_previous_layout_load(tmp_path):
    """Data containers live in qtbench/data/containers.py; caches pickled when they lived in qtbench/tasks/base.py
    name that module and must still load (it re-exports them)."""
    import pickle

    import numpy as np

    from qtbench.data.containers import ImageSet
    from qtbench.safe_load import load_data_pickle

    s = ImageSet(["p#0"], [np.zeros((2, 2, 3), np.uint8)], np.array([0]), [np.ones((2, 2, 3), np.uint8)])
    now = pickle.dumps(s, protocol=3)  # protocol 3 names classes as text lines (GLOBAL), so the module can be swapped
    assert b"qtbench.data.containers" in now
    for blob in (now, now.replace(b"qtbench.data.containers", b"qtbench.tasks.base")):
        (tmp_path / "d.pkl").write_bytes(blob)
        got = load_data_pickle(tmp_path / "d.pkl")
        assert got.ids == ["p#0"] and np.array_equal(got.clean[0], s.clean[0])
