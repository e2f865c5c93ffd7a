"""Structured schemas of the engine's own config groups.

Plugins (tasks, backbones, frameworks, add-ons) bring their own dataclass schemas through the registry;
:mod:`qtbench.config.compose` stores them in Hydra's ConfigStore so that a mistyped key or a wrong type
fails at compose time. Defaults here are the ``cpu`` scale; ``conf/scale/*.yaml`` override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from qtbench.iqa.config import IQAConfig


@dataclass
class BaseStageConfig:
    """Stage 1: supervised training of the shared base model on source pairs (docs/architecture.md §2)."""

    iters: int = 2000  # source: docs/feasibility.md "Suggested defaults" (base 2000 iterations)
    batch_size: int = 8  # source: docs/feasibility.md (batch 8 of 64-px crops)
    crop: int = 64  # source: docs/feasibility.md
    optimizer: str = "adam"  # source: docs/feasibility.md (Adam); "adamw" for the paper scale
    lr: float = 1e-3  # source: docs/feasibility.md (Adam 1e-3)
    lr_min: float = 1e-4  # source: docs/feasibility.md (cosine decay down to 1e-4)
    weight_decay: float = 0.0
    dihedral: bool = True  # random flips/rot90 of crops; source: docs/feasibility.md


@dataclass
class PLStageConfig:
    """Stage 2: pseudo-label training on source pairs + unlabelled target images."""

    iters: int = 500  # source: docs/feasibility.md (MT 500 iterations; longer runs drifted)
    batch_source: int = 8  # source: docs/feasibility.md (batch 8 + 8)
    batch_target: int = 8  # source: docs/feasibility.md
    crop: int = 64  # source: docs/feasibility.md
    # target crop positions: "grid" (stride-crop grid, each crop has a key; a memory bank needs it,
    # docs/method.md §7/§21 item 15) or "random" (any position, as in docs/feasibility.md). Grid for every method
    # so that add-on comparisons see the same crop distribution.
    target_crops: str = "grid"
    optimizer: str = "adam"  # source: docs/feasibility.md; official code: AdamW (docs/method.md §14)
    lr: float = 2e-4  # source: docs/feasibility.md (Adam 2e-4 constant)
    lr_min: float = 2e-4  # cosine floor; equal to lr = constant schedule
    weight_decay: float = 0.0  # source: docs/method.md §14 (wd 0)
    ema_decay: float = 0.99  # source: docs/feasibility.md (0.99 vs 0.999 within noise); official 0.999 (docs/method.md §12)
    w_sup: float = 1.0  # weight of the supervised source L1; source: docs/feasibility.md (w_sup = 1)
    w_pl: float = 1.0  # weight of the pseudo-label L1; source: docs/feasibility.md (w = 1)
    # how the framework's PL loss combines its labels: "mean" over label weights (qtbench default, MT's scale),
    # or "sum" over labels (every bank slot / crop adds its loss), as the official code does (docs/method.md §11:
    # L = L_sup + sum_i L_PL,i); with the bank's slot_reduction=sum this is the official form
    pl_reduction: str = "mean"
    trajectory_points: int = 4  # student target-test PSNR evaluated at this many points of the stage
    log_every: int = 25  # MLflow logging period (iterations)
    checkpoint_every: int = 50  # full-state checkpoint period (iterations)


@dataclass
class StrongViewConfig:
    """Strong view of the student (docs/feasibility.md: the strong view is what makes MT differ from a fixed point).

    Defaults were selected on target-val (debian pool, seeds 0-1; BENCHMARKS.md "Choosing the strong view"):
    docs/feasibility.md's photometric view (contrast x[0.7, 1.3], brightness +-0.1, gamma [0.7, 1.4]) cost MT
    -0.50 dB on val with a base trained on ~80 photos — the contrast/brightness cues it scrambles are the
    ones a dehazer reads haze density from — while blur + sensor noise gave +0.01 dB. The photometric
    ranges stay available (set them back to docs/feasibility.md's values to reproduce it).
    """

    enabled: bool = True
    contrast: list[float] = field(default_factory=lambda: [1.0, 1.0])  # docs/feasibility.md used [0.7, 1.3] (about the mean)
    brightness: float = 0.0  # docs/feasibility.md used +-0.1
    gamma: list[float] = field(default_factory=lambda: [1.0, 1.0])  # docs/feasibility.md used [0.7, 1.4]
    blur_prob: float = 0.5  # 3x3 binomial blur on this fraction; source: docs/feasibility.md
    noise: list[float] = field(default_factory=lambda: [0.01, 0.03])  # Gaussian sigma range; selected on target-val
    # Also feed the strong view to the supervised source branch, as srconly always does; qtbench choice. With it,
    # mt - srconly isolates what the target pseudo-labels add (otherwise the source branches differ too).
    on_source: bool = False


@dataclass
class EvalConfig:
    """Evaluation on target-test, target-val and the real set."""

    level: Optional[int] = None  # quality level asked of the student at inference; None = the plugin's default
    nr_metrics: list[str] = field(default_factory=lambda: ["piqe"])  # pyiqa NR metrics that work offline
    grid_images: int = 4  # rows of the input/base/student/clean PNG grid
    batch_size: int = 4  # full images evaluated per forward


@dataclass
class RuntimeConfig:
    """Where and how to run; not part of the run identity (excluded from the config hash)."""

    runs_dir: str = "runs"
    tracking_uri: Optional[str] = None  # None: sqlite:///<runs_dir>/mlflow.db (or $MLFLOW_TRACKING_URI)
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    progress: bool = True
    # Rows per student/teacher forward call in PL training, larger batches split (0: never; -1: 8 on a CPU,
    # never on a GPU). Why: on one CPU thread 3 x 8 rows run ~25 % faster than 24 at once (cache), which
    # is what maug's views, the bank's labels and pref's pairs produce (BENCHMARKS.md, "chunks").
    chunk_rows: int = -1
    # Run the PL stage's U-Net passes in channels-last memory format (None: on a CPU, off on a GPU). Why: on a
    # CPU these convolutions run ~1.5x faster channels-last, and crops cut from HWC arrays already are, so
    # without it a pass's speed depended on its input's layout (maug's flipped views, gathered rows were not;
    # BENCHMARKS.md, "Seconds per PL iteration").
    channels_last: Optional[bool] = None
    experiment: Optional[str] = None  # MLflow experiment; None: qtbench-<task> (a sweep uses qtbench-sweep-<name>)
    parent_run_id: Optional[str] = None  # MLflow parent run (a sweep's); the run is logged as its child
    tags: dict[str, str] = field(default_factory=dict)  # extra MLflow run tags (sweep name, cell index)


@dataclass
class RunConfig:
    """The fully resolved configuration of one run; its hash (minus ``runtime``) is the run identity."""

    method: str = "mt"
    seed: int = 0
    scale: str = "cpu"
    task: Any = None
    backbone: Any = None
    framework: Any = None
    addons: dict = field(default_factory=dict)
    base: BaseStageConfig = field(default_factory=BaseStageConfig)
    pl: PLStageConfig = field(default_factory=PLStageConfig)
    strong: StrongViewConfig = field(default_factory=StrongViewConfig)
    iqa: IQAConfig = field(default_factory=IQAConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
