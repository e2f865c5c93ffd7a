"""Stage 2: the Mean-Teacher pseudo-label loop with framework and add-on hooks (docs/architecture.md §4).

Teacher = EMA of the student, run on the weak view; student on a strong photometric view; loss =
``w_sup`` x L1 on source pairs + ``w_pl`` x framework target loss + add-on losses. Full-state
checkpoints every ``pl.checkpoint_every`` steps make a killed run resume bit-for-bit.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from omegaconf import DictConfig
from tqdm import tqdm

from qtbench.engine import checkpoint, interrupt
from qtbench.engine.augment import strong_view
from qtbench.engine.build import build_backbone, build_optimizer, build_scheduler, channels_last, chunk_rows
from qtbench.engine.candidate_masks import LabelMasks
from qtbench.engine.plugin_api import (AddOn, AddOnContext, Framework, FrameworkContext, PLBatch, TargetBatch,
                                       in_phase_order, selects_before)
from qtbench.engine.referee import AgreementProbe, CropRefs, Referee
from qtbench.engine.sampler import CropSampler
from qtbench.engine.student_pass import StudentPass
from qtbench.engine.timers import StageTimer
from qtbench.errors import TrainingDiverged, UserError
from qtbench.iqa.grad_alignment import reward_alignment
from qtbench.data.containers import TrainData


def trajectory_steps(iters: int, points: int) -> list[int]:
    """Steps (1-based, after the update) at which the student is evaluated; always includes the last."""
    if iters <= 0 or points <= 0:
        return []
    return sorted({max(1, round(iters * (k + 1) / points)) for k in range(points)})


@torch.no_grad()
def ema_update(teacher: torch.nn.Module, student: torch.nn.Module, decay: float) -> None:
    """theta_T <- decay * theta_T + (1 - decay) * theta_S (parameters; buffers copied)."""
    for pt, ps in zip(teacher.parameters(), student.parameters()):
        pt.mul_(decay).add_(ps.detach(), alpha=1.0 - decay)
    for bt, bs in zip(teacher.buffers(), student.buffers()):
        bt.copy_(bs)


class PLTrainer:
    """Runs the PL stage of one run.

    Args:
        cfg: resolved run config.
        data: training view of the task data (no clean target images).
        base_state: base model state dict (student and teacher start from it).
        framework: the framework plugin instance.
        addons: add-on plugin instances, in method order.
        run_dir: where checkpoints go.
        device: torch device.
        evaluate: ``student -> {metric: value}`` for the trajectory (evaluation code holds the test set).
        log: ``(metrics, step) -> None`` (MLflow).
        progress: show a progress bar.
        ensemble: IQA ensemble (built by the runner when the framework or an add-on ``needs_iqa``); when
            given, every step's candidates are scored with it in one batched call (docs/architecture.md §8).
        on_step: ``trainer -> None`` called after every PL step (after any checkpoint of that step); it must
            not change the training state. An exception it raises stops training (a pruned tuning trial).
    """

    def __init__(
        self,
        cfg: DictConfig,
        data: TrainData,
        base_state: dict,
        framework: Framework,
        addons: list[AddOn],
        run_dir: Path,
        device: torch.device,
        evaluate: Callable[[torch.nn.Module], dict[str, float]],
        log: Callable[[dict[str, float], int], None],
        progress: bool = True,
        ensemble: Optional[torch.nn.Module] = None,
        on_step: Optional[Callable[["PLTrainer"], None]] = None,
    ) -> None:
        # hooks run in the add-ons' declared phases (gate, bank, then levels), whatever the method order
        addons = in_phase_order(addons)
        self.cfg, self.data, self.framework, self.addons, self.ensemble = cfg, data, framework, addons, ensemble
        # an add-on such as maug makes its own candidates: the framework's teacher pass would be thrown away
        self.candidates_replaced = any(a.replaces_candidates for a in addons)
        self.on_step = on_step  # e.g. the tuner's target-val reports (qtbench.tune.monitor); may raise to stop
        self.run_dir, self.device, self.evaluate, self.log, self.progress = Path(run_dir), device, evaluate, log, progress
        torch.manual_seed(cfg.seed)
        self.student = build_backbone(cfg.backbone).to(device)
        self.student.load_state_dict(base_state)
        if hasattr(self.student, "max_rows"):  # backbones that can split a batch (qtbench.models.unet)
            self.student.max_rows = chunk_rows(cfg.runtime.chunk_rows, device)
        if hasattr(self.student, "channels_last"):  # and choose their memory format
            self.student.channels_last = channels_last(cfg.runtime.channels_last, device)
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)
        self.opt = build_optimizer(self.student.parameters(), cfg.pl)
        self.sched = build_scheduler(self.opt, cfg.pl)
        self.np_rng = np.random.default_rng([cfg.seed, 11])
        self.gen = torch.Generator().manual_seed(cfg.seed + 11)
        src = data.source
        self.src_sampler = CropSampler(src.inputs, cfg.pl.crop, self.np_rng, targets=src.target)
        self.tgt_sampler: Optional[CropSampler] = None
        # clean target crops for reference members and the agreement measurement (docs/agreement.md)
        needs_ref = ensemble is not None and bool(getattr(ensemble, "needs_reference", False))
        if needs_ref and not data.has_target_labels:
            raise UserError("the fidelity (oracle) reward needs clean target images; task.data.unlabelled=DIR has none")
        every = int(cfg.iqa.agreement.every) if ensemble is not None else 0
        self.probe = AgreementProbe(every) if every > 0 and data.has_target_labels else None
        self.referee = framework.uses_target_images and (needs_ref or self.probe is not None)
        self.needs_ref = needs_ref
        if framework.uses_target_images:
            labels = (data.target_labels(framework) if framework.uses_target_labels
                      else data.target_labels(Referee()) if self.referee else None)
            self.tgt_sampler = CropSampler(
                data.target_inputs, cfg.pl.crop, self.np_rng, targets=(labels.__getitem__ if labels else None),
                mode=cfg.pl.target_crops,
            )
        n_keys = self.tgt_sampler.n_keys if self.tgt_sampler is not None and cfg.pl.target_crops == "grid" else 0
        ctx = AddOnContext(ensemble, cfg.pl.iters, device, cfg.seed, n_keys)
        for a in self.addons:
            a.setup(ctx)
        # the frozen base model serves as the offline feature extractor of contrastive losses
        base = copy.deepcopy(self.student).requires_grad_(False).eval()
        framework.setup(FrameworkContext(ensemble, cfg.pl.iters, device, cfg.seed, n_keys, cfg=cfg,
                                         addons=tuple(cfg.addons), base=base, student=self.student))
        self.timer = StageTimer()
        self.step = 0
        self.trajectory: dict[int, dict[str, float]] = {}
        self.run_seconds = 0.0

    # -- checkpoints ---------------------------------------------------------------------------------
    def state_dict(self, extra: dict) -> dict:
        return {
            "step": self.step,
            "student": self.student.state_dict(),
            "teacher": self.teacher.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "np_rng": self.np_rng.bit_generator.state,
            "torch_gen": self.gen.get_state(),
            "framework": self.framework.state_dict(),
            "addons": [a.state_dict() for a in self.addons],
            "timer": self.timer.state_dict(),
            "agreement": self.probe.state_dict() if self.probe is not None else None,
            "trajectory": self.trajectory,
            "run_seconds": self.run_seconds,
            **extra,
        }

    def load_state_dict(self, state: dict) -> None:
        self.step = state["step"]
        self.student.load_state_dict(state["student"])
        self.teacher.load_state_dict(state["teacher"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.np_rng.bit_generator.state = state["np_rng"]
        self.gen.set_state(state["torch_gen"])
        self.framework.load_state_dict(state["framework"])
        for a, s in zip(self.addons, state["addons"]):
            a.load_state_dict(s)
        self.timer.load_state_dict(state["timer"])
        if self.probe is not None and state.get("agreement"):
            self.probe.load_state_dict(state["agreement"])
        self.trajectory = {int(k): v for k, v in state["trajectory"].items()}
        self.run_seconds = state["run_seconds"]
        checkpoint.set_global_rng_state(state["global_rng"])

    # -- one step ------------------------------------------------------------------------------------
    def score(self, pl: PLBatch, batch: Optional[TargetBatch] = None) -> PLBatch:
        """Score all B*K candidates with one ensemble call (per member); labels inherit their scores.

        With clean references (``batch.ref``) the candidates' references go to the ensemble when it reads
        them, and every ``iqa.agreement.every``-th step the scores and PSNRs are recorded (docs/agreement.md).
        """
        b, k = pl.candidates.shape[:2]
        refs = batch.ref if batch is not None else None
        pl.ref = refs.candidates(k) if refs is not None and self.needs_ref else None
        s = self.ensemble.score(pl.candidates.flatten(0, 1), ref=pl.ref) if pl.ref is not None else \
            self.ensemble.score(pl.candidates.flatten(0, 1))
        pl.scores = {name: v.view(b, k) for name, v in s.members.items()}
        pl.score = s.combined.view(b, k)
        pl.label_score = pl.score[:, 0] if pl.owner is None else pl.score.flatten()
        if self.probe is not None and refs is not None and self.probe.due(self.step):
            flat = pl.candidates.flatten(0, 1)
            cos = reward_alignment(self.ensemble, flat, refs.candidates(k).clean.to(flat.dtype), pl.ref)
            self.probe.record(pl, refs, s.oracle, cos)
        return pl

    def student_on_labels(self, student: StudentPass, pl: PLBatch) -> torch.Tensor:
        """[N,3,h,w] student output for every label: the strong view of its crop at its level.

        With several labels per crop (a bank, several views), labels of one crop that share a level share
        one output, and the add-ons' losses reuse them (:class:`~qtbench.engine.student_pass.StudentPass`).
        """
        b = student.x.shape[0]
        owner = pl.owner if pl.owner is not None else torch.arange(b, device=student.x.device)
        return student.at(owner, pl.level)

    def select(self, pl: PLBatch, batch: TargetBatch) -> PLBatch:
        """The framework's ``select`` before its ``select_before`` phase among the add-ons' ``on_select`` hooks."""
        fw, pending = self.framework, True
        for a in self.addons:
            if pending and selects_before(fw, a):
                pl, pending = fw.select(pl, batch, self.step), False
            pl = a.on_select(pl, batch, self.step)
        return fw.select(pl, batch, self.step) if pending else pl

    def train_step(self) -> dict[str, float]:
        cfg, fw, t = self.cfg, self.framework, self.timer
        with t("data"):
            _, src_in, src_gt = self.src_sampler.sample(cfg.pl.batch_source)
            if fw.strong_source or cfg.strong.on_source:
                src_in = strong_view(src_in, cfg.strong, self.gen)
            batch = None
            if self.tgt_sampler is not None:
                idx, weak, clean, key = self.tgt_sampler.sample_keyed(cfg.pl.batch_target)
                strong = strong_view(weak, cfg.strong, self.gen)
                clean = clean.to(self.device) if clean is not None else None
                key = key.to(self.device) if key is not None else None
                batch = TargetBatch(idx, weak.to(self.device), strong.to(self.device),
                                    clean if fw.uses_target_labels else None, key,
                                    CropRefs(clean, key) if self.referee else None)
            src_in, src_gt = src_in.to(self.device), src_gt.to(self.device)
        pl = None
        if batch is not None:
            with t("teacher"):
                cands = None if self.candidates_replaced else fw.candidates(self.teacher, batch)
                for a in self.addons:
                    cands = a.on_candidates(self.teacher, batch, cands)
                pl = PLBatch.from_candidates(cands)
            with t("scoring"):
                if self.ensemble is not None:
                    pl = self.score(pl, batch)
                for a in self.addons:
                    pl = a.on_score(pl)
                pl = self.select(pl, batch)
                if isinstance(pl.mask, LabelMasks):  # labels are still the candidates: their masks now
                    pl.mask = pl.mask.resolve()
        with t("student"):
            losses = {"loss/sup": (self.student(src_in) - src_gt).abs().mean()}
            total = cfg.pl.w_sup * losses["loss/sup"]
            if batch is not None:
                student = StudentPass(self.student, batch.strong)
                if pl.label.shape[0]:
                    if cfg.pl.pl_reduction == "sum":  # official: every label's loss adds (docs/method.md §11)
                        pl.norm = pl.weight.new_ones(())
                    losses["loss/pl"] = fw.target_loss(self.student_on_labels(student, pl), pl)
                else:  # a bank with nothing stored yet for any crop of this batch
                    losses["loss/pl"] = total.new_zeros(())
                total = total + cfg.pl.w_pl * fw.pl_weight(self.step) * losses["loss/pl"]
                for a in self.addons:
                    for name, value in a.extra_losses(student, batch, pl, self.step).items():
                        losses[f"loss/{name}"] = value
                        total = total + value
            losses["loss/total"] = total
            value = float(total.detach())
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"loss became {value} at PL step {self.step + 1}; the last good checkpoint is kept in "
                    f"{self.run_dir}. Lower pl.lr or the loss weights and rerun."
                )
            self.opt.zero_grad(set_to_none=True)
            total.backward()
        with t("optimiser"):
            self.opt.step()
            self.sched.step()
            ema_update(self.teacher, self.student, fw.ema_decay(self.step, cfg.pl.ema_decay))
        out = {k: float(v.detach()) for k, v in losses.items()}
        if pl is not None:
            out["pl/kept_fraction"] = float((pl.weight > 0).float().mean()) if pl.label.shape[0] else 0.0
            if pl.owner is not None:
                out["pl/labels_per_crop"] = pl.label.shape[0] / batch.weak.shape[0]
        for plugin in (fw, *self.addons):
            out.update({k: float(v) for k, v in plugin.step_metrics().items()})
        return out

    def _check_finite(self) -> None:
        """Never overwrite the last good checkpoint with non-finite weights."""
        for name, p in self.student.named_parameters():
            if not torch.isfinite(p).all():
                raise TrainingDiverged(
                    f"student weight {name} became non-finite at PL step {self.step}; the last good checkpoint "
                    f"is kept in {self.run_dir}. Lower pl.lr or the loss weights and rerun."
                )

    # -- the loop ------------------------------------------------------------------------------------
    def fit(self, checkpoint_extra: dict) -> None:
        """Train until ``pl.iters``, resuming from ``run_dir/checkpoint.pt`` if present."""
        cfg = self.cfg
        state = checkpoint.load(self.run_dir)
        if state is not None:
            self.load_state_dict(state)
        points = set(trajectory_steps(cfg.pl.iters, cfg.pl.trajectory_points))
        bar = tqdm(total=cfg.pl.iters, initial=self.step, desc=f"PL stage ({cfg.method})",
                   disable=not self.progress, leave=False)
        t0 = time.perf_counter()
        interrupt.arm()
        while self.step < cfg.pl.iters:
            if interrupt.requested():  # preemption/time limit: save at this step boundary, let the job requeue
                self._check_finite()
                self.run_seconds += time.perf_counter() - t0
                checkpoint.save(self.run_dir, self.state_dict(checkpoint_extra))
                interrupt.disarm()
                raise interrupt.Preempted(self.step)
            metrics = self.train_step()
            self.step += 1
            bar.update(1)
            if self.step % cfg.pl.log_every == 0 or self.step == cfg.pl.iters:
                self.log(metrics, self.step)
            if self.step in points:
                self.student.eval()
                self.trajectory[self.step] = self.evaluate(self.student)
                self.student.train()
                self.log({f"trajectory/{k}": v for k, v in self.trajectory[self.step].items()}, self.step)
            if self.step % cfg.pl.checkpoint_every == 0 or self.step == cfg.pl.iters:
                self._check_finite()
                self.run_seconds += time.perf_counter() - t0
                t0 = time.perf_counter()
                checkpoint.save(self.run_dir, self.state_dict(checkpoint_extra))
            if self.on_step is not None:
                self.on_step(self)
        interrupt.disarm()
        bar.close()
