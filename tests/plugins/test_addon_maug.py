"""maug: every view is inverted back into the crop's frame (docs/method.md §6.1), extra views, batching."""

import pytest
import torch

from qtbench.config.compose import compose_run
from qtbench.engine.plugin_api import TargetBatch
from qtbench.errors import UserError
from qtbench_methods.maug import MultiAugmentation, inverse_view, parse_view

RAMP = (torch.arange(16.0) / 100).view(1, 1, 1, 16)  # depends on the column: not flip/rotation equivariant


class RampTeacher(torch.nn.Module):
    calls: list

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, level=None):
        self.calls.append(tuple(x.shape))
        return x * 0.5 + RAMP[..., : x.shape[-1]]


def _maug(views):
    cfg = compose_run("mt+maug", "dehaze", scale="smoke", overrides=[f"addons.maug.views=[{','.join(views)}]"])
    return MultiAugmentation(cfg, cfg.addons.maug)


def test_geometric_views_inverted_back():
    x = torch.rand(2, 3, 6, 6) * 0.5
    teacher = RampTeacher()
    c = _maug(["identity", "hflip", "vflip", "rot90", "rot180", "rot270"]).on_candidates(
        teacher, TargetBatch(torch.zeros(2), x, x), x[:, None])
    assert c.shape == (2, 6, 3, 6, 6)
    half = x * 0.5
    ramp = RAMP[..., :6].expand(1, 1, 6, 6)
    assert torch.allclose(c[:, 0], half + ramp)
    assert torch.allclose(c[:, 1], half + ramp.flip(-1))  # g^-1(T(g x)) = x/2 + g^-1(ramp)
    assert torch.allclose(c[:, 2], half + ramp)  # the ramp is constant along columns: vflip leaves it
    assert torch.allclose(c[:, 3], half + torch.rot90(ramp, -1, dims=(-2, -1)))
    assert torch.allclose(c[:, 4], half + torch.rot90(ramp, 2, dims=(-2, -1)))
    assert torch.allclose(c[:, 5], half + torch.rot90(ramp, 1, dims=(-2, -1)))
    assert teacher.calls == [(12, 3, 6, 6)]  # all same-size views in one teacher call


def test_pointwise_teacher_gives_identical_geometric_candidates():
    x = torch.rand(1, 3, 8, 8)
    c = _maug(["hflip", "vflip", "rot90"]).on_candidates(lambda t, level=None: t * 0.5,
                                                         TargetBatch(torch.zeros(1), x, x), x[:, None])
    for k in range(3):
        assert torch.equal(c[:, k], x * 0.5)


def test_scale_and_photometric_views():
    x = torch.rand(1, 3, 8, 8)
    teacher = RampTeacher()
    c = _maug(["scale:0.5", "gamma:2", "contrast:1.5"]).on_candidates(teacher, TargetBatch(torch.zeros(1), x, x),
                                                                      x[:, None])
    assert c.shape == (1, 3, 3, 8, 8)
    assert sorted(teacher.calls) == [(1, 3, 4, 4), (2, 3, 8, 8)]
    ramp = RAMP[..., :8]
    # photometric views are not inverted: the candidate restores the altered input
    assert torch.allclose(c[:, 1], (x.clamp_min(1e-6) ** 2 * 0.5 + ramp).clamp(0, 1))
    mean = x.mean()
    assert torch.allclose(c[:, 2], (((x - mean) * 1.5 + mean).clamp(0, 1) * 0.5 + ramp).clamp(0, 1))
    assert inverse_view(parse_view("scale:0.5"), torch.zeros(1, 3, 4, 4), (8, 8)).shape == (1, 3, 8, 8)


@pytest.mark.parametrize("bad", ["foo", "scale:2", "gamma:0", "gamma", "hflip:1"])
def test_bad_views_fail_at_compose_time(bad):
    with pytest.raises(UserError, match="maug view"):
        compose_run("mt+maug", "dehaze", scale="smoke", overrides=[f"addons.maug.views=[{bad}]"])


def test_maug_replaces_the_framework_teacher_pass():
    """The engine skips the framework's single pass when maug makes the candidates (its output was unused)."""
    from qtbench import registry

    assert registry.addons.get("maug").obj.replaces_candidates
    others = [registry.addons.get(n).obj for n in registry.addons.names() if n != "maug"]
    assert not any(o.replaces_candidates for o in others if o is not None)  # None: bundles (qualiteacher)
