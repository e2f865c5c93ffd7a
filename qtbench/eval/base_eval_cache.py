"""The base model's and the degraded inputs' final evaluation, cached beside the base model.

Every run of one task and seed starts from the same cached base model and is scored on the same images, so the
base's and the inputs' PSNR/SSIM and NR scores are the same numbers in every one of them. The first run to need
them stores them next to the base model (``<base model>.eval-<digest>.json``); the others read them instead
of restoring and scoring the three sets again (one of the three models a final evaluation restores, plus the
inputs' NR scores). The digest covers the base model file, the exact pixels of every evaluated image, the NR metrics,
the device type and the torch version, so a cached entry is only ever used for the computation that made it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from qtbench import atomic

FORMAT = "qtbench-base-eval/1"


def digest(base_path: Path, images: list[np.ndarray], nr_metrics: list[str], device_type: str) -> str:
    """What the base's evaluation depends on, as one sha256 (first 20 hex digits)."""
    import torch

    h = hashlib.sha256()
    h.update(Path(base_path).read_bytes())
    for im in images:
        a = np.ascontiguousarray(im)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    h.update(json.dumps([list(nr_metrics), device_type, torch.__version__]).encode())
    return h.hexdigest()[:20]


def cache_path(base_path: Path, key: str) -> Path:
    """``<base model file without .pt>.eval-<key>.json``."""
    p = Path(base_path)
    return p.with_name(f"{p.stem}.eval-{key}.json")


def load(path: Path) -> Optional[dict[str, Any]]:
    """The cached entry, or None when there is none or it is unreadable (then it is recomputed)."""
    try:
        entry = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT:
        return None
    return entry


def cached(path: Optional[Path], compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``compute()``'s ``{"metrics", "per_image"}``, from ``path`` when it holds them, else computed and stored.

    ``path`` None: no caching (e.g. a base model that is not a cached file).
    """
    if path is not None:
        entry = load(path)
        if entry is not None:  # pairs, not objects: the order of the metrics is part of what is cached
            return {"metrics": dict(entry["metrics"]), "per_image": dict(entry["per_image"])}
    out = compute()
    if path is not None:
        atomic.write_json(path, {"format": FORMAT, "metrics": [[k, v] for k, v in out["metrics"].items()],
                                 "per_image": [[k, v] for k, v in out["per_image"].items()]})
    return out
