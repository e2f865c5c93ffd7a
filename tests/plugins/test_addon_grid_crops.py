"""pl.target_crops=grid: crops snapped to a stride-crop grid, each with a stable key (banks revisit them)."""

import numpy as np
import torch

from qtbench.engine.sampler import CropSampler


def test_grid_keys_identify_crops():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (70, 100, 3), dtype=np.uint8), rng.integers(0, 255, (64, 130, 3), dtype=np.uint8)]
    s = CropSampler(images, 32, np.random.default_rng(1), mode="grid")
    # image 0: 2 x 3 windows, image 1: 2 x 4 windows; n_windows = 2 * 4
    assert s.n_windows == 8 and s.n_keys == 16
    seen = {}
    for _ in range(50):
        idx, x, _, key = s.sample_keyed(8)
        assert key.shape == (8,) and int(key.max()) < s.n_keys
        for i, k, crop in zip(idx.tolist(), key.tolist(), x):
            assert k // s.n_windows == i
            if k in seen:
                assert torch.equal(seen[k], crop)  # same key, same pixels
            seen[k] = crop
    assert len(seen) == 6 + 8  # every window of both images was drawn
    # image 0 (70 x 100) is centred: rows start at 3, columns at 2
    img = torch.from_numpy(images[0]).permute(2, 0, 1).float() / 255
    assert torch.equal(seen[0], img[:, 3:35, 2:34])


def test_random_mode_has_no_key():
    images = [np.zeros((40, 40, 3), dtype=np.uint8)]
    _, _, _, key = CropSampler(images, 32, np.random.default_rng(0)).sample_keyed(2)
    assert key is None
