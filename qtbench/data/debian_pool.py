"""The ``debian`` photo pool: real photographs curated from Debian data packages (see ``debian_selection``).

``fetch`` downloads the packages with ``apt-get download`` (no installation, no root needed unless the
package lists are stale), unpacks them with ``dpkg -x``, converts the selected photos to RGB PNGs of at most
768 px on the long side and writes ``manifest.json``. The pool is built in a temporary sibling folder and
renamed into place at the end, so a crash never leaves a half-written pool.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from qtbench.atomic import write_json
from qtbench.data import debian_selection as sel
from qtbench.errors import UserError
from qtbench.paths import cache_dir

POOL_NAME = "debian"
MAX_SIDE = 768
log = logging.getLogger(__name__)


def pool_dir() -> Path:
    """Default location of the pool: ``<qtbench cache>/pools/debian``."""
    return cache_dir("pools", POOL_NAME)


def load_manifest(dest: Path | None = None) -> dict:
    """The pool's parsed ``manifest.json``; :class:`UserError` if there is no pool at ``dest``."""
    path = Path(dest or pool_dir()) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"no debian photo pool at {path.parent}; run `qtbench data fetch` to build it") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}; rebuild with `qtbench data fetch --force`") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(dest: Path | None = None) -> list[str]:
    """Check the pool against its manifest; returns a list of problems (empty means OK).

    Reports a missing/unreadable manifest, missing images, sha256 or size mismatches, role counts that
    disagree with the photo list, and files under ``images/`` that the manifest does not list.
    """
    dest = Path(dest or pool_dir())
    try:
        manifest = load_manifest(dest)
    except UserError as exc:
        return [str(exc)]
    problems: list[str] = []
    photos = manifest.get("photos", [])
    listed: set[str] = set()
    for photo in photos:
        rel = photo.get("file", "")
        listed.add(rel)
        path = dest / rel
        if not path.is_file():
            problems.append(f"missing file: {rel} ({photo.get('id')})")
        elif _sha256(path) != photo.get("sha256"):
            problems.append(f"sha256 mismatch: {rel} ({photo.get('id')})")
    ids = Counter(p.get("id") for p in photos)
    problems += [f"duplicate id in manifest: {i}" for i, n in ids.items() if n > 1]
    actual = Counter(p.get("role") for p in photos)
    for role in sorted(set(actual) | set(manifest.get("counts", {}))):
        want = manifest.get("counts", {}).get(role, 0)
        if actual.get(role, 0) != want:
            problems.append(f"count mismatch for {role}: manifest says {want}, photo list has {actual.get(role, 0)}")
    images = dest / "images"
    if images.is_dir():
        for path in sorted(images.rglob("*")):
            if path.is_file() and path.relative_to(dest).as_posix() not in listed:
                problems.append(f"unexpected file: {path.relative_to(dest).as_posix()}")
    return problems


# ---- fetching -----------------------------------------------------------------------------------------
def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)  # callers check rc


def _download(debs: Path, say) -> list[Path]:
    """``apt-get download`` every package; ``apt-get update`` only after a first failure."""
    wanted = list(sel.PACKAGES)
    if _run(["apt-get", "download", *wanted], cwd=debs).returncode != 0:
        say("apt-get download failed; running apt-get update and retrying package by package")
        upd = _run(["apt-get", "update"])
        if upd.returncode != 0:
            log.warning("apt-get update failed (%s); retrying with the current package lists",
                        upd.stderr.strip().splitlines()[-1:] or "no message")
        for pkg in wanted:
            if not list(debs.glob(f"{pkg}_*.deb")):
                res = _run(["apt-get", "download", pkg], cwd=debs)
                if res.returncode != 0:
                    log.warning("cannot download %s: %s", pkg, res.stderr.strip()[-300:])
    found = [p for pkg in wanted for p in sorted(debs.glob(f"{pkg}_*.deb"))[-1:]]
    if not found:
        raise UserError("apt-get download fetched none of the photo packages; run `sudo apt-get update` "
                        "(needs a Debian/Ubuntu archive in the apt sources) and retry")
    return found


def _distribution() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "unknown"
    m = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', text, re.MULTILINE)
    return m.group(1) if m else "unknown"


def _to_png(data: bytes, reduce: int) -> tuple[bytes, int, int]:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")  # drops alpha, expands grey/palette
    if reduce > 1:  # box average: an area filter that also tames WebP block artefacts
        im = im.reduce(reduce)
    if max(im.size) > MAX_SIDE:
        scale = MAX_SIDE / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue(), im.width, im.height


def _candidates(group: sel.Group, root: Path, rcc_cache: dict) -> tuple[list[tuple], list[dict]]:
    """``(name, path_in_package, loader, licence_info)`` per selected file of ``group``, plus exclusions."""
    from qtbench.data.rcc import RccFile

    keep, excluded = [], []
    if group.rcc:
        bundle = rcc_cache.setdefault(group.rcc, RccFile(root / group.rcc) if (root / group.rcc).is_file() else None)
        if bundle is None:
            return [], []
        files = [f[len(group.base) + 1:] for f in bundle.files() if f.startswith(group.base + "/")]
        readme_dir = group.readme.rsplit("/", 1)[0]
        try:
            readme = sel.parse_gcompris_readme(bundle.read(group.readme).decode("utf-8", "replace"))
        except KeyError:
            readme = {}
    else:
        base = root / group.base
        files = [p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()] if base.is_dir() else []
        copyright_file = root / "usr/share/doc" / group.package / "copyright"
        paras = sel.parse_dep5(copyright_file.read_text(errors="replace")) if copyright_file.is_file() else []
    for rel in sorted(f for f in files if any(sel.glob_match(f, p) for p in group.patterns)):
        name = sel.photo_name(group, rel)
        in_pkg = f"{group.rcc}:{group.base}/{rel}" if group.rcc else f"{group.base}/{rel}"
        if name in group.exclude:
            excluded.append({"package": group.package, "path": in_pkg, "reason": group.exclude[name]})
            continue
        if group.rcc:
            key = f"{group.base}/{rel}"[len(readme_dir) + 1:]
            info = dict(readme.get(key) or readme.get(sel.README_ALIASES.get(key, ""), {}))
            loader = functools.partial(bundle.read, f"{group.base}/{rel}")
        else:
            licence, holder = sel.dep5_lookup(paras, sel.source_path(group.package, f"{group.base}/{rel}"))
            info = {"licence": licence, "author": holder, "source_url": None, "comment": None}
            meta = root / group.base / name / "metadata.json"  # KDE wallpapers name their photographer
            if group.name_from_dir and meta.is_file():
                authors = json.loads(meta.read_text()).get("KPlugin", {}).get("Authors", [])
                info["author"] = ", ".join(a.get("Name", "") for a in authors) or holder
            loader = (root / group.base / rel).read_bytes
        if info.get("licence") not in sel.KNOWN_LICENCES:
            excluded.append({"package": group.package, "path": in_pkg,
                             "reason": f"unclear licence ({info.get('licence') or 'none found'})"})
            continue
        keep.append((name, in_pkg, loader, info))
    return keep, excluded


def _slug(group: sel.Group, name: str) -> str:
    if group.id_strip and name.endswith(group.id_strip):
        name = name[: -len(group.id_strip)]
    return f"{group.slug}-" + re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-")


def fetch(dest: Path | None = None, *, workdir: Path | None = None, progress: bool = True) -> Path:
    """Build the pool at ``dest`` (default :func:`pool_dir`) and return its ``manifest.json`` path.

    ``workdir`` keeps the downloaded ``.deb`` files and their unpacked trees (reused if the ``.deb`` files
    are already there); by default a temporary folder is used and removed. An existing pool at ``dest`` is
    replaced; a non-empty folder that is not a debian pool is refused.
    """
    for tool in ("apt-get", "dpkg-deb", "dpkg"):
        if shutil.which(tool) is None:
            raise UserError(f"`qtbench data fetch` needs apt-get (Debian/Ubuntu); `{tool}` is not on PATH - "
                            "run it on a Debian/Ubuntu machine and copy the pool folder over")
    dest = Path(dest or pool_dir()).expanduser()
    if dest.exists() and any(dest.iterdir()) and not (dest / "manifest.json").is_file():
        raise UserError(f"{dest} exists and is not a debian photo pool; pick another --dest or remove it")
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    with tempfile.TemporaryDirectory(prefix="qtbench-debian-") as tmp:
        work = Path(workdir) if workdir else Path(tmp)
        (work / "debs").mkdir(parents=True, exist_ok=True)
        have = [p for pkg in sel.PACKAGES for p in sorted((work / "debs").glob(f"{pkg}_*.deb"))[-1:]]
        if len(have) < len(sel.PACKAGES):
            say(f"downloading {len(sel.PACKAGES)} Debian packages (about 310 MB) with apt-get download ...")
            have = _download(work / "debs", say)
        roots, versions = {}, {}
        for deb in tqdm(have, desc="unpacking", unit="deb", disable=not progress):
            pkg = _run(["dpkg-deb", "-f", str(deb), "Package"]).stdout.strip()
            versions[pkg] = _run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
            roots[pkg] = work / "tree" / f"{pkg}_{versions[pkg]}"
            if not roots[pkg].is_dir():  # unpack beside, then rename: a reused workdir never holds half a tree
                partial = roots[pkg].with_name(roots[pkg].name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                res = _run(["dpkg", "-x", str(deb), str(partial)])
                if res.returncode != 0:
                    raise UserError(f"dpkg -x {deb.name} failed: {res.stderr.strip()[-300:]}")
                os.replace(partial, roots[pkg])

        todo, excluded, warnings, rcc_cache = [], [], [], {}
        for group in sel.GROUPS:
            if group.package not in roots:
                warnings.append(f"package {group.package} unavailable; group {group.slug} skipped")
                continue
            keep, excl = _candidates(group, roots[group.package], rcc_cache)
            excluded += excl
            todo += [(group, *k) for k in keep]
            if len(keep) != group.expected:
                warnings.append(f"{group.package} {group.base}: {len(keep)} photos, expected {group.expected}")

        dest.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            stage.chmod(0o755)  # mkdtemp makes it owner-only; the pool is meant to be shared read-only
            (stage / "images").mkdir()
            photos = []
            for group, name, in_pkg, loader, info in tqdm(todo, desc="converting", unit="photo",
                                                           disable=not progress):
                pid = _slug(group, name)
                png, width, height = _to_png(loader(), group.reduce)
                out = stage / "images" / f"{pid}.png"
                out.write_bytes(png)
                notes = "; ".join(x for x in (group.notes.get(name), info.get("comment")) if x)
                photos.append({
                    "id": pid, "file": f"images/{pid}.png", "role": group.roles.get(name, group.default_role),
                    "package": group.package, "version": versions.get(group.package), "path_in_package": in_pkg,
                    "licence": info["licence"], "author": info.get("author"), "source_url": info.get("source_url"),
                    "sha256": hashlib.sha256(png).hexdigest(), "width": width, "height": height, "notes": notes,
                })
            dupes = [i for i, n in Counter(p["id"] for p in photos).items() if n > 1]
            if dupes:
                raise RuntimeError(f"debian selection yields duplicate ids: {dupes}")
            counts = Counter(p["role"] for p in photos)
            for role, want in sel.EXPECTED_ROLE_COUNTS.items():
                if abs(counts.get(role, 0) - want) > max(1, want // 10):
                    warnings.append(f"{role}: {counts.get(role, 0)} photos, expected about {want}")
            for msg in warnings:
                log.warning("debian pool: %s (Debian versions drift; check the selection)", msg)
            write_json(stage / "manifest.json", {
                "pool": POOL_NAME, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "distribution": _distribution(), "counts": {r: counts.get(r, 0) for r in sel.ROLES},
                "packages": versions, "excluded": excluded, "warnings": warnings,
                "photos": sorted(photos, key=lambda p: p["id"]),
            })
            if dest.exists():  # swap: old pool aside, new one in, old one removed
                old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
                os.replace(dest, old)
                os.replace(stage, dest)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(stage, dest)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    say(f"debian pool: {len(photos)} photos ({', '.join(f'{r} {counts.get(r, 0)}' for r in sel.ROLES)}), "
        f"{len(excluded)} excluded -> {dest}")
    return dest / "manifest.json"
