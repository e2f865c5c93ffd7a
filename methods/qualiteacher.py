"""The ``qualiteacher`` bundle (alias ``qt``): every QualiTeacher component on top of a framework.

``mt+qualiteacher`` = ``mt+qcond+maug+bank+gate+pref+crop``; ablations remove parts
(``mt+qualiteacher-pref``). Hooks run in the add-ons' declared order, not the bundle's.
"""

from __future__ import annotations

from qtbench.registry import addons

PARTS = ("qcond", "maug", "bank", "gate", "pref", "crop")

addons.register(
    "qualiteacher", "bundle: qcond + maug + bank + gate + pref + crop (the full method)",
    aliases=("qt",), source="docs/method.md §4-§9, §15", bundle=PARTS,
)(None)
