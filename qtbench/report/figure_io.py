"""Writing a figure: atomically, at the report's resolution, and closing it (shared by every figure module)."""

from __future__ import annotations

from pathlib import Path

from qtbench import atomic


def save(plt, fig, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically (110 dpi, tight box), close it and return ``path``."""
    atomic.save_figure(path, fig, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
