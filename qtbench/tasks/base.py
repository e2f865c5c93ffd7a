"""The benchmark protocol shared by every task (DESIGN.md §2).

Photos of a pool are split *by photo* into source-train, target-unlabelled, target-val and
target-test. Source photos get the task's labelled source degradation; target photos its shifted
"real-like" degradation. Everything is deterministic from the seed and cached by content hash.

Leak guard: training code receives a :class:`TrainData`, which holds no clean target image it can
reach except through :meth:`TrainData.target_labels`, granted only to frameworks that declare
``uses_target_labels`` (the ``oracle`` control, flagged in every output). Target-val/test live in
:class:`EvalData`, which only evaluation code receives.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from qtbench import atomic
from qtbench.data.pools import CLEAN, Photo, load_pool, pool_fingerprint, read_rgb
from qtbench.errors import UserError
from qtbench.paths import cache_dir

DATA_VERSION = 1  # bump when synthesis code changes results, to invalidate caches


@dataclass
class SplitConfig:
    """Fractions of the pool's clean photos per split (by photo, never by crop)."""

    source: float = 0.45
    unlabelled: float = 0.25
    val: float = 0.10
    test: float = 0.20  # the rest; >= 20 test photos on the debian pool (feasibility.md: power)


@dataclass
class DataConfig:
    """Which photos, at what size, how many degraded realisations."""

    pool: str = "wheels"  # wheels (8 photos, demo) or debian (~225 photos; `qtbench data fetch`)
    image_size: int = 256  # short side of working images, px; source: feasibility.md (short side 256)
    split: SplitConfig = field(default_factory=SplitConfig)
    source_realisations: int = 8  # source: feasibility.md (8 realisations per photo)
    unlabelled_realisations: int = 8  # source: feasibility.md
    val_realisations: int = 2
    test_realisations: int = 2  # source: feasibility.md (2 fixed realisations per test photo)


class LeakError(RuntimeError):
    """Training code asked for clean target images without being the oracle control."""


@dataclass
class ImageSet:
    """Degraded images with their clean photos (uint8 HxWx3).

    Args:
        ids: one id per degraded image (``<photo>#<realisation>``).
        inputs: degraded images.
        photo_index: [N] index of each image's clean photo in ``clean``.
        clean: clean photos.
    """

    ids: list[str]
    inputs: list[np.ndarray]
    photo_index: np.ndarray
    clean: list[np.ndarray]

    def target(self, i: int) -> np.ndarray:
        """Clean image of degraded image ``i``."""
        return self.clean[int(self.photo_index[i])]

    def __len__(self) -> int:
        return len(self.inputs)


class TrainData:
    """What training code may see: source pairs and *degraded* target images."""

    def __init__(self, source: ImageSet, target: ImageSet) -> None:
        self.source = source
        self.target_ids = list(target.ids)
        self.target_inputs = list(target.inputs)
        self.__target = target  # name-mangled: not part of the public surface

    def target_labels(self, framework: Any) -> list[np.ndarray]:
        """Clean target images aligned with ``target_inputs`` — the oracle control only.

        Raises:
            LeakError: ``framework`` does not declare ``uses_target_labels``.
        """
        if not getattr(framework, "uses_target_labels", False):
            raise LeakError(
                f"{type(framework).__name__} asked for clean target images; only frameworks that declare "
                "uses_target_labels=True (the oracle control) may"
            )
        return [self.__target.target(i) for i in range(len(self.__target))]


@dataclass
class EvalData:
    """Evaluation sets: target-val (tuning), target-test (tables), real photos (NR metrics only)."""

    val: ImageSet
    test: ImageSet
    real_ids: list[str]
    real: list[np.ndarray]


@dataclass
class TaskData:
    """Everything a run needs; ``split`` lists the photo ids of each split."""

    train: TrainData
    evaluation: EvalData
    split: dict[str, list[str]]
    key: str = ""  # content hash of everything that produced this data (cache key of derived models)


def split_photos(photos: list[Photo], seed: int, fractions: SplitConfig | DictConfig) -> dict[str, list[str]]:
    """Deterministic split of the clean photos by photo; every split gets at least one photo."""
    ids = sorted(p.id for p in photos if p.role == CLEAN)
    n = len(ids)
    if n < 4:
        raise UserError(f"the photo pool has {n} clean photos; the protocol needs at least 4")
    perm = [ids[i] for i in np.random.default_rng(seed).permutation(n)]
    n_src = max(1, round(n * fractions.source))
    n_unl = max(1, round(n * fractions.unlabelled))
    n_val = max(1, round(n * fractions.val))
    n_src = min(n_src, n - n_unl - n_val - 1)
    out = {
        "source": perm[:n_src],
        "unlabelled": perm[n_src : n_src + n_unl],
        "val": perm[n_src + n_unl : n_src + n_unl + n_val],
        "test": perm[n_src + n_unl + n_val :],
    }
    return out


def _rng(seed: int, photo_id: str, realisation: int, stream: str) -> np.random.Generator:
    """Per-image generator: adding photos to a pool leaves the others' degradations unchanged."""
    h = int.from_bytes(hashlib.sha256(f"{photo_id}|{stream}".encode()).digest()[:8], "little")
    return np.random.default_rng([seed, h, realisation])


def _u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0, 1) * 255.0 + 0.5).astype(np.uint8)


class Task:
    """Base class of tasks: subclasses define the two degradation models.

    Class attributes:
        real_role: pool role of this task's real degraded photos (``real_haze``...), or None.
    """

    real_role: str | None = None

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    def prepare(self, clean: np.ndarray) -> Any:
        """Per-photo context shared by all its realisations (e.g. a depth map)."""
        return None

    def degrade_source(self, clean: np.ndarray, ctx: Any, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def degrade_target(self, clean: np.ndarray, ctx: Any, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def _degrade(self, ids, clean_by_id, ctx_by_id, n_real, stream, seed, target: bool) -> ImageSet:
        names, inputs, index = [], [], []
        fn = self.degrade_target if target else self.degrade_source
        for k, pid in enumerate(ids):
            for r in range(n_real):
                img = fn(clean_by_id[pid], ctx_by_id[pid], _rng(seed, pid, r, stream))
                names.append(f"{pid}#{r}")
                inputs.append(_u8(img))
                index.append(k)
        return ImageSet(names, inputs, np.asarray(index, dtype=np.int64), [_u8(clean_by_id[p]) for p in ids])

    def build(self, seed: int, progress: bool = True) -> TaskData:
        """Split, read, degrade (or load from the cache) the data of ``seed``."""
        data_cfg = self.cfg.data
        key_src = json.dumps(
            {"task": OmegaConf.to_container(self.cfg, resolve=True), "seed": seed, "v": DATA_VERSION,
             "pool": pool_fingerprint(data_cfg.pool)}, sort_keys=True)
        key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
        path = cache_dir("data", f"{self.cfg.name}-{key}.pkl")
        if path.exists():
            with open(path, "rb") as fh:
                data = pickle.load(fh)
            data.key = key
            return data
        photos = load_pool(data_cfg.pool)
        split = split_photos(photos, seed, data_cfg.split)
        by_id = {p.id: p for p in photos}
        size = data_cfg.image_size
        needed = [pid for ids in split.values() for pid in ids]
        clean, ctx = {}, {}
        for pid in tqdm(needed, desc=f"{self.cfg.name}: synthesising seed {seed}", disable=not progress, leave=False):
            clean[pid] = read_rgb(by_id[pid].path, short_side=size, max_side=2 * size)
            ctx[pid] = self.prepare(clean[pid])
        source = self._degrade(split["source"], clean, ctx, data_cfg.source_realisations, "source", seed, False)
        target = self._degrade(split["unlabelled"], clean, ctx, data_cfg.unlabelled_realisations, "unlabelled", seed, True)
        val = self._degrade(split["val"], clean, ctx, data_cfg.val_realisations, "val", seed, True)
        test = self._degrade(split["test"], clean, ctx, data_cfg.test_realisations, "test", seed, True)
        real = [p for p in photos if self.real_role and p.role == self.real_role]
        real_imgs = [_u8(read_rgb(p.path, short_side=size, max_side=2 * size)) for p in real]
        data = TaskData(TrainData(source, target), EvalData(val, test, [p.id for p in real], real_imgs), split, key)
        atomic.write_bytes(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
        return data
