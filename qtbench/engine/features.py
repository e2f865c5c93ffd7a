"""Frozen feature extractors for perceptual and contrastive losses (docs/frameworks.md §3.3, §4.2; docs/method.md §11).

The official contrastive losses (Semi-UIR, Colabator, QualiTeacher) use VGG19 relu1_1...relu5_1
(torchvision slices, no input normalisation) with layer weights 1/32, 1/16, 1/8, 1/4, 1. VGG19's weights
cannot be downloaded on an offline machine, so the extractor is a config choice (``framework.features``),
recorded in ``summary.json`` under ``framework.features``:

- ``base`` (default, offline): the encoder of the frozen base model (the backbone's ``encode(x)``), one
  feature map per resolution, weighted by the *deepest* official layer weights (3 maps: 1/8, 1/4, 1);
- ``vgg19``: torchvision's VGG19 (IMAGENET1K_V1) loaded from torch's hub cache. It is never downloaded
  here: a missing file is a one-line :class:`~qtbench.errors.UserError` naming the file, the cache dir and
  how to fetch it (checked at compose time by the frameworks' ``validate_config``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from qtbench.errors import UserError

FEATURES = ("base", "vgg19")
# relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 in torchvision's vgg19().features; source: docs/method.md §11
VGG19_LAYERS = (1, 6, 11, 20, 29)
# source: docs/method.md §11, docs/frameworks.md §3.3 (w = 1/32, 1/16, 1/8, 1/4, 1, shallow to deep)
LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"  # torchvision VGG19_Weights.IMAGENET1K_V1


def check_features(name: str) -> None:
    """Compose-time check of a ``features`` choice (no network, no construction).

    Raises:
        UserError: unknown name, or ``vgg19`` whose weight file is not in the cache.
    """
    if name not in FEATURES:
        raise UserError(f"features={name!r}: choose {' or '.join(FEATURES)}")
    if name == "vgg19":
        vgg19_file()


def vgg19_file() -> Path:
    """The VGG19 weight file in torch's hub cache (``$TORCH_HOME/hub/checkpoints``), checked to exist."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_URL.rsplit("/", 1)[1]
    if not path.is_file():
        raise UserError(
            f"features=vgg19 needs {path.name}, not found in {path.parent} ($TORCH_HOME/hub/checkpoints); on a "
            f"machine with network run `python -c \"import torchvision; torchvision.models.vgg19(weights="
            f"'IMAGENET1K_V1')\"` and copy {path.name} there, or use features=base (offline)")
    return path


class FeatureExtractor(nn.Module):
    """Frozen multi-layer features: ``forward(x)`` -> list of maps, shallow to deep; ``weights`` per map."""

    name: str = ""
    weights: tuple[float, ...] = ()


class EncoderFeatures(FeatureExtractor):
    """The base model's encoder (offline default).

    Args:
        base: a frozen backbone with ``encode(x) -> list[Tensor]`` (qtbench's U-Net has one).
    """

    name = "base"

    def __init__(self, base: nn.Module) -> None:
        super().__init__()
        if not hasattr(base, "encode"):
            raise UserError(f"features=base needs a backbone with an encode(x) method; {type(base).__name__} has "
                            "none: use features=vgg19")
        self.base = base.requires_grad_(False).eval()
        n = len(self.base.encode(torch.zeros(1, 3, 16, 16, device=next(base.parameters()).device)))
        self.weights = LAYER_WEIGHTS[-n:] if n <= len(LAYER_WEIGHTS) else (1.0,) * n

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.base.encode(x)


class VGG19Features(FeatureExtractor):
    """torchvision VGG19 up to relu5_1, from the cached IMAGENET1K_V1 weights (no input normalisation)."""

    name = "vgg19"
    weights = LAYER_WEIGHTS

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import vgg

        layers = vgg.make_layers(vgg.cfgs["E"])[: VGG19_LAYERS[-1] + 1]
        for m in layers:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # intermediate outputs are kept for the loss
        state = torch.load(vgg19_file(), map_location="cpu", weights_only=True, mmap=True)
        layers.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                if k.startswith("features.") and int(k.split(".")[1]) < len(layers)})
        self.layers = layers.requires_grad_(False).eval()

    def forward(self, x: Tensor) -> list[Tensor]:
        out = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in VGG19_LAYERS:
                out.append(x)
        return out


def build_features(name: str, base: nn.Module | None, device: torch.device) -> FeatureExtractor:
    """The extractor ``name`` (``base`` uses ``base``'s encoder) on ``device``."""
    check_features(name)
    if name == "vgg19":
        return VGG19Features().to(device)
    if base is None:
        raise RuntimeError("features=base: the trainer passed no base model")
    return EncoderFeatures(base).to(device)


def contrastive_ratio(features: FeatureExtractor, anchor: Tensor, positive: Tensor, negative: Tensor,
                      eps: float) -> Tensor:
    """Per-sample contrastive regulariser (Semi-UIR §3.3 step 4; Colabator/QualiTeacher ``L_cp``).

    ``sum_l w_l * mean|phi_l(a) - phi_l(p)| / (mean|phi_l(a) - phi_l(n)| + eps)``, per sample: the official
    code averages each layer's L1 over the batch before dividing; per sample is the same at batch 1
    (Colabator's effective batch) and lets dropped or weighted labels count as they do in the L1 term.

    Args:
        features: frozen extractor; gradients reach ``anchor`` only.
        anchor: [N,3,h,w] student outputs.
        positive: [N,3,h,w] pseudo-labels.
        negative: [N,3,h,w] degraded (strong-view) inputs.
        eps: added to the denominator (Semi-UIR 1e-7; Colabator 0).

    Returns:
        [N] ratios.
    """
    with torch.no_grad():
        pn = features(torch.cat([positive, negative]))
    fa = features(anchor)
    n = anchor.shape[0]
    total = anchor.new_zeros(n)
    for w, a, both in zip(features.weights, fa, pn):
        pos = (a - both[:n]).abs().flatten(1).mean(1)
        neg = (a - both[n:]).abs().flatten(1).mean(1)
        total = total + w * pos / (neg + eps)
    return total

