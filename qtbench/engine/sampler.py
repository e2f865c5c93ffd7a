"""Random crops from lists of uint8 images, driven by a checkpointable numpy Generator."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def to_tensor(imgs: list[np.ndarray]) -> Tensor:
    """uint8 HxWx3 images of one size -> [B,3,H,W] float in [0,1]."""
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255.0)


class CropSampler:
    """Sample ``batch`` random crops of size ``crop`` from ``images`` (and aligned ``targets``).

    Args:
        images: uint8 HxWx3 images (sizes may differ).
        crop: crop side in px (images smaller than that are an error).
        rng: numpy Generator (its state is saved with checkpoints).
        targets: optional function ``i -> target image`` aligned with ``images``.
    """

    def __init__(self, images, crop: int, rng: np.random.Generator, targets=None) -> None:
        small = [i for i, im in enumerate(images) if min(im.shape[:2]) < crop]
        if small:
            raise ValueError(f"{len(small)} images are smaller than the crop size {crop}")
        if not images:
            raise ValueError("no images to sample from")
        self.images = images
        self.targets = targets
        self.crop = crop
        self.rng = rng

    def sample(self, batch: int) -> tuple[Tensor, Tensor, Tensor | None]:
        """Return (index [B], crops [B,3,c,c], target crops or None)."""
        idx = self.rng.integers(0, len(self.images), size=batch)
        xs, ys = [], []
        c = self.crop
        for i in idx:
            im = self.images[i]
            top = int(self.rng.integers(0, im.shape[0] - c + 1))
            left = int(self.rng.integers(0, im.shape[1] - c + 1))
            xs.append(im[top : top + c, left : left + c])
            if self.targets is not None:
                ys.append(self.targets(int(i))[top : top + c, left : left + c])
        return torch.from_numpy(idx), to_tensor(xs), (to_tensor(ys) if ys else None)
