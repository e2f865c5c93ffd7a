"""``qtbench`` command line: one sub-command module per verb, each exposing ``register(subparsers)``.

A :class:`~qtbench.errors.UserError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from qtbench import __version__
from qtbench.errors import TrainingDiverged, UserError

# Sub-command modules, in the order ``qtbench --help`` lists them.
COMMANDS = ("run", "compare", "config", "ls", "data", "weights", "bench")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command attached."""
    parser = argparse.ArgumentParser(
        prog="qtbench",
        description="Pseudo-label experiments for real-world image restoration: QualiTeacher and baselines, "
        "on a measurable source->target domain-shift protocol.",
    )
    parser.add_argument("--version", action="version", version=f"qtbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"qtbench.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``qtbench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"qtbench: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"qtbench: training diverged: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `qtbench ls | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("qtbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
