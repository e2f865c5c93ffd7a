"""``qtbench config``: print the resolved config of a run (and its identity hash) without running it."""

from __future__ import annotations

import argparse

from omegaconf import OmegaConf

from qtbench.cli.run_cmd import add_run_arguments, compose_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("config", help="print the resolved config of a run without running it",
                       description="Compose and validate a run's config exactly as `qtbench run` would, print it "
                       "as YAML with its identity hash and run folder. Nothing is written.")
    add_run_arguments(p)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from qtbench.config.compose import config_hash, run_dir

    cfg = compose_from_args(args)
    print(OmegaConf.to_yaml(cfg, resolve=True), end="")
    print(f"# config hash: {config_hash(cfg)}\n# run dir: {run_dir(cfg)}")
    return 0
