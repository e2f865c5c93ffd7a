"""Every citation a user can follow leads somewhere: cited repository files exist, every ``docs/PAGE.md §N`` names
a heading of that page, no text cites a note that is not in the repository, and no text refers to a project
issue by number (a user who clones qtbench cannot open it)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh"}
DIRS = ("qtbench", "methods", "sweeps", "tests", "docs", "scripts", ".ci")
TOP = ("README.md", "BENCHMARKS.md", "pyproject.toml")
# the rewrite script and this test spell out the old names on purpose
SELF = {Path("scripts/rewrite_citations.py"), Path("tests/test_docs_citations.py")}


def _files(extra_glob: str | None = None) -> list[Path]:
    out = [ROOT / name for name in TOP]
    for d in DIRS:
        for p in sorted((ROOT / d).rglob("*")):
            if p.is_file() and (p.suffix in SUFFIXES or p.name == "run") and "__pycache__" not in p.parts:
                out.append(p)
    if extra_glob:
        out += sorted(ROOT.glob(extra_glob))
    return [p for p in out if p.exists() and p.relative_to(ROOT) not in SELF]


def _lines(files: list[Path]):
    for p in files:
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            yield p.relative_to(ROOT), n, line


# ---- docs pages and their headings

_SECTION = r"\d+(?:\.\d+)*"
# `docs/method.md §4-§9, §15`, ``docs/data.md`` §5–6, docs/method.md §3.2-3.3, docs/method.md §8 and §9
CITE = re.compile(
    rf"docs/(?P<page>[\w-]+)\.md`{{0,2}}(?P<secs>(?:\s*(?:,|;|and)?\s*§\s?{_SECTION}(?:\s*[-–]\s*§?{_SECTION})?)*)")
SECTION_REF = re.compile(rf"§\s?({_SECTION})(?:\s*[-–]\s*§?({_SECTION}))?")


@lru_cache(maxsize=None)
def _headings(page: str) -> frozenset[str]:
    """Section numbers of ``docs/PAGE.md``: headings that start with ``N.`` or ``N.M``."""
    text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
    nums = set()
    for line in text.splitlines():
        m = re.match(rf"#+\s+§?({_SECTION})\.?\s", line)
        if m:
            nums.add(m.group(1))
    return frozenset(nums)


def _cited_sections(secs: str) -> list[str]:
    out = []
    for m in SECTION_REF.finditer(secs):
        out += [g for g in m.groups() if g]
    return out


def test_every_cited_docs_page_and_section_exists():
    missing = []
    for rel, n, line in _lines(_files()):
        for m in CITE.finditer(line):
            page = m.group("page")
            if page.isupper():
                continue  # docs/PAGE.md: a pattern
            if not (ROOT / "docs" / f"{page}.md").exists():
                missing.append(f"{rel}:{n}: docs/{page}.md does not exist")
                continue
            for sec in _cited_sections(m.group("secs")):
                if sec not in _headings(page):
                    missing.append(f"{rel}:{n}: docs/{page}.md has no section {sec}")
    assert not missing, "\n".join(missing)


def test_the_section_parser_reads_ranges_lists_and_backticks():
    m = CITE.search("(``docs/method.md`` §4-§9, §15; docs/x)")
    assert _cited_sections(m.group("secs")) == ["4", "9", "15"]
    m = CITE.search("docs/data.md §5–6 and docs/method.md §3.2-3.3")
    assert _cited_sections(m.group("secs")) == ["5", "6"]
    assert _cited_sections(CITE.search("docs/method.md §3.2-3.3 (x)").group("secs")) == ["3.2", "3.3"]
    assert _cited_sections(CITE.search("docs/feasibility.md, 8 photos").group("secs")) == []


# ---- notes that are not in the repository

OLD_NOTE = re.compile(r"(?<![\w/.\-])(?:research/)?(?:DESIGN|method|baselines|data|feasibility|install|anchors)\.md"
                      r"|shared/research/|/work/shared")


def test_nothing_cites_a_note_outside_the_repository():
    bad = []
    for rel, n, line in _lines(_files()):
        for m in OLD_NOTE.finditer(line):
            before = line[max(0, m.start() - 2):m.start()]
            if rel.parts[0] == "docs" and before == "](":
                continue  # a relative link between docs pages
            bad.append(f"{rel}:{n}: {m.group(0)}  (run scripts/rewrite_citations.py)")
    assert not bad, "\n".join(bad)


# ---- cited repository paths

PATH = re.compile(r"(?<![\w./\-])((?:qtbench|methods|sweeps|tests|docs|scripts|results|\.ci)/[\w./+\-]*\w)")
# NAME, SWEEP, X, <hash>, {a,b}, *.json: patterns, not files
PLACEHOLDER = re.compile(r"(?:^|[/_.\-])[A-Z]+(?:[/_.\-]|$)|<|\{|\*")


def test_every_cited_repository_path_exists():
    missing = []
    for rel, n, line in _lines(_files()):
        for m in PATH.finditer(line):
            path = m.group(1).rstrip(".")
            end = line[m.end():m.end() + 1]
            if PLACEHOLDER.search(path) or (end and end in "{*<"):
                continue
            if re.search(r"/\s*[\"']$", line[:m.start()]):
                continue  # joined to a directory in code (runs / "sweeps/x/cells.json"): not a repository path
            if "." not in Path(path).name:  # a folder, or a prefix like tests/test_iqa_
                if not (ROOT / path).exists() and not list((ROOT / path).parent.glob(Path(path).name + "*")):
                    missing.append(f"{rel}:{n}: {path}")
                continue
            if path.startswith(("results/tuning/", "results/tables/", "results/figures/")) and not (ROOT / path).exists():
                # produced by a command the text shows (tune report, table, plot), for names the reader chooses
                continue
            if not (ROOT / path).exists():
                missing.append(f"{rel}:{n}: {path}")
    assert not missing, "\n".join(missing)


# ---- project issues by number

ISSUE = re.compile(r"\bissues?\s*[-#]?\s*\d+", re.IGNORECASE)


@pytest.mark.parametrize("extra", ["results/**/*.md"])
def test_no_text_refers_to_a_project_issue_by_number(extra):
    found = [f"{rel}:{n}: {line.strip()}" for rel, n, line in _lines(_files(extra))
             if ISSUE.search(line)]
    assert not found, "\n".join(found)


# ---- the rewrite script itself

def _rewrite_text():
    import importlib.util

    spec = importlib.util.spec_from_file_location("rewrite_citations", ROOT / "scripts" / "rewrite_citations.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.rewrite_text


@pytest.mark.parametrize("old, new", [
    ("(DESIGN.md §2)", "(docs/architecture.md §2)"),
    ("method.md §8-§9", "docs/method.md §8-§9"),
    ("research/data.md §5–6", "docs/data.md §5–6"),
    ("``shared/research/data.md`` §2", "``docs/data.md`` §2"),
    ("`../shared/research/baselines.md`", "`docs/frameworks.md`"),
    ("anchors.md §D2", "docs/architecture.md §9"),
    ("docs/method.md §8", "docs/method.md §8"),          # already rewritten: never docs/docs/
    ("[method](method.md)", "[method](method.md)"),      # relative link inside docs/
    ("metadata.md, foo/install.md", "metadata.md, foo/install.md"),
])
def test_the_rewrite_is_a_renaming_and_idempotent(old, new):
    rewrite = _rewrite_text()
    assert rewrite(old) == new
    assert rewrite(rewrite(old)) == new
