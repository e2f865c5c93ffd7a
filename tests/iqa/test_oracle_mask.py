"""The oracle as a block-wise trust mask (docs/agreement.md §1): a weight, never negative.

Hand-computed: against an all-zero clean image a constant image ``c`` has MSE ``c^2``, so
PSNR = -20 log10(c) and the oracle score f = (PSNR - 10) / 30. At c = 10^-0.25 (PSNR 5 dB) f = -1/6: as a mask
weight that would turn the masked L1 into a push away from the label; the mask must be 0 there instead.
"""

import numpy as np
import torch
from iqa_fakes import Brightness

from qtbench.engine.plugin_api import Framework, PLBatch
from qtbench.iqa.ensemble import Ensemble
from qtbench.iqa.fidelity import Fidelity, Reference, noise_ids, oracle_member

# constant images and their hand-computed PSNR against black: 5 dB, 16 dB, 40 dB
LEVELS = torch.tensor([10 ** -0.25, 10 ** -0.8, 0.01])
F_EXPECTED = torch.tensor([0.0, 0.2, 1.0])  # max((PSNR - 10) / 30, 0) = max(-1/6, 0), 6/30, 30/30


def _images():
    x = LEVELS.view(3, 1, 1, 1).expand(3, 3, 16, 16).clone()
    clean = torch.zeros(3, 3, 16, 16)
    return x, Reference(clean, noise_ids(np.arange(3)))


def _oracle(alpha=1.0):
    return Ensemble({"b": Brightness()}, {"b": 1.0}, "fake", alpha=alpha, oracle=oracle_member(10.0, 40.0), seed=0)


def test_oracle_mask_is_the_score_floored_at_zero():
    x, ref = _images()
    mask = _oracle().block_mask(x, 16, ref=ref)  # one tile per image: a constant mask
    assert mask.shape == (3, 1, 16, 16)
    assert torch.allclose(mask.amin(dim=(1, 2, 3)), F_EXPECTED, atol=1e-4)
    assert torch.allclose(mask.amax(dim=(1, 2, 3)), F_EXPECTED, atol=1e-4)
    # the score itself stays unclipped (the reward's gradient): -1/6 for the 5 dB image
    assert abs(float(_oracle().score(x, ref=ref).combined[0]) + 1.0 / 6.0) < 1e-4


def test_mixed_oracle_mask_floors_only_the_oracle_part():
    x, ref = _images()
    b = x.mean(dim=(1, 2, 3))  # the fake Brightness member scores an image by its mean
    mask = _oracle(alpha=0.5).block_mask(x, 16, ref=ref)
    assert torch.allclose(mask[:, 0, 0, 0], 0.5 * b + 0.5 * F_EXPECTED, atol=1e-4)


def test_a_fidelity_member_mask_is_floored_too():
    x, ref = _images()
    ens = Ensemble({"fidelity": Fidelity()}, {"fidelity": 1.0}, "custom")
    assert torch.allclose(ens.block_mask(x, 16, ref=ref)[:, 0, 0, 0], F_EXPECTED, atol=1e-4)


def test_masked_pl_loss_never_pushes_away_from_a_label():
    """With the oracle mask, the gradient of the PL L1 on the 5 dB label is 0, never of the sign of (label - pred)."""
    x, ref = _images()
    mask = _oracle().block_mask(x, 16, ref=ref)
    pred = torch.full((3, 3, 16, 16), 0.5, requires_grad=True)
    pl = PLBatch(x.unsqueeze(1), x, torch.ones(3), mask=mask)
    Framework(None).target_loss(pred, pl).backward()
    g = pred.grad
    assert torch.all(g[0] == 0)  # the 5 dB label: no trust, no push (was +-1/6 / numel, away from it)
    assert torch.all(g[1:] * (pred - x)[1:].detach() >= 0)  # elsewhere: toward the label


def _check_script():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "oracle_pref_check.py"
    spec = importlib.util.spec_from_file_location("oracle_pref_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pipeline_check_skips_the_pushed_down_levels_and_catches_a_collapse():
    """The measured smoke runs (docs/agreement.md): before the mask floor level 0 collapsed to 2.03 dB."""
    levels = list(range(8))
    before = [2.03, 12.24, 13.36, 11.79, 2.02, 2.02, 2.02, 18.37]
    after = [13.86, 13.68, 13.85, 13.54, 2.04, 2.04, 2.04, 17.98]
    check = _check_script().level_checks
    c = check(levels, before, [4, 5, 6], 9.45)
    assert abs(c["margin"] - 5.01) < 1e-9 and c["kept"] == [0, 1, 2, 3, 7]
    assert c["lowest"] == 0 and not c["no_collapse"]
    c = check(levels, after, [4, 5, 6], 9.45)
    assert abs(c["margin"] - 4.12) < 1e-9 and c["lowest"] == 3 and c["no_collapse"]
    # ranks of (13.86, 13.68, 13.85, 13.54, 17.98) are (4, 2, 3, 1, 5): rho = 1 - 6 * 18 / (5 * 24) = 0.1
    assert abs(c["rho_kept"] - 0.1) < 1e-9
    # without pushed-down levels the official loser levels count: a collapse below the input
    assert not check(levels, after, [], 9.45)["no_collapse"]
