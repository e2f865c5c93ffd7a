"""Crops from lists of uint8 images, driven by a checkpointable numpy Generator.

Two modes (``pl.target_crops``):

- ``random``: any position, as in docs/feasibility.md; the same crop is essentially never drawn twice.
- ``grid``: positions snapped to a stride-``crop`` grid (centred, so the unused margin is split evenly).
  Every crop then has a stable identity ``key = image * n_windows + window``: a memory bank can revisit
  it (docs/method.md §7; the official code keeps alignment by resizing whole real images, §21 item 15).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

MODES = ("random", "grid")


def to_tensor(imgs: list[np.ndarray]) -> Tensor:
    """uint8 HxWx3 images of one size -> [B,3,H,W] float in [0,1]."""
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255.0)


class CropSampler:
    """Sample ``batch`` crops of size ``crop`` from ``images`` (and aligned ``targets``).

    Args:
        images: uint8 HxWx3 images (sizes may differ).
        crop: crop side in px (images smaller than that are an error).
        rng: numpy Generator (its state is saved with checkpoints).
        targets: optional function ``i -> target image`` aligned with ``images``.
        mode: ``random`` or ``grid`` (see the module docstring).
    """

    def __init__(self, images, crop: int, rng: np.random.Generator, targets=None, mode: str = "random") -> None:
        if mode not in MODES:
            raise ValueError(f"crop mode {mode!r}: choose one of {', '.join(MODES)}")
        small = [i for i, im in enumerate(images) if min(im.shape[:2]) < crop]
        if small:
            raise ValueError(f"{len(small)} images are smaller than the crop size {crop}")
        if not images:
            raise ValueError("no images to sample from")
        self.images = images
        self.targets = targets
        self.crop = crop
        self.rng = rng
        self.mode = mode
        # grid geometry per image: rows, cols, and the centring offsets
        shapes = np.array([im.shape[:2] for im in images])
        self.rows, self.cols = shapes[:, 0] // crop, shapes[:, 1] // crop
        self.off_y = (shapes[:, 0] - self.rows * crop) // 2
        self.off_x = (shapes[:, 1] - self.cols * crop) // 2
        self.max_cols = int(self.cols.max())
        self.n_windows = int(self.rows.max()) * self.max_cols

    @property
    def n_keys(self) -> int:
        """Number of distinct crop keys (grid mode): ``len(images) * n_windows``."""
        return len(self.images) * self.n_windows

    def sample(self, batch: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """Return (index [B], crops [B,3,c,c], target crops or None)."""
        idx, x, y, _ = self.sample_keyed(batch)
        return idx, x, y

    def sample_keyed(self, batch: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Return (index [B], crops, target crops or None, key [B] in grid mode else None)."""
        idx = self.rng.integers(0, len(self.images), size=batch)
        xs, ys, keys = [], [], []
        c = self.crop
        for i in idx:
            im = self.images[i]
            if self.mode == "random":
                top = int(self.rng.integers(0, im.shape[0] - c + 1))
                left = int(self.rng.integers(0, im.shape[1] - c + 1))
            else:
                w = int(self.rng.integers(0, self.rows[i] * self.cols[i]))
                r, col = divmod(w, int(self.cols[i]))
                top, left = int(self.off_y[i]) + r * c, int(self.off_x[i]) + col * c
                keys.append(int(i) * self.n_windows + r * self.max_cols + col)
            xs.append(im[top : top + c, left : left + c])
            if self.targets is not None:
                ys.append(self.targets(int(i))[top : top + c, left : left + c])
        key = torch.tensor(keys, dtype=torch.long) if keys else None
        return torch.from_numpy(idx), to_tensor(xs), (to_tensor(ys) if ys else None), key
