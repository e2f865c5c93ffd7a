"""Dummy add-ons for grammar and config tests (registered on import)."""

from dataclasses import dataclass

from qtbench.engine.plugin_api import AddOn
from qtbench.registry import addons


@dataclass
class DummyAConfig:
    strength: float = 1.0


if "dummy_a" not in addons:
    addons.register("dummy_a", "test add-on A", config=DummyAConfig)(type("DummyA", (AddOn,), {}))
    addons.register("dummy_b", "test add-on B, needs A", requires=("dummy_a",))(type("DummyB", (AddOn,), {}))
    addons.register("dummy_c", "test add-on C, conflicts with B", conflicts=("dummy_b",))(type("DummyC", (AddOn,), {}))
    addons.register("dummy_bundle", "bundle of A and B", bundle=("dummy_a", "dummy_b"))(None)
