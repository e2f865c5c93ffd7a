"""Full-state checkpoints: round trip and atomic writes."""

import pytest
import numpy as np
import torch

from qtbench import atomic, registry
from qtbench.config.compose import compose_run
from qtbench.engine import checkpoint
from qtbench.engine.base_stage import get_base_model
from qtbench.engine.trainer import PLTrainer


def _trainer(cfg, data, base, run_dir):
    fw = registry.frameworks.get("mt").obj(cfg.framework)
    return PLTrainer(cfg, data.train, base, fw, [], run_dir, torch.device("cpu"), lambda m: {"student/target_psnr": 0.0},
                     lambda metrics, step: None, progress=False)


@pytest.mark.slow
def test_checkpoint_round_trip_continues_identically(tmp_path):
    cfg = compose_run("mt", "dehaze", scale="smoke", overrides=["pl.iters=6", "pl.checkpoint_every=3"])
    data = registry.tasks.get("dehaze").obj(cfg.task).build(cfg.seed, progress=False)
    base, _ = get_base_model(cfg, data.train, torch.device("cpu"), progress=False)
    a = _trainer(cfg, data, base, tmp_path / "a")
    for _ in range(3):
        a.train_step()
        a.step += 1
    checkpoint.save(tmp_path / "a", a.state_dict({"mlflow_run_id": "x"}))
    b = _trainer(cfg, data, base, tmp_path / "b")
    b.load_state_dict(checkpoint.load(tmp_path / "a"))
    assert b.step == 3
    for k, v in a.student.state_dict().items():
        assert torch.equal(v, b.student.state_dict()[k])
    assert a.np_rng.bit_generator.state == b.np_rng.bit_generator.state
    # the next step is bit-identical
    la, lb = a.train_step(), b.train_step()
    assert la == lb
    for k, v in a.teacher.state_dict().items():
        assert torch.equal(v, b.teacher.state_dict()[k])


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic.write_json(tmp_path / "x.json", {"a": 1})
    atomic.torch_save(tmp_path / "y.pt", {"t": torch.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json", "y.pt"]


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "c.json"
    atomic.write_json(target, {"v": 1})

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    try:
        atomic.write_json(target, {"v": Boom()})
    except RuntimeError:
        pass
    assert target.read_text().strip().endswith("}") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]
    assert np.isfinite(1.0)


def test_global_rng_state_round_trip_and_cuda_state_only_where_saved():
    """CUDA's RNG state travels with the checkpoint on GPU runs (an H100 resume differed without it);
    a CPU checkpoint has none, and restoring one must not touch CUDA."""
    state = checkpoint.global_rng_state()
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        assert "cuda" not in state
    expected = (torch.rand(3), np.random.rand(2))
    checkpoint.set_global_rng_state(state)
    again = (torch.rand(3), np.random.rand(2))
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    checkpoint.set_global_rng_state(dict(state, cuda=[torch.zeros(1, dtype=torch.uint8)] * 99))  # other GPUs: ignored
