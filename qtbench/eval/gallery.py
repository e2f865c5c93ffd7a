"""Side-by-side restorations of the same images by several runs (``qtbench gallery``).

One row per image: the degraded input, the base model of the first run, each run's student, and the clean
image where there is one; each restoration is captioned with its PSNR to the clean image. Runs trained on an
oracle reward (one that reads the hidden clean targets) are labelled ``[ORACLE reward]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
from omegaconf import OmegaConf

from qtbench.errors import UserError


def _summary(run_dir: Path) -> dict:
    path = Path(run_dir) / "summary.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def marked_label(label: str, run_dir: Path) -> str:
    """A user's column label, with ``[ORACLE reward]`` appended when the run read hidden targets and the label
    does not say ORACLE already: a custom label must not hide that a column is a calibration, not a result."""
    if _summary(run_dir).get("oracle_reward") and "ORACLE" not in label:
        return f"{label} [ORACLE reward]"
    return label


def run_label(cfg, run_dir: Path) -> str:
    """``method [preset]``, with the oracle-mixing knobs and ``[ORACLE reward]`` when the run read hidden targets."""
    summary = _summary(run_dir)
    parts = [str(cfg.method)]
    preset = summary.get("iqa_preset")  # None: the method uses no IQA
    if preset:
        parts.append(f"[{preset}]")
    # runs from before the agreement knobs have no such fields: they are plain presets (alpha 0, sigma 0)
    alpha = OmegaConf.select(cfg, "iqa.agreement.alpha", default=0.0)
    sigma = OmegaConf.select(cfg, "iqa.agreement.sigma", default=0.0)
    if alpha:
        parts.append(f"a={alpha:g}" + (f" s={sigma:g}" if sigma else ""))
    if summary.get("oracle_reward"):
        parts.append("[ORACLE reward]")
    return " ".join(parts)


def center_crop(img: np.ndarray, size: Optional[int]) -> np.ndarray:
    """The central ``size`` x ``size`` window of an HxWxC image (the whole image when ``size`` is None or larger)."""
    if not size:
        return img
    h, w = img.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[top:top + size, left:left + size]


def pick(names: list[str], wanted: Optional[list[str]], n: int) -> list[int]:
    """Indices of the images to show: the named ones (in that order), else the first ``n``."""
    if wanted:
        missing = [w for w in wanted if w not in names]
        if missing:
            raise UserError(f"--pick: no image named {', '.join(missing)} in this set; its images are: "
                            f"{', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
        return [names.index(w) for w in wanted]
    if n < 1:
        raise UserError(f"--images {n}: show at least one image")
    return list(range(min(n, len(names))))


def caption(psnr_db: Optional[float], nr: dict[str, float], rewards: tuple[str, ...] = ()) -> str:
    """A cell's caption: a line of NR scores (``brisque 38.6* niqe 6.90``; ``*`` where the run was trained on
    that metric, so a reader sees which scores the student was optimised for) above the PSNR line, either may
    be absent."""
    lines = []
    if nr:
        lines.append(" ".join(f"{n} {v:.{_nr_digits(v)}f}{'*' if n in rewards else ''}" for n, v in nr.items()))
    if psnr_db is not None:
        lines.append(f"{psnr_db:.2f} dB")
    return "\n".join(lines)


def _nr_digits(v: float) -> int:
    """Three significant digits for the usual ranges (BRISQUE ~10-100, NIQE ~3-20, PIQE ~10-100)."""
    return 1 if abs(v) >= 10 else 2
