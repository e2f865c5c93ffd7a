"""Member ``degprob``: a small CNN trained by qtbench to tell degraded images from clean ones.

The official ensemble's semantic member is DA-CLIP's ``1 - P(hazy)`` (docs/method.md §3.1): a degradation-aware
probability. Offline there is no CLIP, so qtbench trains its own detector on the run's *training* data:

* negatives: random crops of the clean source photos;
* positives: the co-located crops of their degraded source inputs, and crops of the degraded unlabelled
  target images (``target_frac`` of them) — inputs, not labels, so the protocol allows them;
* a few hundred Adam iterations on CPU (``iqa.degprob.iters``), then frozen (eval mode, no grad to params).

Score ``1 - P(degraded)`` in [0, 1], higher = better, differentiable with respect to the image.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from qtbench import atomic, registry
from qtbench.iqa import fit_util
from qtbench.iqa.api import IQAContext, Member, MemberConfig

TRAIN_VERSION = 1  # bump when the training code changes its results (invalidates the cache)


class DegProbNet(nn.Module):
    """Three stride-2 3x3 convs + global mean/std pooling + linear: ~14k parameters at ``width`` 16.

    Mean and standard-deviation pooling: haze, rain or low light change global contrast and feature spread,
    not only local texture, and the std pooling lets the head see that with so few layers.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(3, w, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(4 * w, 1)

    def forward(self, x: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] logit of P(degraded)."""
        f = self.body(x * 2.0 - 1.0).flatten(2)
        return self.head(torch.cat([f.mean(-1), f.std(-1, unbiased=False)], dim=1)).reshape(-1)


def _batch(train: Any, opts: Any, size: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """One balanced batch: ``opts.batch`` clean crops (label 0) and as many degraded ones (label 1)."""
    b = int(opts.batch)
    clean, deg = fit_util.paired_crops(train, b, size, rng)
    n_t = round(b * float(opts.target_frac)) if len(train.target_inputs) else 0
    if n_t:
        deg[:n_t] = fit_util.random_crops(train.target_inputs, n_t, size, rng)
    x = torch.cat([clean, deg])
    if rng.random() < 0.5:  # flips carry no degradation information
        x = x.flip(-1)
    y = torch.cat([torch.zeros(b), torch.ones(b)])
    return x, y


def train_degprob(ctx: IQAContext, opts: Any) -> tuple[DegProbNet, dict[str, float]]:
    """Train the detector on ``ctx.train`` (see the module docstring); returns the net and training stats.

    Args:
        ctx: run context (training data, seed, device).
        opts: ``iqa.degprob`` options (width, iters, batch, crop, lr, target_frac).
    """
    train = ctx.train
    size = fit_util.crop_size(int(opts.crop), list(train.source.inputs) + list(train.target_inputs))
    rng = np.random.default_rng([ctx.seed, 0xDE6])
    with torch.random.fork_rng(devices=[]):  # leave the run's global RNG stream untouched
        torch.manual_seed(ctx.seed)
        net = DegProbNet(int(opts.width)).to(ctx.device)
    opt = torch.optim.Adam(net.parameters(), lr=float(opts.lr))
    losses, accs = [], []
    net.train()
    for _ in tqdm(range(int(opts.iters)), desc="degprob: training", disable=not ctx.progress, leave=False):
        x, y = _batch(train, opts, size, rng)
        x, y = x.to(ctx.device), y.to(ctx.device)
        logit = net(x)
        loss = F.binary_cross_entropy_with_logits(logit, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
        accs.append(((logit > 0).float() == y).float().mean().detach())
    tail = max(1, len(losses) // 10)  # statistics of the last 10 % of iterations
    stats = {"loss": float(torch.stack(losses[-tail:]).mean()), "acc": float(torch.stack(accs[-tail:]).mean()),
             "crop": float(size)}
    return net.eval(), stats


@registry.iqa.register("degprob", "1 - P(degraded) from a small CNN trained on the run's training data (offline)",
                       source="offline stand-in for DA-CLIP 1 - P(hazy), docs/method.md §3.1")
class DegProbMember(Member):
    """``1 - P(degraded)``; range [0, 1], higher better, differentiable, parameters frozen.

    Args:
        net: the trained :class:`DegProbNet`.
        stats: training statistics (loss, accuracy over the last iterations).
    """

    differentiable = True
    lower_better = False
    lo, hi = 0.0, 1.0

    def __init__(self, net: DegProbNet, stats: dict[str, float]) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.stats = stats

    def raw(self, images: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] ``1 - P(degraded)``; grad flows to ``images`` when grad is enabled."""
        return 1.0 - torch.sigmoid(self.net(images))

    @classmethod
    def build(cls, cfg: MemberConfig, iqa_cfg: Any, ctx: IQAContext) -> DegProbMember:
        """Load this run's trained detector from the cache, or train and cache it.

        Args:
            cfg: member config.
            iqa_cfg: the run's ``iqa`` section (``iqa_cfg.degprob`` holds the training options).
            ctx: run context.
        """
        opts = iqa_cfg.degprob
        path = fit_util.cache_path("degprob", ctx, opts, TRAIN_VERSION, "pt")
        if path.is_file():
            blob = torch.load(path, map_location="cpu", weights_only=True)
            net = DegProbNet(int(opts.width))
            net.load_state_dict(blob["state_dict"])
            stats = blob["stats"]
        else:
            net, stats = train_degprob(ctx, opts)
            buf = io.BytesIO()
            torch.save({"state_dict": net.cpu().state_dict(), "stats": stats}, buf)
            atomic.write_bytes(path, buf.getvalue())
        member = cls(net, stats)
        member.cache_file = str(path)
        return member.configure(cfg).to(ctx.device)
