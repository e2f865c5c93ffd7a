"""qtbench's one door to pyiqa: reading a metric's metadata, building it offline-safely, calling it.

Every reader of pyiqa goes through here: ensemble members (:mod:`qtbench.iqa.pyiqa_member`,
:mod:`qtbench.iqa.niqe_member`), evaluation metrics (:class:`qtbench.eval.metrics.NRMetric`), the config's
member-name check and the bench's random-weights MUSIQ. Three rules live here and nowhere else:

- **metadata** (``score_range``, ``lower_better``, NR or FR) comes from pyiqa's ``DEFAULT_CONFIGS``;
- **construction** checks the weight files first (:func:`qtbench.iqa.weights.require`), then builds the
  metric with downloads blocked (members) or under a socket timeout (evaluation metrics), and turns every
  failure into a one-line :class:`UserError`;
- **calling** a bare pyiqa network (members) happens with cuDNN TF32 off (:func:`scoring`).

pyiqa and torch are imported lazily: importing pyiqa takes ~2 s and ``qtbench config`` must not pay for it.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from qtbench.errors import UserError
from qtbench.iqa import weights

if TYPE_CHECKING:
    import torch

# a firewalled host that drops packets would otherwise block forever while an evaluation metric downloads
DOWNLOAD_TIMEOUT_S = weights.DOWNLOAD_TIMEOUT_S


# Metrics whose pyiqa network passes gradients from score to input (checked: MUSIQ's multi-scale patching and
# transformer, CLIP-IQA's CLIP forward). Hand-crafted ones (piqe, brisque, niqe...) use rounding, thresholds or
# SVMs: their "gradient" is zero or meaningless, so they are scored under no_grad. Extend after checking.
_DIFFERENTIABLE = re.compile(r"^(musiq|clipiqa)")
# Metrics whose pyiqa code only accepts one image per call (members loop over the batch). None of the
# metrics qtbench uses is among them: piqe, brisque, niqe, musiq and clipiqa score batches per image.
_PER_IMAGE: frozenset[str] = frozenset()


def _configs() -> dict[str, dict[str, Any]]:
    from pyiqa.default_model_configs import DEFAULT_CONFIGS  # lazy: importing pyiqa takes ~2 s

    return DEFAULT_CONFIGS


def version() -> Optional[str]:
    """The installed pyiqa's version (None when it publishes none)."""
    import pyiqa

    return getattr(pyiqa, "__version__", None)


def nr_names() -> list[str]:
    """Names of pyiqa's no-reference metrics (pyiqa's order)."""
    return [k for k, v in _configs().items() if v["metric_mode"] == "NR"]


@dataclass(frozen=True)
class MetricInfo:
    """pyiqa's metadata of one NR metric.

    Attributes:
        name: the metric name.
        lower_better: a lower score means a better image (False when pyiqa says nothing).
        score_range: pyiqa's range string, e.g. ``"0, 100"`` (``"~0, ~100"`` when approximate); ``""`` when none.
        differentiable: gradients flow from score to input (qtbench's check of the network, not pyiqa's metadata).
        batched: pyiqa scores a whole batch in one call (qtbench's check).
    """

    name: str
    lower_better: bool
    score_range: str
    differentiable: bool
    batched: bool

    def bounds(self) -> Optional[tuple[float, float]]:
        """``score_range`` as ``(lo, hi)`` (``~`` = approximate is dropped); None when pyiqa publishes none."""
        if not self.score_range:
            return None
        lo, hi = (float(part.strip().lstrip("~")) for part in self.score_range.split(","))
        return lo, hi


def info(name: str, what: str = "pyiqa metric") -> MetricInfo:
    """pyiqa's metadata of NR metric ``name`` (case-sensitive, as pyiqa).

    Args:
        name: a pyiqa metric name.
        what: what the caller calls it, for the message (``"IQA member / pyiqa metric"``).

    Raises:
        UserError: unknown (with close matches) or full-reference metric.
    """
    configs = _configs()
    if name not in configs:
        close = difflib.get_close_matches(name, list(configs), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see pyiqa.list_models(metric_mode='NR')"
        raise UserError(f"unknown {what} {name!r}{hint}")
    meta = configs[name]
    if meta["metric_mode"] != "NR":
        raise UserError(f"pyiqa metric {name!r} is full-reference; a no-reference (NR) metric is needed here")
    return MetricInfo(name, lower_better=bool(meta.get("lower_better", False)),
                      score_range=str(meta.get("score_range", "")),
                      differentiable=bool(_DIFFERENTIABLE.match(name)), batched=name not in _PER_IMAGE)


# ---- construction -------------------------------------------------------------------------------------


class _DownloadBlocked(OSError):
    def __init__(self, url: str) -> None:
        super().__init__(f"download of {url} blocked")
        self.url = url


@contextlib.contextmanager
def no_downloads() -> Iterator[None]:
    """Make pyiqa's download functions raise instead of touching the network (member construction)."""
    import pyiqa.utils.download_util as dl
    from pyiqa.archs import clip_model

    def blocked_url(url: str, *args: Any, **kwargs: Any) -> None:
        raise _DownloadBlocked(url)

    saved = (dl.download_url_to_file, clip_model._download)
    dl.download_url_to_file, clip_model._download = blocked_url, blocked_url
    try:
        # pyiqa prints "Downloading: ..." before it calls the (blocked) download: keep that out of the logs
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        dl.download_url_to_file, clip_model._download = saved


def _blocked_error(metric: str, exc: _DownloadBlocked) -> UserError:
    name = exc.url.rsplit("/", 1)[-1] if exc.url else "?"
    return UserError(
        f"IQA metric {metric!r} needs weight file {name!r}, which is not in the cache dir {weights.cache_dir()} "
        f"({exc.url}); run `qtbench weights fetch --metric {metric}` (or `{weights.FETCH_COMMAND}`) on a machine "
        f"with network access and copy {weights.hub_dir()} here")


def check_weights(name: str, offline: bool = True) -> dict[str, Any]:
    """The weights check done before any construction; returns the extra ``create_metric`` kwargs.

    Args:
        name: pyiqa metric name.
        offline: every manifest file must be in the cache (members). False (evaluation metrics): only files
            converted from package-index archives must be; pyiqa may download the others under a timeout.

    Raises:
        UserError: a required file is missing (names file, cache dir and fetch command).
    """
    if offline or weights.from_index(name):
        return weights.require(name)
    return {}


def create(name: str, device: torch.device | str = "cpu", offline: bool = True, pretrained: bool = True) -> Any:
    """Build pyiqa metric ``name`` (pyiqa's ``InferenceModel``, in eval mode): weights check, then construction.

    Args:
        name: pyiqa NR metric name (checked with :func:`info` by the callers).
        device: where it runs.
        offline: members: every download is blocked (no network while a run builds its ensemble). False:
            evaluation metrics, which may download files outside the manifest, with a socket timeout.
        pretrained: False builds random weights (the bench's MUSIQ): no files needed, nothing downloaded.

    Raises:
        UserError: missing weight file, blocked or failed download, missing optional package (one line).
    """
    import pyiqa
    import torch

    kwargs = check_weights(name, offline) if pretrained else {"pretrained": False}
    guard = no_downloads() if offline else weights.download_timeout(DOWNLOAD_TIMEOUT_S)
    try:
        with guard:
            metric = pyiqa.create_metric(name, as_loss=False, device=torch.device(device), **kwargs)
    except _DownloadBlocked as exc:
        raise _blocked_error(name, exc) from None
    except ImportError as exc:
        raise UserError(f"pyiqa metric {name!r} needs an optional package that is not installed ({exc})") from None
    except OSError as exc:
        # URLError, requests/HF-hub connection errors, LocalEntryNotFoundError (HF_HUB_OFFLINE=1), timeouts
        if offline:
            raise UserError(f"pyiqa metric {name!r} could not load its weights offline ({type(exc).__name__}: "
                            f"{exc}); run `qtbench weights fetch --metric {name}` on a machine with network") from None
        raise UserError(
            f"NR metric {name!r} needs pretrained weights that are not cached and could not be downloaded "
            f"({type(exc).__name__}: {exc}); fetch them on a machine with network access "
            f"(`qtbench weights fetch --metric {name}`) or use an offline metric (piqe, entropy)") from None
    return metric.eval()


# ---- calling ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def scoring() -> Iterator[None]:
    """The policy every pyiqa call runs under: no TF32 in cuDNN convolutions (a no-op on CPU).

    PIQE's block thresholds turned TF32 rounding into 0.1 normalised score jumps between batched and
    one-image scoring on an H100; the caller's other cuDNN flags are kept, and all are restored after.
    It reaches bare networks (``create(...).net``, as members call them): pyiqa's ``InferenceModel.forward``
    sets its own cuDNN flags inside.
    """
    import torch

    cudnn = torch.backends.cudnn
    with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                     allow_tf32=False):
        yield
