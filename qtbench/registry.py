"""Plugin registries: tasks, backbones, frameworks, add-ons and IQA members.

One :class:`Registry` class (in the spirit of timm's ``_registry.py``): decorator registration with
aliases and a one-line description, close-match errors, and discovery through entry points. qtbench's
own plugins (the ``methods/`` folder, installed as the package ``qtbench_methods``) register through the same
entry-point groups a third-party package uses::

    [project.entry-points."qtbench.frameworks"]
    mt = "qtbench_methods.mt"

Importing the module named by an entry point runs its ``@frameworks.register(...)`` decorators.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Iterator

from qtbench.errors import UserError


@dataclass(frozen=True)
class Entry:
    """One registered plugin.

    Args:
        name: canonical name (used in method strings and config groups).
        obj: the registered class or factory.
        description: one line shown by ``qtbench ls``.
        aliases: other accepted names.
        source: where the mechanism comes from (paper, repository), shown by ``qtbench ls``.
        config: dataclass schema of the plugin's options, or None.
        meta: free-form metadata (e.g. an add-on's ``requires``/``conflicts``).
    """

    name: str
    obj: Any
    description: str
    aliases: tuple[str, ...] = ()
    source: str = ""
    config: type | None = None
    meta: dict = field(default_factory=dict)


class Registry:
    """A named table of plugins of one kind.

    Args:
        kind: plural noun used in messages and by ``qtbench ls`` (e.g. ``"frameworks"``).
        group: entry-point group scanned on first lookup (e.g. ``"qtbench.frameworks"``).
        singular: noun for one entry, used in error messages (e.g. ``"framework"``).
    """

    def __init__(self, kind: str, group: str, singular: str,
                 check: Callable[[Entry], None] | None = None) -> None:
        self.kind = kind
        self._check = check  # plugin-author errors caught at registration (e.g. an add-on's phase)
        self.singular = singular
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._discovered = False
        self._broken: dict[str, str] = {}  # entry-point name -> import error

    def register(
        self,
        name: str,
        description: str,
        *,
        aliases: tuple[str, ...] = (),
        source: str = "",
        config: type | None = None,
        **meta: Any,
    ) -> Callable[[Any], Any]:
        """Decorator registering a class or factory under ``name``.

        Raises:
            ValueError: the name or an alias is taken by a different object.
        """

        def deco(obj: Any) -> Any:
            self.add(Entry(name, obj, description, tuple(aliases), source, config, dict(meta)))
            return obj

        return deco

    def add(self, entry: Entry) -> None:
        """Register an :class:`Entry` (re-registering the same object is a no-op).

        Raises:
            ValueError: a name is taken by a different object, or the registry's check refuses the entry.
        """
        if self._check is not None:
            self._check(entry)
        for key in (entry.name, *entry.aliases):
            owner = self._aliases.get(key)
            if owner is not None and self._entries[owner].obj is not entry.obj:
                raise ValueError(f"{self.kind}: name {key!r} is already registered by {owner!r}")
        self._entries[entry.name] = entry
        for key in (entry.name, *entry.aliases):
            self._aliases[key] = entry.name

    def discover(self) -> None:
        """Import every module named by this registry's entry points (once)."""
        if self._discovered:
            return
        self._discovered = True
        for ep in entry_points(group=self.group):
            try:
                ep.load()
            except Exception as exc:  # a broken plugin must not hide the others; reported when asked for
                self._broken[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"

    def get(self, name: str) -> Entry:
        """Look ``name`` (or an alias) up; unknown names raise a :class:`UserError` with close matches."""
        self.discover()
        canonical = self._aliases.get(name)
        if canonical is None and name in self._broken:
            raise UserError(
                f"{self.singular} {name!r} is installed but failed to import ({self._broken[name]}); "
                "fix or uninstall the package that provides it"
            )
        if canonical is None:
            close = difflib.get_close_matches(name, sorted(self._aliases), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(
                f"unknown {self.singular} {name!r}{hint} (known: {', '.join(self.names())}; "
                f"see `qtbench ls {self.kind}`)"
            )
        return self._entries[canonical]

    def __contains__(self, name: str) -> bool:
        self.discover()
        return name in self._aliases

    def names(self) -> list[str]:
        """Canonical names, sorted."""
        self.discover()
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        self.discover()
        return iter([self._entries[n] for n in sorted(self._entries)])


# The phases of a PL step's add-on hooks, in the order they run. An add-on class declares its ``phase``
# (qtbench.engine.plugin_api.AddOn); add-ons of one phase run in method order. A framework's ``select`` runs
# just before its ``select_before`` phase. Named phases, not numbers, so the reason for an order is in its name.
ADDON_PHASES = (
    "views",        # make teacher candidates from several views (maug)
    "gate",         # drop a crop's candidates on disagreement, before anything stores them (gate)
    "memory",       # keep labels across steps: only candidates that passed the gate (bank)
    "losses",       # add-ons that only add losses (the default)
    "preference",   # rank levels against each other and the teacher (pref)
    "consistency",  # reuses the preference loss's top-level output (crop)
    "levels",       # give each label finally trained on its quality level (qcond)
)


def phase_rank(phase: str) -> int:
    """Position of ``phase`` in :data:`ADDON_PHASES`."""
    return ADDON_PHASES.index(phase)


def _check_addon(entry: Entry) -> None:
    phase = getattr(entry.obj, "phase", None) if entry.obj is not None else None  # bundles have no class
    if entry.obj is not None and phase not in ADDON_PHASES:
        raise ValueError(f"add-on {entry.name!r}: phase {phase!r} is not one of {', '.join(ADDON_PHASES)}")


tasks = Registry("tasks", "qtbench.tasks", "task")
backbones = Registry("backbones", "qtbench.backbones", "backbone")
frameworks = Registry("frameworks", "qtbench.frameworks", "framework")
addons = Registry("addons", "qtbench.addons", "add-on", check=_check_addon)
iqa = Registry("iqa", "qtbench.iqa", "IQA member")

REGISTRIES: dict[str, Registry] = {r.kind: r for r in (tasks, backbones, frameworks, addons, iqa)}
