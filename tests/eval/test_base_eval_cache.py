"""The base model's and inputs' final evaluation, cached per base model: the same numbers, in the same order."""

from __future__ import annotations

import json

from qtbench.config.compose import compose_run
from qtbench.paths import cache_dir

TINY = ["task.data.image_size=64", "task.data.source_realisations=1", "task.data.unlabelled_realisations=1",
        "base.iters=4", "pl.trajectory_points=1", "runtime.progress=false", "runtime.threads=1"]


def _shared(metrics: dict) -> list[tuple[str, float]]:
    return [(k, v) for k, v in metrics.items() if k.startswith(("base/", "input/"))]


def test_second_run_of_a_seed_reads_the_base_evaluation_and_gets_the_same_numbers(tmp_path):
    from qtbench.eval import base_eval_cache
    from qtbench.runner import execute

    overrides = list(TINY)
    first = execute(compose_run("mt", "dehaze", scale="smoke", seed=7, runs_dir=str(tmp_path),
                                overrides=overrides + ["pl.iters=2"]))
    entries = sorted(cache_dir("base").glob(f"dehaze-*-{first['base_model']['key']}.eval-*.json"))
    assert len(entries) == 1, entries
    stored = json.loads(entries[0].read_text())
    assert stored["format"] == base_eval_cache.FORMAT
    assert _shared(first["metrics"]) == [(k, v) for k, v in stored["metrics"]]  # nothing else is cached
    # another run of the same seed (another identity): base and input numbers come from the entry, unchanged
    mtime = entries[0].stat().st_mtime_ns
    second = execute(compose_run("mt", "dehaze", scale="smoke", seed=7, runs_dir=str(tmp_path),
                                 overrides=overrides + ["pl.iters=3"]))
    assert second["config_hash"] != first["config_hash"] and entries[0].stat().st_mtime_ns == mtime
    assert _shared(second["metrics"]) == _shared(first["metrics"])
    keys = [[k for k in s["metrics"] if not k.startswith("trajectory/")] for s in (first, second)]
    assert keys[1] == keys[0]  # the summary's key order is unchanged (trajectory steps follow pl.iters)
    assert second["metrics"]["delta/student-base/target_psnr"] == \
        second["metrics"]["student/target_psnr"] - second["metrics"]["base/target_psnr"]
    # without the entry the same numbers are computed again (the cache returns what the computation returns)
    entries[0].unlink()
    third = execute(compose_run("mt", "dehaze", scale="smoke", seed=7, runs_dir=str(tmp_path),
                                overrides=overrides + ["pl.iters=4"]))
    assert _shared(third["metrics"]) == _shared(first["metrics"]) and entries[0].is_file()


def test_the_key_changes_with_pixels_metrics_and_model(tmp_path):
    import numpy as np

    from qtbench.eval.base_eval_cache import digest

    model = tmp_path / "m.pt"
    model.write_bytes(b"weights")
    im = np.zeros((4, 4, 3), np.uint8)
    k = digest(model, [im], ["piqe"], "cpu")
    assert digest(model, [im], ["piqe"], "cpu") == k
    im2 = im.copy()
    im2[0, 0, 0] = 1
    assert digest(model, [im2], ["piqe"], "cpu") != k
    assert digest(model, [im], ["piqe", "brisque"], "cpu") != k and digest(model, [im], ["piqe"], "cuda") != k
    model.write_bytes(b"other weights")
    assert digest(model, [im], ["piqe"], "cpu") != k
