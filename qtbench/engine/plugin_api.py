"""What frameworks and add-ons implement, and the pseudo-label record they exchange (docs/architecture.md §4).

One PL-training step, and where plugins act:

1. ``Framework.candidates`` — the teacher's candidate PL(s) per unlabelled crop; add-ons may add views
   (``AddOn.on_candidates``);
2. ``AddOn.on_score`` — candidates scored (IQA ensemble; batched, one call per member per step);
3. ``Framework.select`` then ``AddOn.on_select`` — choose and weight the PL (MT: take all);
4. the student is run on the strong view, conditioned on ``PLBatch.level`` when an add-on sets it;
5. ``Framework.target_loss`` plus ``AddOn.extra_losses``;
6. optimiser step and EMA update (engine).

A PL batch has two sides. *Candidates* are per crop: ``candidates`` [B,K,...] with their scores.
*Labels* are what the student trains on: N labels, label ``n`` belonging to crop ``owner[n]``; with
``owner=None`` label ``n`` belongs to crop ``n`` (N = B: plain MT, one label per crop). A memory bank
(docs/method.md §7) makes N up to k x B, each label with its own level.

Add-ons run by named phase (:data:`qtbench.registry.ADDON_PHASES`: maug's views; gate, then bank, then
qcond's level assignment), so the method string's order does not change what a run computes.
``Framework.select`` runs among the add-ons' ``on_select`` just before ``Framework.select_before``. Add-ons and frameworks that declare
``needs_iqa`` get the IQA ensemble through ``setup``; the engine then scores every step's candidates once.
Framework and add-on state (banks, running percentiles) goes into the checkpoint via ``state_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.candidate_masks import CandidateMasks, LabelMasks
from qtbench.engine.student_pass import StudentPass
from qtbench.registry import phase_rank


@dataclass
class TargetBatch:
    """Unlabelled target crops of one step.

    Args:
        index: [B] indices of the unlabelled images the crops come from.
        weak: [B,3,h,w] weak view (teacher input).
        strong: [B,3,h,w] strong photometric view of the same crop (student input).
        clean: [B,3,h,w] true clean crop, present only for frameworks with ``uses_target_labels``.
        key: [B] spatially aligned crop identity ``image * n_windows + window`` (``pl.target_crops=grid``),
            None with random crops. Banks key their entries by it (docs/method.md §7, §21 item 15).
        ref: opaque :class:`~qtbench.engine.referee.CropRefs` of the crops when the run's ensemble reads clean
            references (``fidelity``, docs/agreement.md) or measures agreement; plugins only hand its
            ``rows``/``windows`` references to the ensemble's ``ref=`` arguments. None otherwise.
    """

    index: Tensor
    weak: Tensor
    strong: Tensor
    clean: Optional[Tensor] = None
    key: Optional[Tensor] = None
    ref: Optional[Any] = None


@dataclass
class PLBatch:
    """Pseudo-label records of one step.

    Args:
        candidates: [B,K,3,h,w] candidate PLs.
        label: [N,3,h,w] the labels the student trains on (N = B unless ``owner`` is set).
        weight: [N] per-label weight (0 drops the label).
        mask: optional [N,1,h,w] per-pixel trust; between scoring and the end of selection it may be a
            :class:`~qtbench.engine.candidate_masks.LabelMasks` (the candidates' masks, not computed yet),
            which the engine resolves before the losses.
        scores: per-member scores of the candidates, [B,K] each (normalised, higher = better).
        score: combined score of the candidates [B,K], or None (not scored).
        level: [N] quality level the student is conditioned on per label, or None (unconditioned).
        owner: [N] crop index of each label, or None (label ``n`` belongs to crop ``n``).
        label_score: [N] combined score of each label (levels are computed from it), or None.
        cand_mask: optional per-pixel trust of the candidates (block-wise, docs/method.md §3.3), a
            :class:`~qtbench.engine.candidate_masks.CandidateMasks`: each mask is computed when first taken.
        keep: optional [B] bool gate verdict per crop (docs/method.md §6.2); None = every crop kept.
        cand_keep: optional [B,K] bool: candidates a framework rejected (False) never enter a bank.
        norm: optional scalar denominator of the target loss; None = the weight sum (at least 1).
        cache: per-step memo shared by plugins (e.g. the strong view, for the contrastive losses of Semi-UIR
            and Colabator).
        ref: the flattened [B*K] candidates' clean references (``qtbench.iqa.fidelity.Reference``) when the
            ensemble reads them (docs/agreement.md), for masks computed later; None otherwise.
    """

    candidates: Tensor
    label: Tensor
    weight: Tensor
    mask: Optional[Tensor | LabelMasks] = None
    scores: dict[str, Tensor] = field(default_factory=dict)
    score: Optional[Tensor] = None
    level: Optional[Tensor] = None
    owner: Optional[Tensor] = None
    label_score: Optional[Tensor] = None
    cand_mask: Optional[CandidateMasks] = None
    keep: Optional[Tensor] = None
    cand_keep: Optional[Tensor] = None
    norm: Optional[Tensor] = None
    cache: dict[str, Any] = field(default_factory=dict)
    ref: Optional[Any] = None

    @classmethod
    def from_candidates(cls, candidates: Tensor) -> "PLBatch":
        """Every candidate is a label: K = 1 gives plain MT's record (no owner); K > 1 gives K labels per
        crop, each of weight 1 (so the default target loss averages them per crop)."""
        b, k = candidates.shape[:2]
        if k == 1:
            return cls(candidates, candidates[:, 0], torch.ones(b, device=candidates.device))
        owner = torch.arange(b, device=candidates.device).repeat_interleave(k)
        return cls(candidates, candidates.flatten(0, 1), torch.ones(b * k, device=candidates.device), owner=owner)

    def owners(self) -> Tensor:
        """[N] crop index of every label (``arange(N)`` when ``owner`` is None)."""
        return self.owner if self.owner is not None else torch.arange(self.label.shape[0], device=self.label.device)


@dataclass
class AddOnContext:
    """What :meth:`AddOn.setup` receives.

    Args:
        ensemble: the run's IQA ensemble (``qtbench.iqa.ensemble.Ensemble``), or None when no add-on
            declares ``needs_iqa``.
        total_iters: length of the PL stage (start iterations are fractions of it, docs/architecture.md §5).
        device: torch device.
        seed: run seed (add-ons seed their own generators from it).
        n_keys: number of distinct target crop keys (``pl.target_crops=grid``), 0 with random crops.
    """

    ensemble: Any
    total_iters: int
    device: torch.device
    seed: int = 0
    n_keys: int = 0


@dataclass
class FrameworkContext(AddOnContext):
    """What :meth:`Framework.setup` receives: an :class:`AddOnContext` plus what only frameworks need.

    Args:
        cfg: the resolved run config (frameworks are built from ``cfg.framework`` alone).
        addons: canonical names of the run's add-ons (a framework drops the parts an add-on replaces).
        base: frozen copy of the base model (offline feature extractor, :mod:`qtbench.engine.features`).
        student: the student being trained (frameworks that compare the teacher with it, e.g. Semi-UIR).
    """

    cfg: Any = None
    addons: tuple[str, ...] = ()
    base: Optional[torch.nn.Module] = None
    student: Optional[torch.nn.Module] = None


class PluginHooks:
    """The hooks every plugin (framework or add-on) has, with their defaults: no metrics, no facts, no state."""

    def step_metrics(self) -> dict[str, Tensor]:
        """Scalars about the last step (kept fraction, drop rate, bank fill...), logged with the losses."""
        return {}

    def summary(self) -> dict[str, Any]:
        """JSON-able facts for ``summary.json`` (``framework`` or ``addons.<name>``), e.g. the features used."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """State saved in checkpoints (banks, running statistics, counters)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


class Framework(PluginHooks):
    """Base class of pseudo-labelling frameworks (``methods/``).

    Class attributes:
        uses_target_images: False for controls that never see target data (``srconly``).
        uses_target_labels: True only for the ``oracle`` control: it reads clean target images and
            every output of such a run is flagged.
        strong_source: apply the strong photometric view to source inputs (``srconly``).
        needs_iqa: the framework scores PLs; the runner builds the ensemble and the engine scores every
            step's candidates with it (as for add-ons).
        select_before: the add-on phase (:data:`qtbench.registry.ADDON_PHASES`) before which :meth:`select`
            runs among the add-ons' ``on_select``: ``"views"`` = before all of them; ``"memory"`` = after
            ``gate``, before ``bank``.
    """

    uses_target_images: bool = True
    uses_target_labels: bool = False
    strong_source: bool = False
    needs_iqa: bool = False
    select_before: str = "views"

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg

    def setup(self, ctx: FrameworkContext) -> None:
        """Called once by the trainer before training (and before a checkpoint is restored)."""

    def ema_decay(self, step: int, default: float) -> float:
        """EMA decay after PL step ``step`` (0-based); default: the engine's ``pl.ema_decay``."""
        return default

    def pl_weight(self, step: int) -> float:
        """Multiplier of ``pl.w_pl`` at step ``step`` (consistency ramp-ups); default 1."""
        return 1.0

    def candidates(self, teacher: torch.nn.Module, batch: TargetBatch) -> Tensor:
        """[B,K,3,h,w] candidate PLs; default: one unconditioned teacher pass on the weak view."""
        with torch.no_grad():
            return teacher(batch.weak).clamp(0, 1).unsqueeze(1)

    def select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        """Choose the label and weights; default: first candidate, weight 1."""
        return pl

    def target_loss(self, pred: Tensor, pl: PLBatch) -> Tensor:
        """Loss of the student's outputs against the labels; default: weighted (masked) L1.

        Args:
            pred: [N,3,h,w] student output for each label (strong view of its crop, at its level).
            pl: the step's PL record; ``pl.norm`` overrides the denominator (weight sum, at least 1).
        """
        err = (pred - pl.label).abs()
        if pl.mask is not None:
            err = err * pl.mask
        per_image = err.flatten(1).mean(1)
        norm = pl.weight.sum().clamp_min(1.0) if pl.norm is None else pl.norm
        return (per_image * pl.weight).sum() / norm


class AddOn(PluginHooks):
    """Base class of add-ons (QualiTeacher components). Every hook is a no-op by default.

    Class attributes:
        phase: hooks of all add-ons run phase by phase (:data:`qtbench.registry.ADDON_PHASES`; within a
            phase, in method order); checked when the add-on registers.
        needs_iqa: the add-on uses the IQA ensemble; the runner builds it (once) and the engine scores
            every step's candidates with it.
        replaces_candidates: :meth:`on_candidates` ignores the candidates it is given and makes its own
            (``maug``); the engine then skips the framework's teacher pass, whose output nobody would use.
    """

    phase: str = "losses"
    needs_iqa: bool = False
    replaces_candidates: bool = False

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        self.cfg = cfg
        self.options = options

    def setup(self, ctx: AddOnContext) -> None:
        """Called once by the trainer before training (and before a checkpoint is restored) with the
        ensemble the runner built (or None), the schedule, the device and the number of crop keys."""

    def on_candidates(self, teacher: torch.nn.Module, batch: TargetBatch, candidates: Tensor | None) -> Tensor:
        """Add or transform candidates (``None`` when an add-on with ``replaces_candidates`` runs first)."""
        return candidates

    def on_score(self, pl: PLBatch) -> PLBatch:
        """Score candidates (fills ``scores``/``score``)."""
        return pl

    def on_select(self, pl: PLBatch, batch: TargetBatch, step: int) -> PLBatch:
        """Gate, bank or re-weight the selected labels; may set ``level``."""
        return pl

    def extra_losses(self, student: StudentPass, batch: TargetBatch, pl: PLBatch, step: int) -> dict[str, Tensor]:
        """Additional named losses (added to the total).

        ``student.at(rows, levels)`` gives the student's outputs of ``batch.strong`` at (crop, level) pairs,
        shared with the PL loss and the other add-ons within the step; ``student.model`` restores other inputs.
        """
        return {}

    def inference_level(self) -> Optional[int]:
        """The quality level the student is asked for at evaluation (None: unconditioned)."""
        return None


def in_phase_order(addons: list[AddOn]) -> list[AddOn]:
    """``addons`` sorted by phase; add-ons of one phase keep their (method) order."""
    return sorted(addons, key=lambda a: phase_rank(a.phase))


def selects_before(framework: Framework, addon: AddOn) -> bool:
    """True when the framework's ``select`` runs before ``addon``'s ``on_select``."""
    return phase_rank(addon.phase) >= phase_rank(framework.select_before)
