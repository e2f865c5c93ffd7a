"""The debian photo pool: verify() on a fake pool, fetch() guards, README/copyright parsing, CLI verbs.

Everything runs offline: no apt-get, no downloads.
"""

from __future__ import annotations

import argparse
import hashlib
import json

import pytest
from PIL import Image

from qtbench.cli import data_cmd
from qtbench.data import debian_pool
from qtbench.data import debian_selection as sel
from qtbench.errors import UserError


def make_pool(root, n=3):
    """A pool folder with ``n`` tiny PNGs and a consistent manifest."""
    (root / "images").mkdir(parents=True)
    photos = []
    for i in range(n):
        pid = f"test-photo{i}"
        path = root / "images" / f"{pid}.png"
        Image.new("RGB", (8, 6), (i * 40, 10, 200)).save(path)
        role = "clean" if i else "real_haze"
        photos.append({"id": pid, "file": f"images/{pid}.png", "role": role, "licence": "CC0-1.0",
                       "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "width": 8, "height": 6})
    counts = {"clean": n - 1, "real_haze": 1, "real_underwater": 0, "real_lowlight": 0}
    manifest = {"pool": "debian", "counts": counts, "excluded": [], "photos": photos}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_verify_ok(tmp_path):
    make_pool(tmp_path)
    assert debian_pool.verify(tmp_path) == []
    assert debian_pool.load_manifest(tmp_path)["pool"] == "debian"


def test_verify_reports_tampered_missing_unexpected(tmp_path):
    make_pool(tmp_path)
    (tmp_path / "images" / "test-photo1.png").write_bytes(b"not the same bytes")
    (tmp_path / "images" / "test-photo2.png").unlink()
    (tmp_path / "images" / "stray.png").write_bytes(b"x")
    problems = debian_pool.verify(tmp_path)
    assert any("sha256 mismatch" in p and "test-photo1" in p for p in problems)
    assert any("missing file" in p and "test-photo2" in p for p in problems)
    assert any("unexpected file" in p and "stray.png" in p for p in problems)
    assert len(problems) == 3


def test_verify_reports_count_mismatch_and_no_pool(tmp_path):
    manifest = make_pool(tmp_path / "pool")
    manifest["counts"]["clean"] = 99
    (tmp_path / "pool" / "manifest.json").write_text(json.dumps(manifest))
    assert any("count mismatch for clean" in p for p in debian_pool.verify(tmp_path / "pool"))
    (problem,) = debian_pool.verify(tmp_path / "empty")
    assert "qtbench data fetch" in problem
    with pytest.raises(UserError):
        debian_pool.load_manifest(tmp_path / "empty")


def test_fetch_without_apt_get_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no apt-get, no dpkg
    with pytest.raises(UserError, match="needs apt-get"):
        debian_pool.fetch(tmp_path / "pool", progress=False)
    assert not (tmp_path / "pool").exists()


def test_gcompris_readme_parsing():
    text = ("Copyright: Someone\nLicense: Public Domain\nSource: https://example.org/a.jpg\nFiles:\n"
            "india/a.webp\n\nCopyright: Other\nLicense: CC-BY-SA 4.0\nb.webp\nc.webp\n"
            "Comment: based on a photo, source at https://example.org/c.jpg\n\n"
            "Copyright: X\nFiles: d.webp\nLicense: CC0-1.0\n")
    info = sel.parse_gcompris_readme(text)
    assert info["india/a.webp"] == {"author": "Someone", "licence": "public-domain",
                                    "source_url": "https://example.org/a.jpg", "comment": None}
    assert info["c.webp"]["licence"] == "CC-BY-SA-4.0"
    assert info["c.webp"]["source_url"] == "https://example.org/c.jpg"
    assert info["d.webp"]["licence"] == "CC0-1.0"


def test_dep5_lookup_last_match_wins():
    text = ("Format: x\n\nFiles: *\nCopyright: 2014 Group\nLicense: GPL-2+\n\n"
            "Files: 16.04/a.jpg\n 16.04/b.jpg\nCopyright: Jo <jo@x.org>\nLicense: CC-BY-4.0\n text\n")
    paras = sel.parse_dep5(text)
    assert sel.dep5_lookup(paras, "16.04/b.jpg") == ("CC-BY-4.0", "Jo")
    assert sel.dep5_lookup(paras, "other/c.jpg") == ("GPL-2+", "2014 Group")
    assert sel.source_path("lomiri-wallpapers-16.04", "usr/share/backgrounds/a.jpg") == "16.04/a.jpg"


def test_selection_is_consistent():
    for group in sel.GROUPS:
        assert group.package in sel.PACKAGES
        assert set(group.roles.values()) <= set(sel.ROLES) and group.default_role in sel.ROLES
        assert not set(group.roles) & set(group.exclude), group.slug
    assert sel.glob_match("india/x.webp", "*/*.webp") and not sel.glob_match("a/b/x.webp", "*/*.webp")


def _cli(argv):
    parser = argparse.ArgumentParser()
    data_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_verify_and_list(tmp_path, capsys):
    make_pool(tmp_path)
    assert _cli(["data", "verify", "--dest", str(tmp_path)]) == 0
    assert "debian pool OK: 3 photos" in capsys.readouterr().out
    assert _cli(["data", "list", "--dest", str(tmp_path)]) == 0
    assert "test-photo0  real_haze" in capsys.readouterr().out
    # a valid pool is left alone without --force (no download is attempted)
    assert _cli(["data", "fetch", "--dest", str(tmp_path)]) == 0
    assert "already" in capsys.readouterr().out
    (tmp_path / "images" / "test-photo0.png").unlink()
    assert _cli(["data", "verify", "--dest", str(tmp_path)]) == 1
    assert "missing file" in capsys.readouterr().out
    with pytest.raises(UserError, match="unknown role"):
        _cli(["data", "list", "--dest", str(tmp_path), "--role", "rain"])


def test_fetch_refuses_a_folder_that_is_not_a_pool(tmp_path, monkeypatch):
    monkeypatch.setattr(debian_pool.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"mine")
    with pytest.raises(UserError, match="not a debian photo pool"):
        debian_pool.fetch(tmp_path / "photos", progress=False)
    assert (tmp_path / "photos" / "holiday.jpg").read_bytes() == b"mine"


def test_download_runs_apt_get_update_only_after_a_failure(tmp_path, monkeypatch):
    # A fake apt-get: "download" fails until "update" has run, then writes an empty .deb per package.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.log"
    script = bindir / "apt-get"
    script.write_text(f"""#!/bin/sh
echo "$@" >> {log}
if [ "$1" = update ]; then touch {tmp_path}/updated; exit 0; fi
[ -e {tmp_path}/updated ] || exit 100
shift
for p in "$@"; do : > "${{p}}_1.0_all.deb"; done
""")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    debs = tmp_path / "debs"
    debs.mkdir()
    found = debian_pool._download(debs, lambda msg: None)
    assert [p.name.split("_")[0] for p in found] == list(sel.PACKAGES)
    calls = log.read_text().splitlines()
    assert calls[0].startswith("download ") and calls[1] == "update"
    assert calls.count("update") == 1
