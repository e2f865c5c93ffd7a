"""``qtbench data``: build, check and list the ``debian`` pool of real photographs.

Verbs (sub-subparsers, ``dest="data_command"``, so more can be added next to them):

* ``fetch``  - download the Debian packages and build the pool (``--force`` rebuilds a valid one);
* ``verify`` - check every image against the manifest's sha256 and counts;
* ``show-manifest`` / ``list`` - one line per photo: id, role, licence.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from qtbench.errors import UserError


def _dest(args: argparse.Namespace) -> Path | None:
    return Path(args.dest).expanduser() if getattr(args, "dest", None) else None


def _summary(manifest: dict) -> str:
    counts = manifest.get("counts") or Counter(p.get("role") for p in manifest.get("photos", []))
    return ", ".join(f"{role} {n}" for role, n in counts.items())


def _fetch(args: argparse.Namespace) -> int:
    from qtbench.data import debian_pool

    dest = _dest(args) or debian_pool.pool_dir()
    if not args.force and (dest / "manifest.json").is_file():
        problems = debian_pool.verify(dest)
        if not problems:
            manifest = debian_pool.load_manifest(dest)
            print(f"debian pool already at {dest}: {len(manifest['photos'])} photos ({_summary(manifest)}); "
                  "use --force to rebuild it")
            return 0
        print(f"existing pool at {dest} has {len(problems)} problem(s); rebuilding it")
    workdir = Path(args.workdir).expanduser() if args.workdir else None
    manifest_path = debian_pool.fetch(dest, workdir=workdir, progress=not args.quiet)
    print(manifest_path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from qtbench.data import debian_pool

    dest = _dest(args) or debian_pool.pool_dir()
    problems = debian_pool.verify(dest)
    if problems:
        for problem in problems:
            print(problem)
        print(f"debian pool at {dest}: {len(problems)} problem(s); rebuild with `qtbench data fetch --force`")
        return 1
    manifest = debian_pool.load_manifest(dest)
    print(f"debian pool OK: {len(manifest['photos'])} photos ({_summary(manifest)})")
    return 0


def _show(args: argparse.Namespace) -> int:
    from qtbench.data import debian_pool
    from qtbench.data.debian_selection import ROLES

    if args.role and args.role not in ROLES:
        raise UserError(f"unknown role {args.role!r}; choose one of {', '.join(ROLES)}")
    manifest = debian_pool.load_manifest(_dest(args))
    photos = [p for p in manifest.get("photos", []) if not args.role or p.get("role") == args.role]
    width = max((len(p["id"]) for p in photos), default=2)
    print(f"{'id':<{width}}  {'role':<15}  licence")
    for p in photos:
        print(f"{p['id']:<{width}}  {p.get('role', ''):<15}  {p.get('licence', '')}")
    print(f"{len(photos)} photos; {len(manifest.get('excluded', []))} files excluded at build time")
    return 0


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Attach ``data`` and its verbs to the top-level sub-command parsers."""
    parser = subparsers.add_parser("data", help="build and check the pool of real photographs (debian)",
                                   description="Build, check and list the debian pool of real photographs.")
    parser.set_defaults(handler=lambda _args: (parser.print_help(), 2)[1])
    verbs = parser.add_subparsers(dest="data_command", metavar="VERB")

    dest_help = "pool folder (default: <qtbench cache>/pools/debian)"
    fetch = verbs.add_parser("fetch", help="download Debian packages and build the pool (needs apt-get)")
    fetch.add_argument("--dest", help=dest_help)
    fetch.add_argument("--force", action="store_true", help="rebuild even if a valid pool exists")
    fetch.add_argument("--workdir", help="keep downloaded .deb files and unpacked trees here (reused next time)")
    fetch.add_argument("--quiet", action="store_true", help="no progress bars")
    fetch.set_defaults(handler=_fetch)

    verify = verbs.add_parser("verify", help="check the pool's images against its manifest")
    verify.add_argument("--dest", help=dest_help)
    verify.set_defaults(handler=_verify)

    show = verbs.add_parser("show-manifest", aliases=["list"], help="list photos: id, role, licence")
    show.add_argument("--dest", help=dest_help)
    show.add_argument("--role", help="only photos with this role (clean, real_haze, real_underwater, real_lowlight)")
    show.set_defaults(handler=_show)
    return parser
