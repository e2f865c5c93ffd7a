"""A small U-Net with an optional quality-level input (QualiTeacher conditioning, docs/method.md §5).

The level is encoded by a zero-initialised ``nn.Embedding`` added at the bottleneck, so a base model
behaves identically with ``level=None`` and with an untrained embedding. Any backbone that accepts
``forward(x, level=None)`` can be registered in its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from qtbench.registry import backbones


@dataclass
class UNetConfig:
    """Options of :class:`UNet`."""

    name: str = "unet"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])  # source: docs/feasibility.md (U-Net 16-32-64, 117k params)
    num_levels: int = 8  # quality levels; source: docs/method.md §4 (8 bins)
    negative_slope: float = 0.2  # LeakyReLU slope; source: docs/feasibility.md (LeakyReLU, no normalisation)


def _block(cin: int, cout: int, slope: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(slope, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1), nn.LeakyReLU(slope, inplace=True),
    )


@backbones.register(
    "unet", "small residual U-Net (16-32-64, 117k params) with a zero-init quality-level embedding at the bottleneck",
    source="docs/feasibility.md; level embedding per docs/method.md §5 (README recipe: one additive injection)",
    config=UNetConfig,
)
class UNet(nn.Module):
    """Residual U-Net: ``y = x + f(x)``; max-pool down, transposed-conv up, no normalisation.

    Args:
        widths: channels per resolution, shallow to deep (the last is the bottleneck).
        num_levels: size of the quality-level embedding table.
        negative_slope: LeakyReLU slope.
    """

    def __init__(self, widths: list[int], num_levels: int = 8, negative_slope: float = 0.2) -> None:
        super().__init__()
        widths = list(widths)
        if len(widths) < 2:
            raise ValueError("UNet needs at least two widths")
        self.down_factor = 2 ** (len(widths) - 1)
        self.enc = nn.ModuleList()
        cin = 3
        for w in widths:
            self.enc.append(_block(cin, w, negative_slope))
            cin = w
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for w_hi, w_lo in zip(widths[::-1][:-1], widths[::-1][1:]):
            self.up.append(nn.ConvTranspose2d(w_hi, w_lo, 2, stride=2))
            self.dec.append(_block(2 * w_lo, w_lo, negative_slope))
        self.out = nn.Conv2d(widths[0], 3, 3, padding=1)
        self.level_embedding = nn.Embedding(num_levels, widths[-1])
        nn.init.zeros_(self.level_embedding.weight)  # identity at start: base weights undisturbed
        # Rows per forward call; larger batches are split (0: never). Not a parameter: the PL trainer sets it
        # from runtime.chunk_rows, because on a CPU cache-sized chunks run faster (BENCHMARKS.md, "chunks").
        self.max_rows = 0
        # Channels-last passes (the PL trainer sets it from runtime.channels_last: on a CPU they run ~1.5x
        # faster, whatever layout the input happens to have; BENCHMARKS.md, "Seconds per PL iteration").
        self.channels_last = False

    @classmethod
    def from_config(cls, cfg) -> "UNet":
        """Build from a :class:`UNetConfig` node."""
        return cls(list(cfg.widths), cfg.num_levels, cfg.negative_slope)

    def encode(self, x: Tensor) -> list[Tensor]:
        """Encoder feature maps, shallow to deep (the offline perceptual features, qtbench/engine/features.py)."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.down_factor, (-w) % self.down_factor
        feat = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
        if self.channels_last:
            feat = feat.contiguous(memory_format=torch.channels_last)
        feats = []
        for i, block in enumerate(self.enc):
            feat = block(feat if i == 0 else F.max_pool2d(feat, 2))
            feats.append(feat)
        return feats

    def forward(self, x: Tensor, level: Tensor | int | None = None) -> Tensor:
        """Restore ``x`` ([B,3,H,W] in [0,1]); any H, W (reflect-padded to the down factor).

        With ``max_rows`` set, a batch of more rows goes through in chunks of ``max_rows`` (the same
        function: no layer mixes rows; the float rounding of a convolution may differ with the batch size).
        """
        n = x.shape[0]
        if 0 < self.max_rows < n:
            # one level per row (a scalar level is broadcast), so each chunk takes its own slice
            lv = None if level is None else torch.as_tensor(level, device=x.device, dtype=torch.long).reshape(-1).expand(n)
            parts = [self._restore(x[i : i + self.max_rows], None if lv is None else lv[i : i + self.max_rows])
                     for i in range(0, n, self.max_rows)]
            return torch.cat(parts)
        return self._restore(x, level)

    def _restore(self, x: Tensor, level: Tensor | int | None) -> Tensor:
        return self.decode(x, self.encode(x), level)

    def decode(self, x: Tensor, feats: list[Tensor], level: Tensor | int | None = None) -> Tensor:
        """The level-dependent half of a restore: ``forward(x, level) == decode(x, encode(x), level)``.

        The encoder never sees the level (it enters at the bottleneck), so outputs of one input at several
        levels can share one :meth:`encode` (:class:`qtbench.engine.student_pass.StudentPass`): index the rows
        of ``x`` and of every feature map alike, then decode each (row, level) pair.

        Args:
            x: [B,3,H,W] the (unpadded) inputs the features were computed from.
            feats: :meth:`encode` of those inputs, row for row.
            level: [B] levels, one int for all rows, or None (unconditioned).
        """
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.down_factor, (-w) % self.down_factor
        inp = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
        feat = feats[-1]
        if level is not None:
            idx = torch.as_tensor(level, device=feat.device, dtype=torch.long).reshape(-1)
            feat = feat + self.level_embedding(idx)[:, :, None, None]
        for up, dec, skip in zip(self.up, self.dec, reversed(feats[:-1])):
            feat = dec(torch.cat([up(feat), skip], dim=1))
        out = inp + self.out(feat)
        return out[..., :h, :w]
