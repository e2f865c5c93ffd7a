"""Photo pools: where clean photos (and real degraded photos) come from.

- ``wheels``: the 8 photos shipped inside installed wheels (scikit-image, scikit-learn, matplotlib;
  docs/data.md §1). Always available offline: the embedded default, the demo and the smoke tests.
- ``debian``: ~225 photos built by ``qtbench data fetch`` from Debian packages (docs/data.md §2, §7), with a
  manifest; holds the real hazy / underwater / low-light photos too. Tables use this pool.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from qtbench.errors import UserError

POOLS = ("wheels", "debian")
CLEAN = "clean"


@dataclass(frozen=True)
class Photo:
    """One photo of a pool.

    Args:
        id: stable identifier (used for splits and caching).
        path: image file.
        role: ``clean`` or ``real_<degradation>`` (``real_haze``, ``real_underwater``, ``real_lowlight``).
    """

    id: str
    path: Path
    role: str = CLEAN


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)  # locate without importing (skimage import is slow)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the wheels photo pool needs the package {name!r}; reinstall qtbench (pip install -e .)")
    return Path(list(spec.submodule_search_locations)[0])


def wheels_pool() -> list[Photo]:
    """The 8 photos of docs/feasibility.md, from the installed scikit-image, scikit-learn and matplotlib."""
    sk = _package_dir("skimage") / "data"
    sl = _package_dir("sklearn") / "datasets" / "images"
    mpl = _package_dir("matplotlib") / "mpl-data" / "sample_data"
    files = {
        "skimage-astronaut": sk / "astronaut.png",
        "skimage-chelsea": sk / "chelsea.png",
        "skimage-coffee": sk / "coffee.png",
        "skimage-rocket": sk / "rocket.jpg",
        "skimage-motorcycle": sk / "motorcycle_left.png",
        "sklearn-china": sl / "china.jpg",
        "sklearn-flower": sl / "flower.jpg",
        "matplotlib-grace_hopper": mpl / "grace_hopper.jpg",
    }
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise UserError(f"wheels photo pool: missing {', '.join(missing)}; reinstall scikit-image/scikit-learn/matplotlib")
    return [Photo(k, v) for k, v in files.items()]


def debian_pool() -> list[Photo]:
    """The photos of the fetched Debian pool (``qtbench data fetch``)."""
    from qtbench.data import debian_pool as dp

    root = dp.pool_dir()
    if not (root / "manifest.json").exists():
        raise UserError(f"the debian photo pool is not in {root}; build it with `qtbench data fetch` (needs apt-get)")
    manifest = dp.load_manifest(root)
    return [Photo(p["id"], root / p["file"], p["role"]) for p in manifest["photos"]]


def pool_fingerprint(name: str) -> str:
    """A string that changes when the pool's content changes (part of data cache keys)."""
    if name == "wheels":
        return "wheels-v1:" + ",".join(f"{p.id}:{p.path.stat().st_size}" for p in wheels_pool())
    from qtbench.data import debian_pool as dp

    photos = load_pool(name)  # raises the fetch hint when absent
    manifest = dp.load_manifest(dp.pool_dir())
    return "debian:" + ",".join(sorted(p["sha256"] for p in manifest["photos"])) + f":{len(photos)}"


def load_pool(name: str) -> list[Photo]:
    """All photos of pool ``name`` (``wheels`` or ``debian``)."""
    if name == "wheels":
        return wheels_pool()
    if name == "debian":
        return debian_pool()
    raise UserError(f"unknown photo pool {name!r}; choose one of {', '.join(POOLS)} (task.data.pool=...)")


def read_rgb(path: Path, short_side: int | None = None, max_side: int | None = None) -> np.ndarray:
    """Read an image as HxWx3 float32 RGB in [0,1], optionally resized (area filter)."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            scale = 1.0
            if short_side:
                scale = short_side / min(w, h)
            if max_side and max(w, h) * scale > max_side:
                scale = max_side / max(w, h)
            if scale != 1.0:
                im = im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX if scale < 1 else Image.BICUBIC)
            return np.asarray(im, dtype=np.float32) / 255.0
    except OSError as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
