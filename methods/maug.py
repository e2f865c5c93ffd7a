"""``maug``: multi-augmentation teacher candidates (docs/method.md §6.1).

The unconditioned EMA teacher restores several views of each weak crop; geometric views are inverted
back, so each crop gets K candidate PLs. The official views are hflip, vflip and rot90 (identity not
included). docs/feasibility.md measured that a base trained with flips/rotations is nearly equivariant to
them (+0.03 dB PL quality), so the view list also offers views the base is *not* invariant to:

- ``scale:F`` restore a copy resized by F (bilinear, antialiased) and resize the output back;
- ``gamma:G`` / ``contrast:C`` restore a photometrically altered input (not invertible: the output is a
  restoration of a different-looking image, which is the point: a wider spread of PL quality).

Views are deterministic, so a revisited crop gets the same views (what a memory bank expects).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor

from qtbench.engine.plugin_api import AddOn, TargetBatch
from qtbench.errors import UserError
from qtbench.registry import addons

GEOMETRIC = ("identity", "hflip", "vflip", "rot90", "rot180", "rot270")
PARAMETRIC = ("scale", "gamma", "contrast")


@dataclass
class MAugConfig:
    """Options of :class:`MultiAugmentation`."""

    # source: docs/method.md §6.1 (hflip, vflip, rot90; identity not included). A set the dihedral-trained base
    # is not invariant to (docs/feasibility.md): [identity, scale:0.5, gamma:0.7, gamma:1.4]
    views: list[str] = field(default_factory=lambda: ["hflip", "vflip", "rot90"])


def parse_view(text: str) -> tuple[str, float]:
    """``"hflip"`` -> ("hflip", 0.0); ``"scale:0.5"`` -> ("scale", 0.5).

    Raises:
        UserError: unknown view or bad parameter.
    """
    name, _, arg = text.partition(":")
    if name in GEOMETRIC and not arg:
        return name, 0.0
    if name in PARAMETRIC and arg:
        try:
            value = float(arg)
        except ValueError:
            value = -1.0
        if value > 0 and not (name == "scale" and value >= 1.0):
            return name, value
    raise UserError(f"maug view {text!r}: use one of {', '.join(GEOMETRIC)}, or scale:F (0<F<1), gamma:G, "
                    f"contrast:C (G, C > 0)")


def forward_view(view: tuple[str, float], x: Tensor) -> Tensor:
    """The teacher's input for ``view`` of ``x`` [B,3,h,w]."""
    name, a = view
    if name == "identity":
        return x
    if name == "hflip":
        return x.flip(-1)
    if name == "vflip":
        return x.flip(-2)
    if name.startswith("rot"):
        return torch.rot90(x, int(name[3:]) // 90, dims=(-2, -1))
    if name == "scale":
        return F.interpolate(x, scale_factor=a, mode="bilinear", align_corners=False, antialias=True)
    if name == "gamma":
        return x.clamp_min(1e-6) ** a
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # contrast about the per-image mean
    return ((x - mean) * a + mean).clamp(0, 1)


def inverse_view(view: tuple[str, float], y: Tensor, size: tuple[int, int]) -> Tensor:
    """Map the teacher's output of ``view`` back to the crop's frame (``g^-1``, docs/method.md §6.1)."""
    name, _ = view
    if name in ("hflip", "vflip"):
        return forward_view(view, y)  # involutions
    if name.startswith("rot"):
        return torch.rot90(y, -(int(name[3:]) // 90), dims=(-2, -1))
    if name == "scale":
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    return y  # identity and photometric views: same frame


@addons.register(
    "maug", "multi-augmentation teacher candidates: restore views of each crop, invert them back",
    source="docs/method.md §6.1; non-invariant views per docs/feasibility.md", config=MAugConfig,
)
class MultiAugmentation(AddOn):
    """Replaces the framework's single teacher pass with one candidate per view: [B,K,3,h,w].

    Args:
        cfg: the run config.
        options: :class:`MAugConfig`.
    """

    phase = "views"
    replaces_candidates = True  # the views replace the framework's single pass (identity is a view)

    def __init__(self, cfg: DictConfig, options: DictConfig) -> None:
        super().__init__(cfg, options)
        self.views = [parse_view(v) for v in options.views]

    @staticmethod
    def validate_config(cfg: DictConfig) -> None:
        views = list(cfg.addons.maug.views)
        if not views:
            raise UserError("addons.maug.views is empty: give at least one view (official: [hflip,vflip,rot90])")
        for v in views:
            parse_view(v)

    @torch.no_grad()
    def on_candidates(self, teacher: torch.nn.Module, batch: TargetBatch, candidates: Tensor) -> Tensor:
        x = batch.weak
        b, size = x.shape[0], tuple(x.shape[-2:])
        inputs = [forward_view(v, x) for v in self.views]
        outputs: list[Tensor] = [x] * len(self.views)
        # one teacher call per input shape (all same-size views batched together)
        shapes = sorted({tuple(t.shape[-2:]) for t in inputs})
        for shape in shapes:
            idx = [i for i, t in enumerate(inputs) if tuple(t.shape[-2:]) == shape]
            ys = teacher(torch.cat([inputs[i] for i in idx])).clamp(0, 1).split(b)
            for i, y in zip(idx, ys):
                outputs[i] = inverse_view(self.views[i], y, size)
        return torch.stack(outputs, dim=1)
