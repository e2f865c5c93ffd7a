"""Own images: the loader's edge cases (16-bit, grey, alpha, corrupt, mismatched pairs) and own data in a task."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from qtbench import registry
from qtbench.config.compose import compose_run
from qtbench.data import images
from qtbench.errors import UserError

TINY = ["task.data.image_size=64", "task.data.source_realisations=1", "task.data.unlabelled_realisations=1",
        "runtime.progress=false"]


def _rgb(seed: int, h: int = 72, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    return np.clip(np.stack([xx, yy, 0.5 + 0.2 * rng.random((h, w))], axis=2), 0, 1).astype(np.float32)


def write(path: Path, rgb: np.ndarray, bits: int = 8, alpha: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(images.encode_image(path.name, rgb, alpha, bits))
    return path


def test_formats_bit_depths_grey_and_alpha(tmp_path):
    rgb = _rgb(0)
    for name in ("a.png", "b.jpg", "c.webp", "d.tif"):
        out = images.read_image(write(tmp_path / name, rgb))
        assert out.rgb.shape == rgb.shape and out.rgb.dtype == np.float32 and out.bits == 8
        assert np.abs(out.rgb - rgb).mean() < 0.02  # lossy formats are close
    for name in ("e.png", "f.tiff"):
        out = images.read_image(write(tmp_path / name, rgb, bits=16))
        assert out.bits == 16 and np.abs(out.rgb - rgb).max() < 1e-4  # full 16-bit precision, not 8
    grey16 = (rgb[..., 0] * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), grey16)
    g = images.read_image(tmp_path / "g16.png")
    assert g.bits == 16 and g.rgb.shape == rgb.shape and np.allclose(g.rgb[..., 0], g.rgb[..., 2])
    Image.fromarray((rgb[..., 1] * 255).astype(np.uint8), "L").save(tmp_path / "grey.jpg")
    assert images.read_image(tmp_path / "grey.jpg").rgb.shape == rgb.shape
    alpha = np.full(rgb.shape[:2], 0.25, np.float32)
    for name in ("rgba.png", "rgba.webp"):
        out = images.read_image(write(tmp_path / name, rgb, alpha=alpha))
        assert out.alpha is not None and abs(float(out.alpha.mean()) - 0.25) < 0.01
        assert np.abs(out.rgb - rgb).mean() < 0.02  # colours are not composited over a background
    la = np.dstack([(rgb[..., 0] * 255).astype(np.uint8), np.full(rgb.shape[:2], 128, np.uint8)])
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = images.read_image(tmp_path / "la.png")
    assert out.rgb.shape == rgb.shape and out.alpha is not None


def test_corrupt_files_name_their_path_and_skip_bad_counts(tmp_path):
    good = write(tmp_path / "good.png", _rgb(1))
    data = good.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    with pytest.raises(UserError, match="junk.jpg"):
        images.load_folder(tmp_path)
    with pytest.raises(UserError, match="trunc.png"):
        images.read_image(tmp_path / "trunc.png")
    folder = images.load_folder(tmp_path, skip_bad=True)
    assert folder.names == ["good.png"] and sorted(folder.bad) == ["junk.jpg", "trunc.png"]
    with pytest.raises(UserError, match="not a folder"):
        images.load_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images"):
        images.load_folder(tmp_path / "empty")


def test_pairs_match_by_name_and_list_the_mismatches(tmp_path):
    root = tmp_path / "pairs"
    for stem in ("a", "b"):
        write(root / "input" / f"{stem}.jpg", _rgb(2))
        write(root / "gt" / f"{stem}.png", _rgb(3))
    inputs, gts = images.load_pairs(root)
    assert inputs.names == ["a.jpg", "b.jpg"] and gts.names == ["a.png", "b.png"]
    write(root / "input" / "only_in.png", _rgb(4))
    write(root / "gt" / "only_gt.png", _rgb(4))
    with pytest.raises(UserError) as err:
        images.pair_files(root)
    msg = str(err.value)
    assert "2 names without a partner" in msg and "only_in.png" in msg and "only_gt.png" in msg and "\n" not in msg
    (root / "input" / "only_in.png").unlink()
    (root / "gt" / "only_gt.png").unlink()
    write(root / "gt" / "b.png", _rgb(3, h=40))  # a size mismatch is named, and skippable
    with pytest.raises(UserError, match="pair b"):
        images.load_pairs(root)
    inputs, _ = images.load_pairs(root, skip_bad=True)
    assert inputs.names == ["a.jpg"] and inputs.bad == ["b.jpg"]


@pytest.fixture(scope="module")
def own_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    for i in range(3):
        write(root / "paired" / "input" / f"p{i}.png", _rgb(10 + i) * 0.6)
        write(root / "paired" / "gt" / f"p{i}.png", _rgb(10 + i))
        write(root / "unlabelled" / f"u{i}.jpg", _rgb(20 + i) * 0.5)
        write(root / "real" / f"r{i}.webp", _rgb(30 + i) * 0.4, bits=8)
    write(root / "test" / "input" / "t0.png", _rgb(40) * 0.6)
    write(root / "test" / "gt" / "t0.png", _rgb(40))
    (root / "unlabelled" / "broken.png").write_bytes(b"\x89PNG broken")
    return root


def _build(task: str, overrides: list[str]):
    cfg = compose_run("mt", task, scale="smoke", overrides=TINY + overrides)
    return cfg, registry.tasks.get(task).obj(cfg.task).build(cfg.seed, progress=False)


@pytest.mark.slow
def test_own_folders_replace_pool_sets(own_dirs):
    d = own_dirs
    cfg, data = _build("lowlight", [f"task.data.paired={d / 'paired'}", f"task.data.unlabelled={d / 'unlabelled'}",
                                    f"task.data.test={d / 'real'}", "task.data.skip_bad=true"])
    assert data.train.source.ids == ["own:p0", "own:p1", "own:p2"] and data.train.source.labelled
    assert data.train.target_ids == ["own:u0", "own:u1", "own:u2"]
    assert data.evaluation.real_ids == ["own:r0", "own:r1", "own:r2"]
    assert any("broken.png" in s for s in data.skipped)
    assert min(data.train.source.inputs[0].shape[:2]) == 64  # resized like pool photos
    with pytest.raises(UserError, match="clean target images"):
        data.train.target_labels(registry.frameworks.get("oracle").obj(cfg.framework))
    _, paired_test = _build("lowlight", [f"task.data.test={d / 'test'}"])
    assert paired_test.evaluation.test.ids == ["own:t0"] and paired_test.evaluation.test.labelled


@pytest.mark.slow
def test_own_data_errors(own_dirs, tmp_path):
    d = own_dirs
    with pytest.raises(UserError, match="broken.png"):
        _build("dehaze", [f"task.data.unlabelled={d / 'unlabelled'}"])
    with pytest.raises(UserError, match="no such folder"):
        compose_run("mt", "dehaze", scale="smoke", overrides=[f"task.data.unlabelled={tmp_path / 'nope'}"])
    with pytest.raises(UserError, match="input/ and gt/"):
        compose_run("mt", "dehaze", scale="smoke", overrides=[f"task.data.paired={d / 'real'}"])
    with pytest.raises(UserError, match="does not have"):
        compose_run("oracle", "dehaze", scale="smoke", overrides=[f"task.data.unlabelled={d / 'real'}"])
    with pytest.raises(UserError, match="held out"):
        compose_run("mt", "dehaze", scale="smoke", overrides=[f"task.data.unlabelled={d / 'real'}",
                                                              f"task.data.test={d / 'real'}"])
    # the same image in a training folder and in the test folder is a leak
    leak = tmp_path / "leak"
    leak.mkdir()
    (leak / "x.webp").write_bytes((d / "real" / "r0.webp").read_bytes())
    with pytest.raises(UserError, match="also in a training set"):
        _build("dehaze", [f"task.data.unlabelled={leak}", f"task.data.test={d / 'real'}"])


def test_unset_own_data_keeps_identities():
    from qtbench.config.compose import config_hash, identity

    cfg = compose_run("mt", "dehaze", scale="smoke")
    assert not {"unlabelled", "paired", "test", "skip_bad"} & set(identity(cfg)["task"]["data"])
    other = compose_run("mt", "dehaze", scale="smoke", overrides=["task.data.skip_bad=true"])
    assert config_hash(other) != config_hash(cfg)


@pytest.mark.slow
def test_changed_folder_content_changes_the_identity(tmp_path):
    from qtbench.config.compose import config_hash

    write(tmp_path / "u" / "a.png", _rgb(1))
    ov = [f"task.data.unlabelled={tmp_path / 'u'}"]
    first = config_hash(compose_run("mt", "dehaze", scale="smoke", overrides=ov))
    assert config_hash(compose_run("mt", "dehaze", scale="smoke", overrides=ov)) == first
    write(tmp_path / "u" / "a.png", _rgb(2))
    assert config_hash(compose_run("mt", "dehaze", scale="smoke", overrides=ov)) != first
