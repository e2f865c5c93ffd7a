"""User-given names that become file or folder names (sweeps, studies, tables, plots) must be plain names.

A plain name is letters, digits and ``. _ + -``, starts with a letter or digit, has no ``..`` and at most
:data:`MAX_LEN` characters: it cannot climb out of, or point outside, the folder it is placed in.
"""

from __future__ import annotations

import re

from qtbench.errors import UserError

MAX_LEN = 120
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+\-]*")


def is_plain(name: str) -> bool:
    """True when ``name`` is a plain name (see the module docstring)."""
    return isinstance(name, str) and len(name) <= MAX_LEN and bool(_PLAIN.fullmatch(name)) and ".." not in name


def plain_name(name: str, what: str) -> str:
    """``name`` if it is plain; otherwise a UserError naming ``what`` (e.g. ``sweep name``) and the rule."""
    if not is_plain(name):
        raise UserError(f"{what} {name!r} is not a plain name: use letters, digits and . _ + - (starting with a "
                        f"letter or digit, no '..', at most {MAX_LEN} characters); it becomes a folder/file name")
    return name
