"""Registry: registration, aliases, close-match errors, entry-point discovery, `qtbench ls`."""

import pytest

from qtbench import registry
from qtbench.errors import UserError
from qtbench.registry import Registry

from conftest import run_cli


def test_register_alias_and_lookup():
    reg = Registry("widgets", "qtbench.tests.nonexistent", "widget")

    @reg.register("alpha", "first widget", aliases=("a1",), source="test")
    class Alpha:
        pass

    assert reg.get("alpha").obj is Alpha
    assert reg.get("a1").name == "alpha"
    assert "a1" in reg and "beta" not in reg
    assert reg.names() == ["alpha"]


def test_unknown_name_lists_close_matches():
    reg = Registry("widgets", "qtbench.tests.nonexistent", "widget")
    reg.register("colabator", "x")(object())
    with pytest.raises(UserError, match="did you mean colabator"):
        reg.get("colabatr")


def test_duplicate_name_for_other_object_is_refused():
    reg = Registry("widgets", "qtbench.tests.nonexistent", "widget")
    reg.register("a", "x")(int)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", "y")(str)


def test_own_plugins_come_through_entry_points():
    # methods/ is not imported by qtbench itself: only the entry points bring these in
    assert {"mt", "srconly", "oracle"} <= set(registry.frameworks.names())
    assert "dehaze" in registry.tasks and "haze" in registry.tasks
    assert "unet" in registry.backbones
    assert registry.frameworks.get("oracle").obj.uses_target_labels


@pytest.mark.slow
def test_ls_cli_lists_frameworks_with_descriptions():
    out = run_cli("ls", "frameworks")
    assert out.returncode == 0, out.stderr
    for name in ("mt", "srconly", "oracle"):
        assert f"  {name}" in out.stdout
    assert "source:" in out.stdout


def test_ls_unknown_kind_is_a_one_line_error():
    out = run_cli("ls", "gizmos")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "unknown kind" in out.stderr


def test_addon_phases_order_the_hooks_and_unknown_phases_are_refused_at_registration():
    from qtbench.engine.plugin_api import AddOn, Framework, in_phase_order, selects_before

    ordered = [registry.addons.get(n).obj.phase for n in ("maug", "gate", "bank", "pref", "crop", "qcond")]
    assert ordered == ["views", "gate", "memory", "preference", "consistency", "levels"]
    a, b, c = (type(n, (AddOn,), {"phase": p})(None, None) for n, p in (("A", "levels"), ("B", "gate"),
                                                                       ("C", "levels")))
    assert in_phase_order([a, b, c]) == [b, a, c]  # by phase; method order within one
    filt = registry.frameworks.get("filter").obj
    assert selects_before(filt, a) and not selects_before(filt, b)  # filter selects after gate, before bank
    assert selects_before(Framework, b)  # the default: before every add-on
    with pytest.raises(ValueError, match="phase 'late' is not one of views, gate"):
        registry.addons.register("bad_phase", "x")(type("Bad", (AddOn,), {"phase": "late"}))
    assert "bad_phase" not in registry.addons
