"""The data containers of the benchmark protocol: what training code and evaluation code receive.

A neutral module (no task logic) so that tasks, own-data loaders, the engine and evaluation can all import
these without importing each other.

Leak guard: training code receives a :class:`TrainData`, which holds no clean target image it can reach except
through :meth:`TrainData.target_labels`, granted only to frameworks that declare ``uses_target_labels`` (the
``oracle`` control, flagged in every output). Target-val/test live in :class:`EvalData`, which only evaluation
code receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qtbench.errors import UserError


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

    @property
    def labelled(self) -> bool:
        """False for image-only sets (your own unlabelled folder): no clean images at all."""
        return len(self.clean) > 0

    def __len__(self) -> int:
        return len(self.inputs)


class TrainData:
    """What training code may see: source pairs and *degraded* target images."""

    def __init__(self, source: ImageSet, target: ImageSet) -> None:
        self.source = source
        self.target_ids = list(target.ids)
        self.target_inputs = list(target.inputs)
        self.__target = target  # name-mangled: not part of the public surface

    @property
    def has_target_labels(self) -> bool:
        """The target images have hidden clean images (synthetic targets; False for your own unlabelled folder)."""
        return self.__target.labelled

    def target_labels(self, framework: Any) -> list[np.ndarray]:
        """Clean target images aligned with ``target_inputs`` — the oracle control only.

        Raises:
            LeakError: ``framework`` does not declare ``uses_target_labels``.
            UserError: the target images are your own unlabelled folder, which has no clean images.
        """
        if not getattr(framework, "uses_target_labels", False):
            raise LeakError(
                f"{type(framework).__name__} asked for clean target images; only frameworks that declare "
                "uses_target_labels=True (the oracle control) may"
            )
        if not self.__target.labelled:
            raise UserError("the oracle control needs clean target images; task.data.unlabelled=DIR has none")
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
    # Unreadable own-data files skipped with task.data.skip_bad ("DIR/name"). A class-level default, so
    # data pickled before this field existed still loads.
    skipped: tuple[str, ...] = ()
