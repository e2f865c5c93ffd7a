"""The one pyiqa adapter: metadata, offline-safe construction, the scoring policy, and lazy pyiqa."""

import subprocess
import sys

import pytest
import torch

from qtbench.errors import UserError
from qtbench.iqa import pyiqa_adapter


def test_metadata_of_nr_metrics():
    piqe = pyiqa_adapter.info("piqe")
    assert (piqe.bounds(), piqe.lower_better, piqe.differentiable, piqe.batched) == ((0.0, 100.0), True, False, True)
    assert pyiqa_adapter.info("niqe").bounds() == (0.0, 100.0)  # "~0, ~100": approximate marks dropped
    assert pyiqa_adapter.info("musiq").differentiable and not pyiqa_adapter.info("musiq").lower_better
    names = pyiqa_adapter.nr_names()
    assert {"piqe", "brisque", "niqe", "musiq"} <= set(names) and "psnr" not in names


def test_unknown_and_full_reference_names_are_one_line_user_errors():
    with pytest.raises(UserError, match="unknown IQA member 'piqee'; did you mean piqe"):
        pyiqa_adapter.info("piqee", what="IQA member")
    with pytest.raises(UserError, match="list_models"):
        pyiqa_adapter.info("zzzzzz")
    with pytest.raises(UserError, match="full-reference"):
        pyiqa_adapter.info("ssim")


def test_offline_creation_checks_weights_before_building(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    import pyiqa

    built = []
    monkeypatch.setattr(pyiqa, "create_metric", lambda *a, **k: built.append(a))
    with pytest.raises(UserError, match="musiq_koniq_ckpt.*qtbench weights fetch --preset paper"):
        pyiqa_adapter.create("musiq")
    assert built == []  # failed on the file check, nothing constructed


def test_scoring_turns_tf32_off_and_restores_the_flags():
    cudnn = torch.backends.cudnn
    saved = cudnn.allow_tf32, cudnn.benchmark
    try:
        cudnn.allow_tf32, cudnn.benchmark = True, True
        with pyiqa_adapter.scoring():
            assert (cudnn.allow_tf32, cudnn.benchmark) == (False, True)
        assert (cudnn.allow_tf32, cudnn.benchmark) == (True, True)
    finally:
        cudnn.allow_tf32, cudnn.benchmark = saved


def test_composing_a_config_does_not_import_pyiqa():
    code = ("import sys; import qtbench.iqa.pyiqa_adapter, qtbench.iqa.config, qtbench.config.compose; "
            "sys.exit('pyiqa' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
