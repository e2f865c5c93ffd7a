"""The split protocol and the leak guard: clean target images are unreachable from training code."""

import numpy as np
import pytest

from qtbench import registry
from qtbench.config.compose import compose_run
from qtbench.data.pools import wheels_pool
from qtbench.data.containers import LeakError, TrainData
from qtbench.tasks.base import split_photos


@pytest.fixture(scope="module")
def smoke_data():
    cfg = compose_run("mt", "dehaze", scale="smoke")
    task = registry.tasks.get("dehaze").obj(cfg.task)
    return cfg, task.build(cfg.seed, progress=False)


def test_split_is_by_photo_disjoint_and_deterministic():
    photos = wheels_pool()
    cfg = compose_run("mt", "dehaze")
    a = split_photos(photos, 0, cfg.task.data.split)
    assert a == split_photos(photos, 0, cfg.task.data.split)
    assert a != split_photos(photos, 1, cfg.task.data.split)
    ids = [i for part in a.values() for i in part]
    assert len(ids) == len(set(ids)) == len(photos)
    assert all(len(part) >= 1 for part in a.values())


def test_training_view_holds_no_clean_target(smoke_data):
    _, data = smoke_data
    train = data.train
    assert isinstance(train, TrainData)
    public = {k: v for k, v in vars(train).items() if not k.startswith("_")}
    assert set(public) == {"source", "target_ids", "target_inputs"}
    # the degraded target images are not their clean photos
    clean_target = {data.evaluation.test.clean[0].tobytes()}
    assert all(im.tobytes() not in clean_target for im in train.target_inputs)
    test_photos = set(data.split["test"]) | set(data.split["val"])
    assert not any(i.split("#")[0] in test_photos for i in train.target_ids + train.source.ids)


def test_target_labels_refused_to_mt_and_granted_to_oracle(smoke_data):
    cfg, data = smoke_data
    mt = registry.frameworks.get("mt").obj(cfg.framework)
    with pytest.raises(LeakError):
        data.train.target_labels(mt)
    oracle = registry.frameworks.get("oracle").obj(cfg.framework)
    labels = data.train.target_labels(oracle)
    assert len(labels) == len(data.train.target_inputs)
    assert labels[0].shape == data.train.target_inputs[0].shape


def test_synthesis_is_deterministic_and_cached(smoke_data):
    cfg, data = smoke_data
    task = registry.tasks.get("dehaze").obj(cfg.task)
    again = task.build(cfg.seed, progress=False)
    assert np.array_equal(again.train.target_inputs[0], data.train.target_inputs[0])
    other = task.build(cfg.seed + 1, progress=False)
    assert other.split != data.split


def test_a_debian_sized_pool_gives_at_least_20_test_photos():
    from pathlib import Path

    from qtbench.data.pools import Photo

    cfg = compose_run("mt", "dehaze", overrides=["task.data.pool=debian"])
    photos = [Photo(f"p{i:03d}", Path("x")) for i in range(175)] + [Photo("h", Path("y"), "real_haze")]
    split = split_photos(photos, 0, cfg.task.data.split)
    assert len(split["test"]) >= 20 and "h" not in sum(split.values(), [])
