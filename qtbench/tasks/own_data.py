"""Your own data in a task: ``task.data.unlabelled=DIR``, ``task.data.paired=DIR``, ``task.data.test=DIR``.

- ``unlabelled``: degraded images only (RTTS/URHI style); they replace the synthetic target-unlabelled set.
  The ``oracle`` control cannot use them (there are no clean images).
- ``paired``: ``input/`` + ``gt/`` with matching names; they replace the synthetic source pairs.
- ``test``: paired (``input/`` + ``gt/``) replaces target-test (PSNR/SSIM); images only become the real
  set (no-reference metrics only). Target-val stays synthetic, so tuning never sees your test images.

Images are resized like pool photos (short side ``image_size``, long side at most twice that) so training
crops and the cost of evaluation stay those of the scale profile. Images are never shared between a test
set and a training set: an identical image in both fails (a leak).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from omegaconf import DictConfig

from qtbench.data import images
from qtbench.errors import UserError


@dataclass
class OwnData:
    """What the folders replace: ``sets`` by split name (``source``, ``unlabelled``, ``test``), and ``real``."""

    sets: dict = field(default_factory=dict)
    real: Optional[tuple[list[str], list[np.ndarray]]] = None
    skipped: list[str] = field(default_factory=list)


def _u8(img: np.ndarray, size: int) -> np.ndarray:
    out = images.resize(img, size, 2 * size)
    return (np.clip(out, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def _pairs(root: str, size: int, skip_bad: bool, skipped: list[str]):
    from qtbench.data.containers import ImageSet

    inputs, gts = images.load_pairs(Path(root), skip_bad)
    skipped += [f"{root}/input/{n}" for n in inputs.bad]
    ids = [f"own:{Path(n).stem}" for n in inputs.names]
    return ImageSet(ids, [_u8(x.rgb, size) for x in inputs.images], np.arange(len(ids), dtype=np.int64),
                    [_u8(y.rgb, size) for y in gts.images])


def _folder(root: str, size: int, skip_bad: bool, skipped: list[str]) -> tuple[list[str], list[np.ndarray]]:
    folder = images.load_folder(Path(root), skip_bad)
    skipped += [f"{root}/{n}" for n in folder.bad]
    return [f"own:{Path(n).stem}" for n in folder.names], [_u8(x.rgb, size) for x in folder.images]


def load(data_cfg: DictConfig, size: int) -> OwnData:
    """Read the own-data folders named in ``data_cfg`` (none set: an empty :class:`OwnData`)."""
    from qtbench.data.containers import ImageSet

    own = OwnData()
    skip = bool(data_cfg.skip_bad)
    if data_cfg.paired:
        own.sets["source"] = _pairs(data_cfg.paired, size, skip, own.skipped)
    if data_cfg.unlabelled:
        ids, imgs = _folder(data_cfg.unlabelled, size, skip, own.skipped)
        own.sets["unlabelled"] = ImageSet(ids, imgs, np.zeros(0, dtype=np.int64), [])
    if data_cfg.test:
        if images.is_paired(Path(data_cfg.test).expanduser()):
            own.sets["test"] = _pairs(data_cfg.test, size, skip, own.skipped)
        else:
            own.real = _folder(data_cfg.test, size, skip, own.skipped)
    return own


def validate(cfg: DictConfig) -> None:
    """Compose-time checks: folders exist, ``paired`` has ``input/`` + ``gt/``, no oracle on unlabelled images."""
    d = cfg.task.data
    for key in ("unlabelled", "paired", "test"):
        value = d[key]
        if value and not Path(value).expanduser().is_dir():
            raise UserError(f"task.data.{key}={value}: no such folder")
    if d.paired and not images.is_paired(Path(d.paired).expanduser()):
        raise UserError(f"task.data.paired={d.paired} must hold input/ and gt/ sub-folders with matching names")
    if d.unlabelled:
        from qtbench import registry
        from qtbench.method_spec import parse_method

        framework = registry.frameworks.get(parse_method(cfg.method).framework).obj
        if getattr(framework, "uses_target_labels", False):
            raise UserError(f"method {cfg.method!r} trains on clean target images, which "
                            f"task.data.unlabelled={d.unlabelled} does not have")
    named = [Path(d[k]).expanduser().resolve() for k in ("unlabelled", "paired") if d[k]]
    if d.test and Path(d.test).expanduser().resolve() in named:
        raise UserError(f"task.data.test={d.test} is also a training folder; test images must be held out")


def _digest(img: np.ndarray) -> str:
    return hashlib.sha256(img.tobytes() + str(img.shape).encode()).hexdigest()


def check_no_leak(source, unlabelled, test, real: list[np.ndarray], real_ids: list[str]) -> None:
    """Fail when an evaluation image (test input or clean, real photo) is also a training image."""
    train = {_digest(im) for im in source.inputs + source.clean + unlabelled.inputs}
    held = [(i, im) for i, im in zip(test.ids, test.inputs)] + [(i, im) for i, im in zip(real_ids, real)]
    held += [(f"{test.ids[int(np.nonzero(test.photo_index == k)[0][0])]} (clean)", im)
             for k, im in enumerate(test.clean) if np.any(test.photo_index == k)]
    leaked = [i for i, im in held if _digest(im) in train]
    if leaked:
        raise UserError(f"{len(leaked)} evaluation image(s) also in a training set (first: {leaked[0]}); "
                        "keep test folders disjoint from task.data.paired/unlabelled")
