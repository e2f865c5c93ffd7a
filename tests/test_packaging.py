"""Packaging: the plugins folder ``methods/`` installs as ``qtbench_methods`` (never a top-level ``methods``),
every package folder is listed, and the entry points name modules that exist."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _folder(package: str) -> Path:
    top, _, rest = package.partition(".")
    base = ROOT / SETUPTOOLS.get("package-dir", {}).get(top, top)
    return base.joinpath(*rest.split(".")) if rest else base


def test_every_package_folder_is_installed_and_methods_under_its_own_name():
    listed = set(SETUPTOOLS["packages"])
    # every folder, as namespace discovery finds them (conf/ holds only YAML: package data of its own)
    found = {".".join(d.relative_to(ROOT).parts) for d in [ROOT / "qtbench", *(ROOT / "qtbench").rglob("*")]
             if d.is_dir() and "__pycache__" not in d.parts}
    assert found <= listed, f"package folders missing from [tool.setuptools] packages: {sorted(found - listed)}"
    assert SETUPTOOLS["package-dir"] == {"qtbench_methods": "methods"}
    assert "methods" not in listed and not any(p.startswith("methods.") for p in listed)
    assert all(_folder(p).is_dir() for p in listed) and (_folder("qtbench_methods") / "__init__.py").exists()


def test_entry_points_name_installed_modules():
    groups = PYPROJECT["project"]["entry-points"]
    values = [v for group in groups.values() for v in group.values()]
    assert values and not any(v.split(".")[0] == "methods" for v in values)
    for v in values:
        package, _, module = v.rpartition(".")
        assert package in SETUPTOOLS["packages"] and (_folder(package) / f"{module}.py").exists(), v


def test_plugins_import_as_qtbench_methods():
    import qtbench_methods
    from qtbench_methods.bank import MemoryBank

    assert Path(qtbench_methods.__file__).parent.name in ("methods", "qtbench_methods")
    assert MemoryBank.__module__ == "qtbench_methods.bank"


def test_the_sweep_cache_fingerprint_covers_the_plugins_folder():
    import qtbench_methods
    from qtbench.launch.expand import fingerprint_roots

    assert Path(qtbench_methods.__file__).parent in fingerprint_roots()
