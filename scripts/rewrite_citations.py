#!/usr/bin/env python3
"""Point every citation of a project reference at its page under ``docs/``.

Early qtbench code cited its reference notes by bare file name (``method.md §8``, ``DESIGN.md §2``,
``research/data.md``), and those notes were not part of the repository. Their content now lives in
``docs/`` with the same section numbers, so the rewrite is purely a change of file name:

    DESIGN.md -> docs/architecture.md        method.md      -> docs/method.md
    baselines.md -> docs/frameworks.md       data.md        -> docs/data.md
    feasibility.md -> docs/feasibility.md    install.md     -> docs/install.md
    anchors.md [§X] -> docs/architecture.md §9 (the style section)

Section numbers are kept; a relative Markdown link target (``](method.md)`` inside ``docs/``) is left alone. The
script is idempotent (``docs/method.md`` is never prefixed again), prints every
line it changes, and with ``--check`` changes nothing and exits 1 when a rewrite is pending (for CI, or after
merging a branch written before ``docs/`` existed).

Usage: ``python scripts/rewrite_citations.py [--check] [ROOT]``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

# old reference name -> page under docs/
PAGES = {"DESIGN": "architecture", "method": "method", "baselines": "frameworks", "data": "data",
         "feasibility": "feasibility", "install": "install"}
_NAMES = "|".join(PAGES)

RULES: list[tuple[re.Pattern, object]] = [
    # the style section absorbed the old list of admired code bases; its letters (§A6, §D2) have no page
    (re.compile(r"(?:(?:\.\./)*(?:/work/)?shared/research/|(?<![\w/.\-])research/|(?<![\w/.\-]))"
                r"anchors\.md(?:\s?§\s?[A-Z]\d*(?:\.\d+)?)?"),
     "docs/architecture.md §9"),
    # path forms: ../shared/research/X.md, /work/shared/DESIGN.md, research/X.md
    (re.compile(rf"(?:(?:\.\./)*(?:/work/)?shared/(?:research/)?|(?<![\w/.\-])research/|(?<![\w/.\-])(?<!\]\())"
                rf"({_NAMES})\.md"),
     lambda m: f"docs/{PAGES[m.group(1)]}.md"),
]

SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".tex", ".txt", ".cfg"}
EXTRA = {".ci/run"}  # tracked text files without a suffix
# files that name the old references on purpose (this rewrite and its test)
SKIP = {"scripts/rewrite_citations.py", "tests/test_docs_citations.py"}


def rewrite_text(text: str) -> str:
    """``text`` with every old citation rewritten (unchanged when there is none)."""
    for pattern, repl in RULES:
        text = pattern.sub(repl, text)
    return text


def tracked_files(root: Path) -> list[Path]:
    """Git-tracked text files under ``root`` that may hold citations."""
    out = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    files = []
    for rel in out.splitlines():
        if rel in SKIP:
            continue
        p = Path(rel)
        if p.suffix in SUFFIXES or rel in EXTRA:
            files.append(root / p)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root", nargs="?", default=".", help="repository root (default: .)")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a rewrite is pending")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    changed = 0
    for path in tracked_files(root):
        try:
            old = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        new_lines = []
        for n, line in enumerate(old.splitlines(keepends=True), 1):
            new = rewrite_text(line)
            if new != line:
                changed += 1
                print(f"{path.relative_to(root)}:{n}: {line.strip()}\n    -> {new.strip()}")
            new_lines.append(new)
        new_text = "".join(new_lines)
        if new_text != old and not args.check:
            path.write_text(new_text, encoding="utf-8")
    verb = "would change" if args.check else "changed"
    print(f"{verb} {changed} line(s)")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
