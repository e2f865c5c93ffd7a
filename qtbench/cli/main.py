"""``qtbench`` command line: one sub-command module per verb, each exposing ``register(subparsers)``.

A :class:`~qtbench.errors.UserError` anywhere becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from qtbench import __version__
from qtbench.errors import TrainingDiverged, UserError

# Sub-command modules, in the order ``qtbench --help`` lists them.
COMMANDS = ("run", "compare", "eval", "restore", "config", "ls", "data", "weights", "bench", "sweep", "plan", "tracking",
            "archive", "tune", "table", "plot", "gallery", "report", "iqa")


# storage faults the user fixes outside qtbench: one line, exit code 2, instead of a traceback
_STORAGE_ERRNOS = {errno.ENOSPC: "the disk is full (no space left on device)", errno.EDQUOT: "the disk quota is exceeded",
                   errno.EROFS: "the file system is read-only"}


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors on one line (what is wrong and where the help is), exit code 2, like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command attached."""
    parser = OneLineParser(
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
    args, extra = parser.parse_known_args(argv)
    # KEY=VALUE items after flags (`sweep F --launcher slurm launcher.partition=gpu`) join the command's
    # positional list; argparse alone rejects positionals once that list was consumed before the flags
    dest = getattr(args, "kv_dest", "overrides")
    if extra and isinstance(getattr(args, dest, None), list) and all("=" in e and not e.startswith("-") for e in extra):
        setattr(args, dest, getattr(args, dest) + extra)
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRNOS:
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"qtbench: error: {_STORAGE_ERRNOS[exc.errno]}{where}: free space or write elsewhere (--runs-dir, "
              "$QTBENCH_HOME for the cache); files already written were replaced atomically or left as they were",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qtbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
