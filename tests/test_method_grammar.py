"""The method grammar FRAMEWORK[+ADDON...][-ADDON...] with dummy add-ons."""

import pytest

import dummy_addons  # noqa: F401  (registers dummy_a, dummy_b, dummy_c, dummy_bundle)
from qtbench.errors import UserError
from qtbench.method_spec import parse_method


def test_plain_framework_and_alias():
    assert parse_method("mt").addons == ()
    assert parse_method("meanteacher").framework == "mt"


def test_add_and_bundle_expansion():
    spec = parse_method("mt+dummy_bundle")
    assert spec.framework == "mt" and spec.addons == ("dummy_a", "dummy_b")


def test_remove_part_of_bundle():
    assert parse_method("mt+dummy_bundle-dummy_b").addons == ("dummy_a",)


def test_duplicates_collapse():
    assert parse_method("mt+dummy_a+dummy_a").addons == ("dummy_a",)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "malformed"),
        ("mt+", "malformed"),
        ("mt++dummy_a", "malformed"),
        ("+dummy_a", "malformed"),
        ("MT", "malformed"),
        ("mtt", "unknown framework 'mtt'; did you mean mt"),
        ("mt+dummy_z", "unknown add-on 'dummy_z'"),
        ("mt+dummy_b", "requires 'dummy_a'"),
        ("mt+dummy_bundle-dummy_a", "requires 'dummy_a'"),
        ("mt+dummy_bundle+dummy_c", "conflict"),
        ("mt-dummy_a", "cannot remove dummy_a"),
    ],
)
def test_errors(text, message):
    with pytest.raises(UserError, match=message):
        parse_method(text)
