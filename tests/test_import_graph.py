"""No import loop between the modules of qtbench/ and methods/ (docs/architecture.md, the layers).

Every ``import`` / ``from ... import`` is read with ``ast`` wherever it stands: module level, inside
functions, under ``if TYPE_CHECKING`` or ``if False``. A lazy import does not make a loop harmless to read:
the two modules still depend on each other. Edges go to the module named (``from pkg import mod`` -> ``pkg.mod``
when that is a module, else ``pkg``); the implicit import of parent packages is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the product's packages: import name -> folder (the plugins folder methods/ installs as qtbench_methods)
PACKAGES = {"qtbench": "qtbench", "qtbench_methods": "methods"}


def module_files() -> dict[str, Path]:
    """Dotted module name (as imported) -> file, for every ``.py`` under :data:`PACKAGES`."""
    out = {}
    for pkg, folder in PACKAGES.items():
        assert (ROOT / folder / "__init__.py").is_file(), f"package folder {folder}/ not found: update PACKAGES"
        for f in sorted((ROOT / folder).rglob("*.py")):
            parts = (pkg, *f.relative_to(ROOT / folder).with_suffix("").parts)
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from`` import reads from."""
    if not node.level:
        return node.module or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that ``module`` imports, anywhere in its file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.name
                while name and name not in known:  # `import a.b.func_mod` of a non-module: its package
                    name = name.rpartition(".")[0]
                if name:
                    out.add(name)
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, path.name == "__init__.py", node)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in known:
                    out.add(full)
                elif base in known:
                    out.add(base)
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    files = module_files()
    known = set(files)
    return {m: imports_of(m, f, known) for m, f in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop as ``[a, b, ..., a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if start in state:
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "qtbench.errors" in graph["qtbench.iqa.config"]  # the parser sees edges
    assert "qtbench_methods.pl_common" in graph["qtbench_methods.semiuir"]  # ... between plugins too
    cycle = find_cycle(graph)
    assert cycle is None, "import loop: " + " -> ".join(cycle)


def test_the_checker_finds_lazy_and_relative_imports_and_loops(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    from . import b\n")
    (tmp_path / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.a\n")
    known = {"p.a", "p.b"}
    graph = {"p.a": imports_of("p.a", tmp_path / "a.py", known), "p.b": imports_of("p.b", tmp_path / "b.py", known)}
    assert graph == {"p.a": {"p.b"}, "p.b": {"p.a"}}
    assert find_cycle(graph) == ["p.a", "p.b", "p.a"]
    assert find_cycle({"p.a": {"p.b"}, "p.b": set()}) is None
