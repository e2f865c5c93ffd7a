"""One way in from a run config to the method it names (in the spirit of timm's ``create_model``).

The runner, the step bench and anything else that trains builds its framework and add-ons here, so the method
string is parsed in one place and add-ons always come out in the same (phase) order.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from qtbench import registry
from qtbench.engine.plugin_api import AddOn, Framework, in_phase_order
from qtbench.method_spec import MethodSpec, parse_method


@dataclass
class Method:
    """The plugins of one run.

    Args:
        spec: the parsed method string.
        framework: the framework plugin, built from ``cfg.framework``.
        by_name: the add-on plugins by canonical name, built from ``cfg.addons.<name>``, in method order.
    """

    spec: MethodSpec
    framework: Framework
    by_name: dict[str, AddOn]

    @property
    def addons(self) -> list[AddOn]:
        """The add-ons in the order their hooks run (phase order)."""
        return in_phase_order(list(self.by_name.values()))

    @property
    def needs_iqa(self) -> bool:
        """True when the framework or an add-on scores pseudo-labels with the IQA ensemble."""
        return self.framework.needs_iqa or any(a.needs_iqa for a in self.addons)

    @property
    def oracle(self) -> bool:
        """True for the ``oracle`` control (it reads clean target images; flagged everywhere)."""
        return bool(self.framework.uses_target_labels)


def create_method(cfg: DictConfig) -> Method:
    """Build the framework and add-ons named by ``cfg.method`` with their options from ``cfg``.

    Raises:
        UserError: the method string is malformed or names unknown plugins.
    """
    spec = parse_method(cfg.method)
    framework = registry.frameworks.get(spec.framework).obj(cfg.framework)
    return Method(spec, framework, {a: registry.addons.get(a).obj(cfg, cfg.addons[a]) for a in spec.addons})
