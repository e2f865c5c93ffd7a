"""The benchmark protocol shared by every task (docs/architecture.md §2).

Photos of a pool are split *by photo* into source-train, target-unlabelled, target-val and
target-test. Source photos get the task's labelled source degradation; target photos its shifted
"real-like" degradation. Everything is deterministic from the seed and cached by content hash.

What a task hands out lives in :mod:`qtbench.data.containers` (:class:`TrainData` for training code, with its
leak guard; :class:`EvalData` for evaluation code only).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from qtbench import atomic
from qtbench.data.pools import CLEAN, Photo, load_pool, pool_fingerprint, read_rgb
from qtbench.data.containers import EvalData, ImageSet, LeakError, TaskData, TrainData  # noqa: F401 - re-exported
from qtbench.errors import UserError
from qtbench.paths import cache_dir

DATA_VERSION = 1  # bump when synthesis code changes results, to invalidate caches


@dataclass
class SplitConfig:
    """Fractions of the pool's clean photos per split (by photo, never by crop)."""

    source: float = 0.45
    unlabelled: float = 0.25
    val: float = 0.10
    test: float = 0.20  # the rest; >= 20 test photos on the debian pool (docs/feasibility.md: power)


@dataclass
class DataConfig:
    """Which photos, at what size, how many degraded realisations."""

    pool: str = "wheels"  # wheels (8 photos, demo) or debian (~225 photos; `qtbench data fetch`)
    image_size: int = 256  # short side of working images, px; source: docs/feasibility.md (short side 256)
    split: SplitConfig = field(default_factory=SplitConfig)
    source_realisations: int = 8  # source: docs/feasibility.md (8 realisations per photo)
    unlabelled_realisations: int = 8  # source: docs/feasibility.md
    val_realisations: int = 2
    test_realisations: int = 2  # source: docs/feasibility.md (2 fixed realisations per test photo)
    # Your own data (qtbench.tasks.own_data); None = the pool's synthetic sets. Resized like pool photos.
    unlabelled: Optional[str] = None  # DIR of degraded images (RTTS/URHI style): replaces target-unlabelled
    paired: Optional[str] = None  # DIR with input/ + gt/ (matching names): replaces the source pairs
    test: Optional[str] = None  # DIR: paired (input/ + gt/) replaces target-test; images only become the real set
    skip_bad: bool = False  # skip (and count) unreadable files of the folders above instead of failing


OWN_DATA_KEYS = ("unlabelled", "paired", "test", "skip_bad")


def task_identity(task_cfg: DictConfig, fingerprints: bool = True) -> dict[str, Any]:
    """The task config as a plain dict for hashing, with unset own-data fields left out.

    Leaving them out keeps the data and base-model cache keys (and run identities) of pool-only configs what
    they were before own data existed. Args: ``fingerprints`` adds each own folder's content hash, so caches
    and finished runs are not reused when a folder's images change.
    """
    out = OmegaConf.to_container(task_cfg, resolve=True)
    data = out.get("data") or {}
    for key in OWN_DATA_KEYS:
        if key in data and data[key] in (None, False):
            del data[key]
    if fingerprints:
        from qtbench.data.images import fingerprint

        for key in ("unlabelled", "paired", "test"):
            if data.get(key):
                data[key] = {"path": data[key], "content": fingerprint(Path(data[key]))}
    return out


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
    """Base class of tasks: a source and a target degradation model on top of the split protocol.

    A task subclass names its degradation functions and config checks; this class does the rest (splits,
    synthesis, own data, caching, previews, config validation).

    Class attributes:
        real_role: pool role of this task's real degraded photos (``real_haze``...), or None.
        no_real_set: why a task without ``real_role`` has no real set (shown in summaries and tables).
        uses_depth: :meth:`prepare` computes the depth proxy from ``cfg.depth``.
        source_fn, target_fn: ``(clean, ctx, rng, cfg) -> degraded`` (wrap in ``staticmethod``).
        check_fn: ``(cfg) -> None`` raising :class:`UserError`; applied to ``cfg.source`` and ``cfg.target``.
    """

    real_role: str | None = None
    no_real_set: str = ""
    uses_depth: bool = False
    source_fn: Optional[Callable] = None
    target_fn: Optional[Callable] = None
    check_fn: Optional[Callable] = None

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    def prepare(self, clean: np.ndarray) -> Any:
        """Per-photo context shared by all its realisations (the depth map when ``uses_depth``)."""
        if self.uses_depth:
            from qtbench.data.depth import depth_proxy

            return depth_proxy(clean, self.cfg.depth)
        return None

    def degrade_source(self, clean: np.ndarray, ctx: Any, rng: np.random.Generator) -> np.ndarray:
        if self.source_fn is None:
            raise NotImplementedError(f"{type(self).__name__} defines no source_fn")
        return self.source_fn(clean, ctx, rng, self.cfg.source)

    def degrade_target(self, clean: np.ndarray, ctx: Any, rng: np.random.Generator) -> np.ndarray:
        if self.target_fn is None:
            raise NotImplementedError(f"{type(self).__name__} defines no target_fn")
        return self.target_fn(clean, ctx, rng, self.cfg.target)

    @classmethod
    def validate_config(cls, cfg: DictConfig) -> None:
        """Own-data folders, then range checks of the degradation parameters (one-line UserError)."""
        from qtbench.tasks import own_data

        own_data.validate(cfg)
        if cls.uses_depth:
            from qtbench.data.depth import check

            check(cfg.task.depth)
        if cls.check_fn is not None:
            cls.check_fn(cfg.task.source)
            cls.check_fn(cfg.task.target)

    def real_set_note(self, n: Optional[int] = None) -> str:
        """One line for summaries: where this task's real set comes from, or why there is none.

        Args:
            n: number of real photos found, when known (0 explains where they would come from).
        """
        d = self.cfg.data
        count = "" if n is None else f"{n} "
        if d.test and not _is_paired(d.test):
            return f"{count}own images in {d.test} (no-reference metrics only)"
        if self.real_role is None:
            return f"no real set: {self.no_real_set or 'no real photos for this task'}"
        if n == 0:
            return f"none in the {d.pool} pool ({self.real_role} photos come with the debian pool: qtbench data fetch)"
        return f"{count}{self.real_role} photos of the {d.pool} pool (no-reference metrics only)"

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

    def data_key(self, seed: int) -> str:
        """Content hash of everything :meth:`build` depends on (its cache key)."""
        key_src = json.dumps(
            {"task": task_identity(self.cfg, fingerprints=True), "seed": seed, "v": DATA_VERSION,
             "pool": pool_fingerprint(self.cfg.data.pool)}, sort_keys=True)
        return hashlib.sha256(key_src.encode()).hexdigest()[:20]

    def build(self, seed: int, progress: bool = True) -> TaskData:
        """Split, read, degrade (or load from the cache) the data of ``seed``; own folders replace pool sets."""
        from qtbench.tasks import own_data

        data_cfg = self.cfg.data
        key = self.data_key(seed)
        path = cache_dir("data", f"{self.cfg.name}-{key}.pkl")
        if path.exists():
            from qtbench.safe_load import load_data_pickle

            data = load_data_pickle(path)  # admits only the data classes and arrays: no code runs
            data.key = key
            return data
        size = data_cfg.image_size
        own = own_data.load(data_cfg, size)  # before synthesis: a bad folder fails in seconds
        photos = load_pool(data_cfg.pool)
        split = split_photos(photos, seed, data_cfg.split)
        by_id = {p.id: p for p in photos}
        parts = {"source": ("source", data_cfg.source_realisations, False),
                 "unlabelled": ("unlabelled", data_cfg.unlabelled_realisations, True),
                 "val": ("val", data_cfg.val_realisations, True), "test": ("test", data_cfg.test_realisations, True)}
        needed = [pid for name, ids in split.items() if name not in own.sets for pid in ids]
        clean, ctx = {}, {}
        for pid in tqdm(needed, desc=f"{self.cfg.name}: synthesising seed {seed}", disable=not progress, leave=False):
            clean[pid] = read_rgb(by_id[pid].path, short_side=size, max_side=2 * size)
            ctx[pid] = self.prepare(clean[pid])
        sets = {name: own.sets[name] if name in own.sets else
                self._degrade(split[name], clean, ctx, n, stream, seed, target)
                for name, (stream, n, target) in parts.items()}
        if own.real is not None:
            real_ids, real_imgs = own.real
        else:
            real = [p for p in photos if self.real_role and p.role == self.real_role]
            real_ids = [p.id for p in real]
            real_imgs = [_u8(read_rgb(p.path, short_side=size, max_side=2 * size)) for p in real]
        if own.sets or own.real is not None:  # pool splits are disjoint by construction (split_photos)
            own_data.check_no_leak(sets["source"], sets["unlabelled"], sets["test"], real_imgs, real_ids)
        data = TaskData(TrainData(sets["source"], sets["unlabelled"]),
                        EvalData(sets["val"], sets["test"], real_ids, real_imgs), split, key, tuple(own.skipped))
        atomic.write_bytes(path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
        return data

    def preview(self, seed: int, n: int = 4) -> dict[str, list[tuple[str, np.ndarray, Optional[np.ndarray]]]]:
        """A few images of each pool set without building the whole data set (``qtbench data show``).

        Returns ``{"source", "unlabelled", "test", "real"}`` -> ``[(id, degraded or real uint8, clean or None)]``;
        degraded images are realisation 0, identical to what :meth:`build` makes.
        """
        data_cfg = self.cfg.data
        size = data_cfg.image_size
        photos = load_pool(data_cfg.pool)
        split = split_photos(photos, seed, data_cfg.split)
        by_id = {p.id: p for p in photos}
        out: dict[str, list] = {}
        for name, target in (("source", False), ("unlabelled", True), ("test", True)):
            rows = []
            for pid in split[name][:n]:
                img = read_rgb(by_id[pid].path, short_side=size, max_side=2 * size)
                fn = self.degrade_target if target else self.degrade_source
                rows.append((f"{pid}#0", _u8(fn(img, self.prepare(img), _rng(seed, pid, 0, name))), _u8(img)))
            out[name] = rows
        real = [p for p in photos if self.real_role and p.role == self.real_role][:n]
        out["real"] = [(p.id, _u8(read_rgb(p.path, short_side=size, max_side=2 * size)), None) for p in real]
        return out


def _is_paired(root: str) -> bool:
    from qtbench.data.images import is_paired

    return is_paired(Path(root).expanduser())
