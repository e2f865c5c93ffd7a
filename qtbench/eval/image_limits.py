"""Image sizes ``qtbench eval`` and ``qtbench restore`` accept, checked on file headers before any work.

A whole image goes through the network at once, so memory grows with its pixel count (an 8000x8000 image asked
for a 4 GB tensor at the cpu scale); the default limit admits a 16-megapixel photo (e.g. 4896x3264), and
``--max-pixels`` raises it where the memory is there. The smallest side must survive the network's
reflect padding to its down factor, and the metrics' windows (SSIM 11x11, PIQE 16x16 blocks) for ``eval``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from qtbench.errors import UserError

MAX_PIXELS = 16_000_000  # default --max-pixels: a 16 MP photo
MIN_SIDE_RESTORE = 4  # >= the U-Net's down factor (4 at every scale): reflect padding needs side > pad
MIN_SIDE_EVAL = 32  # SSIM's 11x11 window and PIQE's 16x16 blocks need a few of them per side


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding, or None when unreadable (decoding reports it)."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def check_sizes(files: list[Path], min_side: int, max_pixels: int, command: str) -> None:
    """UserError naming the first file whose size is outside ``[min_side, max_pixels]``.

    Args:
        files: image files (their headers are read, nothing is decoded).
        min_side: smallest width and height accepted.
        max_pixels: largest width*height accepted (``--max-pixels``).
        command: ``eval`` or ``restore``, for the message.
    """
    if max_pixels < 1:
        raise UserError(f"--max-pixels {max_pixels} must be >= 1")
    for path in files:
        size = header_size(path)
        if size is None:
            continue
        w, h = size
        if min(w, h) < min_side:
            raise UserError(f"image {path} is {w}x{h}; qtbench {command} needs at least {min_side}x{min_side} px "
                            "(upscale it or leave it out); nothing was written")
        if w * h > max_pixels:
            raise UserError(f"image {path} is {w}x{h} ({w * h / 1e6:.1f} MP), over the {max_pixels / 1e6:g} MP "
                            f"limit of one forward pass; downscale or crop it, or raise --max-pixels if the "
                            "memory is there; nothing was written")


def min_side_for(model) -> int:
    """The smallest side ``model`` can restore: its down factor (reflect padding), at least MIN_SIDE_RESTORE."""
    return max(MIN_SIDE_RESTORE, int(getattr(model, "down_factor", 1)))
