"""``qtbench eval`` / ``qtbench restore`` / ``qtbench data show`` on a tiny trained run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from qtbench.cli.main import main
from qtbench.config.compose import compose_run
from qtbench.data import images

TINY = ["task.data.image_size=64", "task.data.source_realisations=1", "task.data.unlabelled_realisations=1",
        "base.iters=4", "pl.iters=2", "pl.trajectory_points=1", "runtime.progress=false", "runtime.threads=1",
        "addons.qcond.diag_max_images=1", "iqa.degprob.iters=4", "iqa.niqe_fit.calib_crops=4"]


def _img(seed: int, h: int = 40, w: int = 52) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A quality-conditioned run (its NR rewards include piqe, so flags show)."""
    from qtbench.runner import execute

    runs = tmp_path_factory.mktemp("runs")
    s = execute(compose_run("mt+qcond", "dehaze", scale="smoke", overrides=TINY, runs_dir=str(runs)))
    return Path(s["run_dir"]), s


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    for i in range(2):
        (root / "pairs" / "input").mkdir(parents=True, exist_ok=True)
        (root / "pairs" / "gt").mkdir(parents=True, exist_ok=True)
        (root / "pairs" / "input" / f"x{i}.png").write_bytes(images.encode_image("x.png", _img(i) * 0.5))
        (root / "pairs" / "gt" / f"x{i}.png").write_bytes(images.encode_image("x.png", _img(i)))
    photos = root / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(images.encode_image("a.png", _img(5), bits=16))
    (photos / "b.jpg").write_bytes(images.encode_image("b.jpg", _img(6)))
    (photos / "c.webp").write_bytes(images.encode_image("c.webp", _img(7), alpha=np.full((40, 52), 0.5, np.float32)))
    bad = root / "bad"
    bad.mkdir()
    for f in photos.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "corrupt.png").write_bytes((photos / "a.png").read_bytes()[:200])
    return root


@pytest.mark.slow
def test_eval_paired_folder_table_and_json(run, folders, tmp_path, capsys):
    rd, s = run
    out = tmp_path / "e.json"
    assert main(["eval", "--checkpoint", str(rd), "--data", str(folders / "pairs"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PSNR" in text and "SSIM" in text and "piqe*" in text and "reward hacking" in text
    res = json.loads(out.read_text())
    assert res["paired"] and res["n_images"] == 2 and res["levels"] == [s["inference_level"]]
    assert set(res["means"]) == {"input", f"student@{s['inference_level']}"}
    assert {"psnr", "ssim", "piqe"} <= set(res["means"]["input"]) and res["flagged"] == ["piqe"]


def test_eval_unpaired_all_levels_and_teacher(run, folders, capsys):
    rd, _ = run
    assert main(["eval", "--checkpoint", str(rd / "checkpoint.pt"), "--data", str(folders / "photos"),
                 "--all-levels", "--model", "teacher"]) == 0
    text = capsys.readouterr().out
    assert "NR only" in text and "PSNR" not in text
    assert all(f"teacher@{q}" in text for q in range(8))


@pytest.mark.slow
def test_eval_log_adds_nr_metrics_to_the_finished_run(run, folders, tmp_path, capsys):
    """--log: the NR means land in the run's own MLflow run under the runner's names, for `qtbench table`."""
    from mlflow.tracking import MlflowClient

    from qtbench.tracking.mlflow_tracker import default_tracking_uri

    rd, s = run
    out = tmp_path / "e.json"
    assert main(["eval", "--checkpoint", str(rd), "--data", "test", "--nr-metrics", "entropy", "--log",
                 "--json", str(out)]) == 0
    assert "logged to the run's MLflow run: input/target_entropy, student/target_entropy" in capsys.readouterr().out
    means = json.loads(out.read_text())["means"]
    metrics = MlflowClient(default_tracking_uri(rd.parents[2])).get_run(s["mlflow_run_id"]).data.metrics
    assert metrics["student/target_entropy"] == pytest.approx(means[f"student@{s['inference_level']}"]["entropy"])
    assert metrics["input/target_entropy"] == pytest.approx(means["input"]["entropy"])
    assert "student/target_psnr" in metrics  # the run's own metrics are untouched
    assert json.loads((rd / "eval-test.json").read_text())["metrics"] == {
        k: metrics[k] for k in ("input/target_entropy", "student/target_entropy")}
    # several runs in one call (here the same one twice); --json takes one run only
    assert main(["eval", "--checkpoint", str(rd), str(rd), "--data", "test", "--nr-metrics", "entropy", "--log"]) == 0
    assert capsys.readouterr().out.count("logged to the run's MLflow run") == 2
    assert main(["eval", "--checkpoint", str(rd), str(rd), "--data", "test", "--json", str(out)]) == 2
    assert "give one --checkpoint" in capsys.readouterr().err
    # a folder is not the run's data: refused, nothing logged
    assert main(["eval", "--checkpoint", str(rd), "--data", str(folders / "photos"), "--log"]) == 2
    assert "--data real or --data test" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--data", "real"], "no real_haze photos"),
    (["--data", "/nonexistent/dir"], "no such folder"),
    (["--level", "99"], "out of range"),
    (["--nr-metrics", "psnr"], "full-reference"),
    (["--model", "ema"], "--model"),
])
def test_eval_errors_exit_2(run, folders, capsys, args, message):
    rd, _ = run
    base = ["eval", "--checkpoint", str(rd), "--data", str(folders / "photos")]
    if args[0] == "--data":
        base = base[:-2]
    assert main(base + args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_eval_bad_checkpoint(tmp_path, folders, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path), "--data", str(folders / "photos")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    (tmp_path / "checkpoint.pt").write_bytes(b"garbage")
    (tmp_path / "config.yaml").write_text("method: mt\n")
    assert main(["eval", "--checkpoint", str(tmp_path), "--data", str(folders / "photos")]) == 2
    assert "cannot load" in capsys.readouterr().err


def test_restore_keeps_names_formats_and_never_overwrites(run, folders, tmp_path, capsys):
    rd, _ = run
    out = tmp_path / "out"
    args = ["restore", "--checkpoint", str(rd), "--input", str(folders / "photos"), "--output", str(out), "--no-progress"]
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c.webp"]
    a = images.read_image(out / "a.png")
    assert a.bits == 16 and a.rgb.shape == (40, 52, 3)
    assert images.read_image(out / "c.webp").alpha is not None
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert main(args) == 2
    assert "--force" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert main(args + ["--force"]) == 0
    assert main(["restore", "--checkpoint", str(rd), "--input", str(out), "--output", str(out)]) == 2


@pytest.mark.slow
def test_restore_corrupt_file_fails_cleanly_then_skip_bad(run, folders, tmp_path):
    rd, _ = run
    out = tmp_path / "out"
    base = ["restore", "--checkpoint", str(rd), "--input", str(folders / "bad"), "--output", str(out), "--no-progress"]
    res = run_cli(*base)  # a real process: exit code 2, one line, nothing written
    assert res.returncode == 2 and "corrupt.png" in res.stderr and res.stderr.count("\n") == 1
    assert "Traceback" not in res.stderr and not out.exists()
    assert main(base + ["--skip-bad"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c.webp"]


@pytest.mark.slow
def test_data_show_writes_a_contact_sheet(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["data", "show", "--task", "underwater", "--scale", "smoke", "--rows", "2", "--output", str(out)]) == 0
    assert out.stat().st_size > 0 and "none in the wheels pool" in capsys.readouterr().out
    assert main(["data", "show", "--task", "underwater", "--scale", "smoke", "--output", str(out)]) == 2


@pytest.mark.skipif(not (Path.home() / ".cache/qtbench/pools/debian/manifest.json").is_file(),
                    reason="the debian pool is not fetched on this machine")
def test_real_sets_of_the_debian_pool(monkeypatch):
    """Underwater and low-light tasks get their real photos; none of them is in a split."""
    from qtbench import registry
    from qtbench.data.pools import load_pool
    from qtbench.tasks.base import split_photos

    monkeypatch.setenv("QTBENCH_HOME", str(Path.home() / ".cache/qtbench"))  # read-only use of the pool
    photos = load_pool("debian")
    for name, role in (("underwater", "real_underwater"), ("lowlight", "real_lowlight")):
        cfg = compose_run("mt", name, scale="smoke", overrides=["task.data.pool=debian"])
        task = registry.tasks.get(name).obj(cfg.task)
        real = {p.id for p in photos if p.role == task.real_role}
        assert task.real_role == role and len(real) >= 8
        assert not real & {p for ids in split_photos(photos, 0, cfg.task.data.split).values() for p in ids}
        view = task.preview(0, n=1)
        assert len(view["real"]) == 1 and view["real"][0][0] in real


def test_gallery_shows_the_same_images_for_every_run_with_psnr(run, tmp_path):
    from PIL import Image

    from qtbench.eval.grid import PAD, TITLE_H

    rd, s = run
    out = tmp_path / "g.png"
    res = run_cli("gallery", "--checkpoint", str(rd), str(rd), "--data", "test", "--images", "1", "--crop", "32",
                  "--labels", "first,second", "--cell-px", "64", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "1 images of dehaze target-test x 5 columns" in res.stdout  # input, base, 2 runs, clean
    w, h = Image.open(out).size
    assert h == TITLE_H + 64 + 2 * PAD and w > 5 * 64
    assert run_label_of(rd).startswith("mt+qcond [")  # the default label names method and preset


def test_gallery_captions_nr_scores_above_psnr(run, tmp_path):
    """--nr-metrics adds a caption line: the white band over the bottom of each captioned cell doubles."""
    from PIL import Image

    from qtbench.eval.grid import PAD, TITLE_H

    rd, _ = run
    white = {}
    for extra in ((), ("--nr-metrics", "piqe")):
        out = tmp_path / f"g{len(extra)}.png"
        res = run_cli("gallery", "--checkpoint", str(rd), "--data", "test", "--images", "1", "--cell-px", "96",
                      "--out", str(out), *extra)
        assert res.returncode == 0, res.stderr
        px = np.asarray(Image.open(out).convert("RGB"))
        assert px.shape[0] == TITLE_H + 96 + 2 * PAD  # the captions stay inside the cells
        row = px[TITLE_H + PAD + 96 - 2 * TITLE_H + 1]  # inside a two-line band, above a one-line one
        white[len(extra)] = int((row == 255).all(axis=1).sum())
    assert white[2] - white[0] >= 3 * 96 - 8  # input, base and student cells: caption band instead of image


def test_gallery_caption_text():
    """NR line above the PSNR line; * marks a metric the run was trained on; 3 significant digits."""
    from qtbench.eval.gallery import caption

    assert caption(17.624, {}) == "17.62 dB"
    assert caption(None, {"brisque": 38.64, "niqe": 6.904}) == "brisque 38.6 niqe 6.90"
    assert caption(16.19, {"brisque": 16.3, "niqe": 8.761}, ("niqe",)) == "brisque 16.3 niqe 8.76*\n16.19 dB"
    assert caption(None, {}) == ""


def run_label_of(rd):
    from qtbench.config.compose import literal_config
    from qtbench.eval.gallery import run_label

    return run_label(literal_config((rd / "config.yaml").read_text()), rd)


def test_gallery_custom_label_keeps_the_oracle_mark(tmp_path):
    """A custom --labels entry cannot hide that a run trained on hidden clean targets."""
    import json

    from qtbench.eval.gallery import marked_label

    oracle, plain = tmp_path / "oracle", tmp_path / "plain"
    for d, flag in ((oracle, True), (plain, False)):
        d.mkdir()
        (d / "summary.json").write_text(json.dumps({"oracle_reward": flag}))
    assert marked_label("fidelity reward", oracle) == "fidelity reward [ORACLE reward]"
    assert marked_label("QT ORACLE reward", oracle) == "QT ORACLE reward"  # already says so: not twice
    assert marked_label("offline reward", plain) == "offline reward"


@pytest.mark.parametrize("extra, message", [
    (("--labels", "one,two"), "--labels gives 2 labels for 1 runs"),
    (("--out", "x.jpg"), "ending in .png"),
    (("--crop", "4"), "at least 16 px"),
    (("--pick", "nope.png"), "no image named nope.png"),
    (("--nr-metrics", "nope"), "nope"),
])
def test_gallery_bad_input_is_one_line(run, tmp_path, extra, message):
    rd, _ = run
    res = run_cli("gallery", "--checkpoint", str(rd), "--out", str(tmp_path / "g.png"), *extra, cwd=tmp_path)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (tmp_path / "g.png").exists()
