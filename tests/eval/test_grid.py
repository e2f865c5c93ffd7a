"""save_grid writes a valid PNG whose size follows the documented layout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qtbench.eval.grid import PAD, TITLE_H, save_grid


def _img(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_grid_png_size_and_content(tmp_path) -> None:
    cell = 64
    rows = [[_img(32, 48, 0), _img(100, 50, 1), _img(64, 64, 2)], [_img(20, 20, 3), None, _img(128, 96, 4)]]
    out = save_grid(
        tmp_path / "sub" / "grid.png", rows, ["input", "base", "a very long column title here"], cell_px=cell
    )
    assert out == tmp_path / "sub" / "grid.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(out) as im:
        im.load()
        assert im.format == "PNG" and im.mode == "RGB"
        assert im.size == (3 * cell + 4 * PAD, TITLE_H + 2 * cell + 3 * PAD)
        a = np.asarray(im)
    # a 64x64 image fills its cell exactly (row 0, column 2), pixel for pixel
    x0, y0 = PAD + 2 * (cell + PAD), TITLE_H + PAD
    expect = (np.clip(rows[0][2], 0, 1) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(a[y0 : y0 + cell, x0 : x0 + cell], expect)
    # no temporary files left behind by the atomic write
    assert [p.name for p in out.parent.iterdir()] == ["grid.png"]


def test_grid_with_row_titles_is_wider_same_height(tmp_path) -> None:
    rows = [[_img(16, 16)], [_img(16, 16)]]
    plain = save_grid(tmp_path / "a.png", rows, ["x"], cell_px=32)
    titled = save_grid(tmp_path / "b.png", rows, ["x"], row_titles=["seed 0", "seed 1"], cell_px=32)
    with Image.open(plain) as p, Image.open(titled) as t:
        assert t.height == p.height
        # the row-title band is at most one cell wide
        assert p.width < t.width <= p.width + 32


def test_grid_accepts_uint8_and_gray(tmp_path) -> None:
    rows = [[np.full((8, 8, 3), 200, np.uint8), np.zeros((8, 8), np.float32)]]
    with Image.open(save_grid(tmp_path / "g.png", rows, ["u8", "gray"], cell_px=16)) as im:
        assert im.size == (2 * 16 + 3 * PAD, TITLE_H + 16 + 2 * PAD)
        assert tuple(np.asarray(im)[TITLE_H + PAD + 8, PAD + 8]) == (200, 200, 200)


def test_grid_validates_shapes(tmp_path) -> None:
    with pytest.raises(ValueError, match="column titles"):
        save_grid(tmp_path / "x.png", [[_img(8, 8)]], ["a", "b"])
    with pytest.raises(ValueError, match="row titles"):
        save_grid(tmp_path / "x.png", [[_img(8, 8)]], ["a"], row_titles=["r1", "r2"])
    with pytest.raises(ValueError, match="HxWx3"):
        save_grid(tmp_path / "x.png", [[np.zeros((8, 8, 4))]], ["a"])
    assert not (tmp_path / "x.png").exists()
