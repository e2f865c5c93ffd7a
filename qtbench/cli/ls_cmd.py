"""``qtbench ls [KIND]``: what is registered (tasks, backbones, frameworks, add-ons, IQA members)."""

from __future__ import annotations

import argparse

from qtbench import registry
from qtbench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ls", help="list registered plugins", description="List registered tasks, backbones, "
                       "frameworks, add-ons and IQA members, with their descriptions and sources.")
    p.add_argument("kind", nargs="?", default=None, help=f"one of {', '.join(registry.REGISTRIES)} (default: all)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    kinds = list(registry.REGISTRIES)
    if args.kind is not None:
        aliases = {"addon": "addons", "add-ons": "addons", "framework": "frameworks", "task": "tasks",
                   "backbone": "backbones"}
        kind = aliases.get(args.kind, args.kind)
        if kind not in registry.REGISTRIES:
            raise UserError(f"unknown kind {args.kind!r}; choose one of {', '.join(kinds)}")
        kinds = [kind]
    for kind in kinds:
        entries = list(registry.REGISTRIES[kind])
        print(f"{kind}:" + ("" if entries else " (none registered)"))
        for e in entries:
            extra = []
            if e.aliases:
                extra.append("aliases: " + ", ".join(e.aliases))
            if e.meta.get("bundle"):
                extra.append("bundle: " + "+".join(e.meta["bundle"]))
            if e.meta.get("requires"):
                extra.append("requires: " + ", ".join(e.meta["requires"]))
            print(f"  {e.name:<14}{e.description}")
            if e.source:
                extra.append("source: " + e.source)
            for line in extra:
                print(f"  {'':<14}  {line}")
        if kind == "iqa":
            _published_members()
    return 0


def _published_members() -> None:
    """pyiqa members whose published models come from the package index, and whether they are fetched."""
    from qtbench.iqa import weights

    for name in weights.load_manifest()["metrics"]:
        files = weights.metric_files(name)
        if not weights.from_index(name):
            continue
        state = "available" if all(f.path().is_file() for f in files) else \
            f"not fetched: {weights.fetch_command(name)}"
        src = files[0].source or {}
        print(f"  {name:<14}pyiqa {name} with the published model ({state})")
        print(f"  {'':<14}  source: {src.get('archive')}:{src.get('member', '').split('/', 1)[-1]}; "
              f"{src.get('model')}")
