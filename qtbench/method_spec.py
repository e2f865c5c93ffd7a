"""The method grammar: ``FRAMEWORK[+ADDON...][-ADDON...]``.

Examples: ``mt``, ``mt+qualiteacher`` (a bundle expanding to its parts), ``mt+qualiteacher-crop``
(the bundle without one part). Add-ons declare ``requires`` and ``conflicts`` in their registry entry
(``@addons.register(..., requires=("qcond",), conflicts=(...))``); a bundle declares ``bundle=(...)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qtbench import registry
from qtbench.errors import UserError

_TOKEN = re.compile(r"([+-])")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class MethodSpec:
    """A parsed method string.

    Args:
        text: the string as given.
        framework: canonical framework name.
        addons: canonical add-on names, bundles expanded, in the order they were added.
    """

    text: str
    framework: str
    addons: tuple[str, ...]


def _expand(name: str, text: str) -> list[str]:
    entry = registry.addons.get(name)
    parts = entry.meta.get("bundle")
    if parts is None:
        return [entry.name]
    out: list[str] = []
    for part in parts:
        out.extend(_expand(part, text))
    return out


def parse_method(text: str) -> MethodSpec:
    """Parse and check a method string.

    Raises:
        UserError: malformed string, unknown framework/add-on, removing an absent add-on, a missing
            requirement or a conflict.
    """
    pieces = [p for p in _TOKEN.split(text.strip())]
    head, rest = pieces[0], pieces[1:]
    form = "expected FRAMEWORK[+ADDON...][-ADDON...], e.g. mt+qualiteacher-crop"
    if not _NAME.match(head):
        raise UserError(f"malformed method {text!r}: {form}")
    framework = registry.frameworks.get(head).name
    addons: list[str] = []
    for sign, name in zip(rest[0::2], rest[1::2]):
        if not _NAME.match(name):
            raise UserError(f"malformed method {text!r}: {sign!r} must be followed by an add-on name; {form}")
        names = _expand(name, text)
        if sign == "+":
            addons.extend(n for n in names if n not in addons)
        else:
            missing = [n for n in names if n not in addons]
            if missing:
                raise UserError(f"method {text!r}: cannot remove {', '.join(missing)}: not added before the '-'")
            addons = [n for n in addons if n not in names]
    for name in addons:
        entry = registry.addons.get(name)
        for req in entry.meta.get("requires", ()):
            if req not in addons:
                raise UserError(f"method {text!r}: add-on {name!r} requires {req!r}; add '+{req}' or drop '{name}'")
        for con in entry.meta.get("conflicts", ()):
            if con in addons:
                raise UserError(f"method {text!r}: add-ons {name!r} and {con!r} conflict; keep only one")
        allowed = entry.meta.get("frameworks")
        if allowed and framework not in allowed:
            raise UserError(
                f"method {text!r}: add-on {name!r} does not apply to framework {framework!r} "
                f"(only {', '.join(allowed)})"
            )
    return MethodSpec(text=text.strip(), framework=framework, addons=tuple(addons))
