"""Config schema of the IQA ensemble (the run config's ``iqa`` section) and its compose-time checks.

Torch-free on purpose: :mod:`qtbench.config.schema` imports it, and ``qtbench config`` should not pay for
torch. Every constant of docs/method.md §3 is a field here with its source; the ``scale/*.yaml`` profiles
override the ones that depend on image size (defaults are the ``cpu`` scale, like the rest of the schema).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from qtbench.errors import UserError
from qtbench.iqa.member_config import MemberConfig
from qtbench.iqa.presets import PRESETS

AUTO = "auto"
CUSTOM = "custom"  # what Ensemble.preset says when iqa.members overrides the preset
# auto -> preset per scale: the paper's members need weight files that are not on a CPU laptop (docs/install.md §3.5)
AUTO_PRESET = {"smoke": "offline", "cpu": "offline", "paper": "paper"}


@dataclass
class NIQEFitConfig:
    """NIQE with a pristine model fitted on the run's clean *source* photos (member ``niqe_fit``)."""

    # source: NIQE (Mittal et al. 2013) uses 96x96 patches (pyiqa niqe block 96; paper.yaml sets 96).
    # cpu: 32 so that a 64-px candidate holds 2x2 patches and a 32-px mask tile one patch.
    patch: int = 32
    # source: NIQE's pristine-model training keeps patches with sharpness > 0.75 x the image's sharpest patch
    sharpness: float = 0.75
    # calibration of lo/hi (quantiles of NIQE on clean + degraded source crops of the candidates' size)
    calib_crop: int = 64  # source: pl.crop of the cpu scale (docs/feasibility.md); paper.yaml: 288
    calib_crops: int = 32  # qtbench choice: co-located crop pairs (clean, degraded) scored for the quantiles
    calib_q: float = 0.05  # qtbench choice: lo/hi = the 5 % / 95 % quantiles (robust to NIQE's heavy tail)
    # qtbench choice, not in the paper (default off = the official reward, where only MUSIQ and DA-CLIP carry
    # gradients): let rewards back-propagate through NIQE (interpolated AGGD shape) as a low-level counterweight
    # to the semantic member (BENCHMARKS.md, reward hacking of pref)
    differentiable: bool = False


@dataclass
class NIQEConfig:
    """Options of the ``niqe`` member (pyiqa's NIQE with the original pristine model; the ``classic`` preset)."""

    # qtbench choice, mirrors iqa.niqe_fit.differentiable: off = NIQE enters rewards as a constant; on = a reward
    # (grad enabled) takes the interpolated AGGD shape (niqe_features.soft_lookup), scores stay exact
    differentiable: bool = False


@dataclass
class DegProbConfig:
    """Small CNN trained on the task's data to predict P(degraded) (member ``degprob``).

    The offline counterpart of DA-CLIP's ``1 - P(hazy)`` (docs/method.md §3.1); no official constants exist, so
    every value here is a qtbench choice sized to train in under a minute on 2 CPU cores.
    """

    width: int = 16  # channels of the first conv (then 2x, 2x): ~14k parameters
    iters: int = 300  # qtbench choice: cpu scale, ~10-30 s on 2 cores; smoke.yaml 20, paper.yaml 2000
    batch: int = 16  # crops per class per iteration
    crop: int = 64  # source: pl.crop of the cpu scale (the candidates' size); paper.yaml: 96
    lr: float = 1e-3  # Adam, qtbench choice
    target_frac: float = 0.5  # share of positives taken from degraded *target* inputs (rest: degraded source)


@dataclass
class AgreementConfig:
    """How far the reward agrees with true fidelity, and how that agreement is measured (docs/agreement.md).

    Every field at its default leaves the run what it was (left out of the run identity, compose.py).

    Args:
        alpha: mixing weight of the oracle ``fidelity`` score: every member's normalised score ``n`` becomes
            ``(1 - alpha) n + alpha f``, so the combined score is ``(1 - alpha) s + alpha W f`` (W = sum of the
            weights, 1 for every preset): 0 = the preset, 1 = the oracle alone (frameworks' own scorers, gate,
            levels, bank and rewards all follow it). In [0, 1].
        sigma: standard deviation of seeded Gaussian noise added to the oracle score ``f``, fixed per image
            crop, window and view (not per step). >= 0; needs ``alpha > 0`` or a ``fidelity`` member.
        lo, hi: PSNR range (dB) mapped to [0, 1] by the oracle score of the mixing.
        every: measure agreement (Spearman of each member, the ensemble and the oracle against the PSNR of
            the scored candidates to their clean crops) on every ``every``-th PL step; 0 = off. Needs clean
            target images (synthetic targets); skipped on own unlabelled data.
    """

    alpha: float = 0.0
    sigma: float = 0.0
    lo: float = 10.0  # qtbench choice (docs/agreement.md): cpu-scale inputs ~12 dB, outputs 18-30 dB
    hi: float = 40.0
    every: int = 10  # qtbench choice: 50 of 500 cpu-scale steps, a few hundred candidates


@dataclass
class IQAConfig:
    """The ``iqa`` section of a run (docs/method.md §3).

    Args:
        preset: ``auto`` (``offline`` at smoke/cpu scale, ``paper`` at paper scale; resolved at compose time),
            ``paper`` (MUSIQ + CLIP-IQA + BRISQUE, needs weight files), ``offline`` (niqe_fit + piqe + degprob) or
            ``classic`` (NIQE + degprob + BRISQUE with published models from the package index).
        members: non-empty = a custom member set that replaces the preset.
        block_size: tile size of the block-wise trust mask, px (docs/method.md §3.3).
        fallback: normalised score of an image/tile a member cannot score (docs/method.md §3.3).
        niqe_fit: options of the ``niqe_fit`` member.
        degprob: options of the ``degprob`` member.
        agreement: oracle mixing and noise knobs, and the agreement measurement (docs/agreement.md).
        niqe: options of the ``niqe`` member (left out of run identities at its default).
    """

    preset: str = AUTO
    members: list[MemberConfig] = field(default_factory=list)
    # source: Colabator block_size 32 (docs/method.md §3.3); at the cpu crop of 64 px this is the official 2x2 grid
    # (QualiTeacher: 144 at 288 px, paper.yaml)
    block_size: int = 32
    # normalised score used when a member cannot score an image or tile (NaN/inf, e.g. NIQE of a flat tile)
    # source: docs/method.md §3.3 / §19 (official: a BRISQUE tile whose call fails gets 0.5)
    fallback: float = 0.5
    niqe_fit: NIQEFitConfig = field(default_factory=NIQEFitConfig)
    degprob: DegProbConfig = field(default_factory=DegProbConfig)
    agreement: AgreementConfig = field(default_factory=AgreementConfig)
    niqe: NIQEConfig = field(default_factory=NIQEConfig)


def resolve_preset(preset: str, scale: str) -> str:
    """``auto`` -> the preset of ``scale``; other names pass through (checked by :func:`validate_iqa`)."""
    if preset != AUTO:
        return preset
    if scale not in AUTO_PRESET:
        raise UserError(f"iqa.preset=auto has no preset for scale {scale!r}; set iqa.preset explicitly")
    return AUTO_PRESET[scale]


def check_member_names(names: list[str]) -> None:
    """Every name is a registered member or a pyiqa NR metric, else a :class:`UserError` with close matches."""
    from qtbench import registry

    unknown = [n for n in names if n not in registry.iqa]
    if not unknown:
        return
    from qtbench.iqa import pyiqa_adapter  # only for names qtbench does not register: reads pyiqa (~2 s)

    known = registry.iqa.names() + pyiqa_adapter.nr_names()
    for name in unknown:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UserError(f"unknown IQA member {name!r}{hint} (qtbench members: {', '.join(registry.iqa.names())}, "
                            "or any pyiqa NR metric: pyiqa.list_models(metric_mode='NR'))")


def check_members(members: list[Any], where: str) -> None:
    """Weights >= 0 (not all 0), unique names, valid ranges, known names."""
    names = [m.name for m in members]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UserError(f"{where}: member(s) {', '.join(dup)} listed twice; each member may appear once")
    for m in members:
        if m.weight < 0:
            raise UserError(f"{where}: member {m.name!r} has weight {m.weight}; weights must be >= 0")
        if m.lo is not None and m.hi is not None and not m.hi > m.lo:
            raise UserError(f"{where}: member {m.name!r} needs hi > lo (got lo={m.lo}, hi={m.hi})")
    if members and sum(m.weight for m in members) <= 0:
        raise UserError(f"{where}: all member weights are 0; at least one must be positive")
    check_member_names(names)


def validate_iqa(cfg: Any) -> None:
    """Compose-time checks of ``cfg.iqa`` (called from :func:`qtbench.config.compose.validate`).

    Raises:
        UserError: unknown preset or member, negative weight, bad range, bad sizes.
    """
    iqa = cfg.iqa
    if iqa.preset != AUTO and iqa.preset not in PRESETS:
        raise UserError(f"unknown iqa.preset {iqa.preset!r}; choose auto or one of {', '.join(sorted(PRESETS))}")
    if iqa.block_size < 4:
        raise UserError(f"iqa.block_size={iqa.block_size} must be >= 4 px")
    nf, dp = iqa.niqe_fit, iqa.degprob
    if nf.patch < 8 or nf.patch % 2:
        raise UserError(f"iqa.niqe_fit.patch={nf.patch} must be even and >= 8 (NIQE halves it for its 2nd scale)")
    if not 0.0 <= nf.sharpness <= 1.0:
        raise UserError(f"iqa.niqe_fit.sharpness={nf.sharpness} must be in [0, 1]")
    if nf.calib_crop < nf.patch or nf.calib_crops < 1:
        raise UserError("iqa.niqe_fit.calib_crop must be >= iqa.niqe_fit.patch and calib_crops >= 1")
    if not 0.0 <= nf.calib_q < 0.5:
        raise UserError(f"iqa.niqe_fit.calib_q={nf.calib_q} must be in [0, 0.5)")
    if dp.iters < 1 or dp.batch < 1 or dp.crop < 8 or dp.width < 1 or dp.lr <= 0:
        raise UserError("iqa.degprob: iters, batch, width >= 1, crop >= 8 and lr > 0 are required")
    if not 0.0 <= dp.target_frac <= 1.0:
        raise UserError(f"iqa.degprob.target_frac={dp.target_frac} must be in [0, 1]")
    if len(iqa.members):
        check_members(list(iqa.members), "iqa.members")
    validate_agreement(cfg)


def uses_fidelity(cfg: Any) -> bool:
    """The run's reward reads hidden clean targets: ``iqa.agreement.alpha > 0`` or a ``fidelity`` member."""
    iqa = cfg.iqa
    if len(iqa.members):
        names = [m.name for m in iqa.members]
    else:
        preset = resolve_preset(iqa.preset, cfg.scale) if iqa.preset != AUTO or cfg.scale in AUTO_PRESET else ""
        names = [m.name for m in PRESETS.get(preset, [])]
    return reads_hidden_targets(iqa.agreement.alpha, names)


def reads_hidden_targets(alpha: Any, member_names: Any) -> bool:
    """The one rule that makes a reward an oracle: the ``fidelity`` score is mixed in (``alpha > 0``) or is a
    member. Runs apply it to their resolved config (:func:`uses_fidelity`); tables to a pending cell's labels."""
    return float(alpha or 0.0) > 0 or "fidelity" in member_names


def validate_agreement(cfg: Any) -> None:
    """Compose-time checks of ``iqa.agreement`` and of the oracle member (one-line UserError)."""
    a = cfg.iqa.agreement
    if not 0.0 <= a.alpha <= 1.0:
        raise UserError(f"iqa.agreement.alpha={a.alpha} must be in [0, 1] (0 = the preset, 1 = the oracle)")
    if a.sigma < 0:
        raise UserError(f"iqa.agreement.sigma={a.sigma} is a standard deviation: use >= 0")
    if not a.hi > a.lo:
        raise UserError(f"iqa.agreement needs hi > lo (got lo={a.lo}, hi={a.hi} dB)")
    if a.every < 0:
        raise UserError(f"iqa.agreement.every={a.every}: use 0 (off) or a step interval >= 1")
    oracle = uses_fidelity(cfg)
    if a.sigma > 0 and not oracle:
        raise UserError(f"iqa.agreement.sigma={a.sigma} adds noise to the oracle score, but the run has none: "
                        "set iqa.agreement.alpha > 0 (or add a fidelity member)")
    if oracle and cfg.task.data.get("unlabelled"):
        raise UserError("the fidelity (oracle) reward needs the synthetic target's clean images; "
                        "task.data.unlabelled=DIR has none: drop iqa.agreement.alpha / the fidelity member")
    if a.sigma > 0 and cfg.pl.target_crops != "grid":
        raise UserError("iqa.agreement.sigma > 0 keys its fixed noise by grid crop: set pl.target_crops=grid")
