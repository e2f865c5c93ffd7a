"""Member roles declared by the presets (docs/iqa.md) and the plugins that ask for a member by role."""

import pytest
import torch
from omegaconf import OmegaConf

from qtbench_methods.gate import DualDropGate
from qtbench_methods.pl_common import resolve_members
from qtbench.config.compose import compose_run
from qtbench.engine.plugin_api import AddOnContext
from qtbench.errors import UserError
from qtbench.iqa.presets import DEGRADATION, PRESETS, QUALITY, ROLES, STATISTICS, role_member

# the paper's weight of each role: s = 0.4 m + 0.2 c + 0.4 b (docs/method.md §3.2)
ROLE_WEIGHT = {QUALITY: 0.4, DEGRADATION: 0.2, STATISTICS: 0.4}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_casts_each_role_once_at_the_papers_weight(preset):
    assert set(ROLES[preset]) == set(ROLE_WEIGHT)
    weights = {m.name: m.weight for m in PRESETS[preset]}
    cast = [role_member(preset, r) for r in ROLE_WEIGHT]
    assert sorted(cast) == sorted(weights)  # each member plays exactly one role
    assert {r: weights[role_member(preset, r)] for r in ROLE_WEIGHT} == ROLE_WEIGHT


def test_the_roles_the_plugins_used_before_are_kept():
    assert [role_member("paper", r) for r in (QUALITY, DEGRADATION)] == ["musiq", "clipiqa"]
    assert [role_member("offline", r) for r in (QUALITY, DEGRADATION)] == ["piqe", "degprob"]
    assert role_member("classic", QUALITY) == "niqe"  # what the gate took before (the first member)


def test_a_custom_ensemble_declares_no_role_and_roles_are_checked():
    assert role_member("custom", QUALITY) is None
    with pytest.raises(KeyError, match="unknown IQA role"):
        role_member("paper", "musiq")


def _cfg(preset, members=()):
    return OmegaConf.create({"iqa": {"preset": preset, "members": [{"name": n} for n in members]}})


def test_frameworks_take_the_presets_role_members():
    assert resolve_members(_cfg("offline"), None, (QUALITY, DEGRADATION), "colabator") == ["piqe", "degprob"]
    assert resolve_members(_cfg("paper"), None, (QUALITY,), "semiuir") == ["musiq"]
    # the classic preset had no entry in the plugins' own tables (a KeyError); it declares its roles now
    assert resolve_members(_cfg("classic"), None, (QUALITY, DEGRADATION), "colabator") == ["niqe", "degprob"]


def test_custom_members_still_need_framework_members():
    cfg = _cfg("offline", ["piqe", "entropy"])
    with pytest.raises(UserError, match=r"framework.members=\[NAME\]"):
        resolve_members(cfg, None, (QUALITY,), "semiuir")
    assert resolve_members(cfg, ["entropy"], (QUALITY,), "semiuir") == ["entropy"]
    with pytest.raises(UserError, match="not in the ensemble"):
        resolve_members(cfg, ["musiq"], (QUALITY,), "semiuir")


@pytest.mark.parametrize("preset, names, aug", [
    ("classic", ["niqe", "degprob", "brisque"], "niqe"),
    ("offline", ["niqe_fit", "piqe", "degprob"], "piqe"),
    ("custom", ["entropy", "piqe"], "entropy"),  # no roles: the first member, as before
])
def test_gate_takes_the_quality_role_for_drop_2(preset, names, aug):
    cfg = compose_run("mt+maug+gate", "dehaze", scale="smoke")
    g = DualDropGate(cfg, cfg.addons.gate)
    g.setup(AddOnContext(type("E", (), {"preset": preset})(), total_iters=10, device=torch.device("cpu")))
    g._resolve_members(names)
    assert g.aug == aug
