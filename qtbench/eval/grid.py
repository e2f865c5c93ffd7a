"""Image grids for qualitative comparisons (inputs, base model, teacher, student, ground truth...).

Drawn with PIL and its default font rather than matplotlib: a grid of a few dozen crops renders in
milliseconds, needs no font files, and writes pixels 1:1 (no DPI resampling of the restorations).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from qtbench.atomic import write_bytes

PAD = 4  # gap between cells and around the grid, px
TITLE_H = 20  # height of the column-title band, px (fits the 12 px default font with margins)
_FONT_SIZE = 12
_BG = (255, 255, 255)
_CELL_BG = (225, 225, 225)  # letterbox colour: shows where an image ends
_FG = (0, 0, 0)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=_FONT_SIZE)  # FreeType build: a scalable font
    except TypeError:  # Pillow < 10.1: bitmap font only
        return ImageFont.load_default()


def _to_pil(img: np.ndarray) -> Image.Image:
    """HxWx3 (or HxW, HxWx1) float in [0,1] or uint8 -> RGB PIL image."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"grid cells must be HxWx3 arrays, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    if a.dtype != np.uint8:
        a = np.nan_to_num(a.astype(np.float32), nan=0.0)
        a = (np.clip(a, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(a), mode="RGB")


def _fit(im: Image.Image, box: int) -> Image.Image:
    """Resize to fit a ``box`` x ``box`` square, keeping the aspect ratio."""
    w, h = im.size
    scale = box / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size == im.size:
        return im
    # Downscale with an antialiasing filter; upscale with nearest so small crops show their real pixels
    # (artefacts of a restoration must not be smoothed away by the figure).
    resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
    return im.resize(size, resample)


def _ellipsize(draw: ImageDraw.ImageDraw, text: str, font, max_w: int) -> str:
    if draw.textlength(text, font=font) <= max_w:
        return text
    while text and draw.textlength(text + "…", font=font) > max_w:
        text = text[:-1]
    return text + "…" if text else ""


def _text_box(font) -> tuple[int, int]:
    """(offset of the ink below the drawing origin, ink height) of a line of text."""
    box = font.getbbox("Hg")
    return box[1], box[3] - box[1]


def save_grid(
    path: Path,
    rows: list[list[np.ndarray]],
    col_titles: list[str],
    row_titles: list[str] | None = None,
    cell_px: int = 192,
    captions: list[list[str | None]] | None = None,
) -> Path:
    """Write a titled grid of images as a PNG, atomically.

    Layout: a column-title band of ``TITLE_H`` px on top, an optional row-title band on the left (as wide as
    the longest title, at most ``cell_px``), then ``cell_px`` square cells separated by ``PAD`` px. Each image is
    resized to fit its cell with its aspect ratio kept and centred on a grey letterbox. Titles that do not
    fit are shortened with an ellipsis.

    Args:
        path: output file (``.png``); parent folders are created.
        rows: one list of images per row, each ``len(col_titles)`` long; an image is HxWx3 float32 in
            [0,1] (uint8 and single-channel arrays are accepted too); ``None`` leaves a cell blank.
        col_titles: one title per column.
        row_titles: one title per row, or None for no row-title band.
        cell_px: side of the square cell each image is fitted into.
        captions: optional text per cell (same shape as ``rows``; None or "" for none), drawn on a white band
            at the cell's bottom edge, e.g. the image's PSNR; a caption with line breaks gets one band line per
            line of text, its last line at the cell's bottom edge.

    Returns:
        ``path``.
    """
    ncols = len(col_titles)
    if not rows or ncols == 0:
        raise ValueError("save_grid needs at least one row and one column")
    for i, row in enumerate(rows):
        if len(row) != ncols:
            raise ValueError(f"row {i} has {len(row)} images but there are {ncols} column titles")
    if row_titles is not None and len(row_titles) != len(rows):
        raise ValueError(f"{len(row_titles)} row titles for {len(rows)} rows")
    if cell_px < 8:
        raise ValueError(f"cell_px must be >= 8, got {cell_px}")
    if captions is not None and [len(c) for c in captions] != [len(r) for r in rows]:
        raise ValueError("captions must have the same shape as rows")

    font = _font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = 0
    if row_titles:
        widest = max(measure.textlength(str(t), font=font) for t in row_titles)
        left = min(int(np.ceil(widest)) + 2 * PAD, cell_px)

    width = left + ncols * cell_px + (ncols + 1) * PAD
    height = TITLE_H + len(rows) * cell_px + (len(rows) + 1) * PAD
    canvas = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(canvas)
    t_off, th = _text_box(font)  # centre the ink, not the line box (no `anchor`: bitmap fonts lack it)

    def cell_x(j: int) -> int:
        return left + PAD + j * (cell_px + PAD)

    def cell_y(i: int) -> int:
        return TITLE_H + PAD + i * (cell_px + PAD)

    for j, title in enumerate(col_titles):
        text = _ellipsize(draw, str(title), font, cell_px)
        tw = draw.textlength(text, font=font)
        draw.text((cell_x(j) + (cell_px - tw) / 2, (TITLE_H - th) / 2 - t_off), text, fill=_FG, font=font)

    for i, row in enumerate(rows):
        if row_titles:
            text = _ellipsize(draw, str(row_titles[i]), font, left - 2 * PAD)
            draw.text((PAD, cell_y(i) + (cell_px - th) / 2 - t_off), text, fill=_FG, font=font)
        for j, img in enumerate(row):
            x0, y0 = cell_x(j), cell_y(i)
            draw.rectangle((x0, y0, x0 + cell_px - 1, y0 + cell_px - 1), fill=_CELL_BG)
            if img is None:
                continue
            im = _fit(_to_pil(img), cell_px)
            canvas.paste(im, (x0 + (cell_px - im.width) // 2, y0 + (cell_px - im.height) // 2))
            caption = captions[i][j] if captions is not None else None
            if caption:
                lines = str(caption).split("\n")
                band = y0 + cell_px - TITLE_H * len(lines)
                draw.rectangle((x0, band, x0 + cell_px - 1, y0 + cell_px - 1), fill=_BG)
                for k, line in enumerate(lines):
                    text = _ellipsize(draw, line, font, cell_px - 2 * PAD)
                    tw = draw.textlength(text, font=font)
                    top = band + k * TITLE_H + (TITLE_H - th) / 2 - t_off
                    draw.text((x0 + (cell_px - tw) / 2, top), text, fill=_FG, font=font)

    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=False)  # optimize=True is several times slower for little gain
    return write_bytes(Path(path), buf.getvalue())
