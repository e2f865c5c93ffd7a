"""``qtbench data``: build, check and list the ``debian`` pool of real photographs.

Verbs (sub-subparsers, ``dest="data_command"``, so more can be added next to them):

* ``fetch``  - download the Debian packages and build the pool (``--force`` rebuilds a valid one);
* ``verify`` - check every image against the manifest's sha256 and counts;
* ``show-manifest`` / ``list`` - one line per photo: id, role, licence;
* ``show --task T`` - a PNG contact sheet of a task's source pairs, target images and real photos.
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


def _contact_sheet(args: argparse.Namespace) -> int:
    from qtbench import registry
    from qtbench.config.compose import compose_run
    from qtbench.eval.grid import save_grid

    overrides = [f"task.data.pool={args.pool}"] if args.pool else []
    cfg = compose_run("mt", args.task, args.seed, args.scale, overrides)
    task = registry.tasks.get(cfg.task.name).obj(cfg.task)
    if args.rows < 1:
        raise UserError(f"--rows must be >= 1, got {args.rows}")
    out = Path(args.output or f"{cfg.task.name}-{cfg.task.data.pool}-s{args.seed}.png").expanduser()
    if out.suffix.lower() != ".png":
        raise UserError(f"--output {out}: the contact sheet is a PNG; name it *.png")
    if out.exists() and not args.force:
        raise UserError(f"{out} exists; pass --force to overwrite it")
    view = task.preview(args.seed, args.rows)
    n = max(len(v) for v in view.values())

    def cell(name: str, i: int, clean: bool = False):
        rows = view[name]
        return None if i >= len(rows) else rows[i][2 if clean else 1]

    rows = [[cell("source", i), cell("source", i, True), cell("unlabelled", i), cell("test", i),
             cell("test", i, True), cell("real", i)] for i in range(n)]
    real_head = "real photo" if view["real"] else "real: none"
    save_grid(out, rows, ["source input", "source clean", "target (unlabelled)", "target-test input",
                          "target-test clean", real_head], [f"row {i}" for i in range(n)])
    print(f"{out}  ({cfg.task.name}, {cfg.task.data.pool} pool, seed {args.seed}; real set: {task.real_set_note(0 if not view['real'] else None)})")
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

    sheet = verbs.add_parser("show", help="PNG contact sheet of a task's source pairs, target images and real photos")
    sheet.add_argument("--task", required=True, help="task name (`qtbench ls tasks`)")
    sheet.add_argument("--seed", type=int, default=0, help="photo split and degradations (default: 0)")
    sheet.add_argument("--pool", default=None, help="photo pool (default: the task's, wheels)")
    sheet.add_argument("--scale", default="cpu", help="scale profile that sets the image size (default: cpu)")
    sheet.add_argument("--rows", type=int, default=4, help="photos per column (default: 4)")
    sheet.add_argument("--output", default=None, help="PNG file (default: ./<task>-<pool>-s<seed>.png)")
    sheet.add_argument("--force", action="store_true", help="overwrite an existing --output")
    sheet.set_defaults(handler=_contact_sheet)
    return parser
