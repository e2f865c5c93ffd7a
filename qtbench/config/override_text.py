"""A Python/YAML value as Hydra override text, for sweep cells, launcher options and tuning trials."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import yaml

_PLAIN = re.compile(r"^[A-Za-z_][\w.\-]*$")
_UNSAFE = re.compile(r"[\s'\"]")


@lru_cache(maxsize=4096)
def _hydra_reads_back(s: str) -> bool:
    """True when Hydra's override parser reads ``key=<s>`` back as the string ``s`` (``gamma:0.7``: yes;
    ``0.5``, ``a,b``, ``it's``: no); strings with spaces or quotes are always quoted."""
    if _UNSAFE.search(s) or not s:
        return False
    from hydra.core.override_parser.overrides_parser import (
        OverridesParser,  # only for non-identifier strings
    )

    try:
        return OverridesParser.create().parse_override(f"k={s}").value() == s
    except Exception:  # noqa: BLE001 -- any parse error means "quote it"
        return False


def override_value(v: Any) -> str:
    """``v`` as the right-hand side of ``key=value`` that Hydra reads back as ``v``.

    ``true``/``false``/``null``, numbers as written (``1e-05``), lists ``[a,b]`` and mappings ``{k:v}``
    recursively; a string stays bare when it reads back as that same string (``best``, ``gamma:0.7``,
    ``mt+bank``), else it is quoted (``'a b'``, ``'true'``, ``'0.5'``) so that it stays a string.
    """
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{override_value(x)}" for k, x in v.items()) + "}"
    s = str(v)
    if _PLAIN.match(s) and yaml.safe_load(s) == s or _hydra_reads_back(s):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
