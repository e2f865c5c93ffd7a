"""An ensemble member wrapping any pyiqa no-reference metric by name (docs/method.md §3.1).

Normalisation range and direction come from pyiqa's metadata (``DEFAULT_CONFIGS[name]['score_range']``,
``lower_better``), overridable per member by :class:`~qtbench.iqa.config.MemberConfig` — that is how the
official MUSIQ and BRISQUE normalisations are written (presets.py). Weight files are checked before the
metric is built and pyiqa is never allowed to download (weights.py).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import torch
from torch import Tensor

from qtbench.errors import UserError
from qtbench.iqa import weights
from qtbench.iqa.api import IQAContext, Member, MemberConfig

# Metrics whose pyiqa network passes gradients from score to input (checked: MUSIQ's multi-scale patching and
# transformer, CLIP-IQA's CLIP forward). Hand-crafted ones (piqe, brisque, niqe...) use rounding, thresholds or
# SVMs: their "gradient" is zero or meaningless, so they are scored under no_grad. Extend after checking.
_DIFFERENTIABLE = re.compile(r"^(musiq|clipiqa)")
# Metrics whose pyiqa code only accepts one image per call (looped inside raw(); batched = False). None of the
# metrics qtbench uses is among them: piqe, brisque, niqe, musiq and clipiqa score batches per image.
_PER_IMAGE: frozenset[str] = frozenset()


def _parse_range(text: str) -> tuple[float, float]:
    """pyiqa's ``score_range`` string (``"~0, ~100"``; ``~`` = approximate) -> ``(lo, hi)``."""
    lo, hi = (float(part.strip().lstrip("~")) for part in text.split(","))
    return lo, hi


def pyiqa_metadata(name: str) -> dict[str, Any]:
    """pyiqa's config of NR metric ``name``.

    Raises:
        UserError: unknown or full-reference metric.
    """
    from pyiqa.default_model_configs import DEFAULT_CONFIGS  # lazy: importing pyiqa takes ~2 s

    if name not in DEFAULT_CONFIGS:
        close = difflib.get_close_matches(name, list(DEFAULT_CONFIGS), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"unknown IQA member / pyiqa metric {name!r}{hint}")
    meta = DEFAULT_CONFIGS[name]
    if meta["metric_mode"] != "NR":
        raise UserError(f"pyiqa metric {name!r} is full-reference; IQA members must be no-reference (NR)")
    return meta


class PyiqaMember(Member):
    """A pyiqa NR metric as an ensemble member.

    Args:
        cfg: member config; ``lo``/``hi``/``lower_better`` default to pyiqa's metadata.
        device: where the metric runs.

    Raises:
        UserError: unknown metric, missing weight file (names file, cache dir and ``qtbench weights fetch``),
            missing optional package.
    """

    def __init__(self, cfg: MemberConfig, device: torch.device | str = "cpu") -> None:
        super().__init__()
        meta = pyiqa_metadata(cfg.name)
        if "score_range" in meta:
            self.lo, self.hi = _parse_range(meta["score_range"])
        elif cfg.lo is None or cfg.hi is None:
            raise UserError(f"pyiqa metric {cfg.name!r} publishes no score range; set lo and hi in its member config")
        self.lower_better = bool(meta["lower_better"]) if "lower_better" in meta else False
        self.configure(cfg)
        self.metric = cfg.name
        self.differentiable = bool(_DIFFERENTIABLE.match(cfg.name))
        self.batched = cfg.name not in _PER_IMAGE
        self.net = self._build(cfg.name, device)

    @staticmethod
    def _build(name: str, device: torch.device | str) -> torch.nn.Module:
        import pyiqa

        kwargs = weights.require(name)  # UserError before any construction when a file is missing
        try:
            with weights.no_downloads():
                metric = pyiqa.create_metric(name, as_loss=False, device=torch.device(device), **kwargs)
        except weights._DownloadBlocked as exc:
            raise weights.blocked_error(name, exc) from None
        except ImportError as exc:
            raise UserError(f"pyiqa metric {name!r} needs an optional package that is not installed ({exc})") from None
        except OSError as exc:  # e.g. an HF-hub backbone with HF_HUB_OFFLINE=1
            raise UserError(f"pyiqa metric {name!r} could not load its weights offline ({type(exc).__name__}: "
                            f"{exc}); run `qtbench weights fetch --metric {name}` on a machine with network") from None
        # keep the bare network: InferenceModel.forward forces no_grad unless built as a loss (docs/method.md §21.10)
        return metric.net.eval()

    def _score(self, x: Tensor) -> Tensor:
        if self.batched:
            return self.net(x).reshape(-1)
        return torch.cat([self.net(x[i : i + 1]).reshape(-1) for i in range(x.shape[0])])

    def raw(self, images: Tensor) -> Tensor:
        """[N,3,H,W] in [0,1] -> [N] raw pyiqa scores (float32); grad only for differentiable metrics."""
        cudnn = torch.backends.cudnn
        # no TF32 in cuDNN convolutions: PIQE's block thresholds turned TF32 rounding into 0.1 normalised
        # score jumps between batched and one-image scoring on an H100 (a no-op on CPU)
        with torch.set_grad_enabled(self.differentiable and torch.is_grad_enabled()), cudnn.flags(
                enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic, allow_tf32=False):
            return self._score(images).to(torch.float32)

    @classmethod
    def build(cls, cfg: MemberConfig, iqa_cfg: Any, ctx: IQAContext) -> PyiqaMember:
        """Factory with the signature every member shares (ensemble.py); ``niqe`` gets its own class."""
        if cls is PyiqaMember and cfg.name == "niqe":
            from qtbench.iqa.niqe_member import NIQEMember

            return NIQEMember.build(cfg, iqa_cfg, ctx)
        return cls(cfg, ctx.device)
