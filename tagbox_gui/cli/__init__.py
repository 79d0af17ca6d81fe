"""The `tagbox` command line: one sub-command per module of this package.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit status. Errors a user
can fix are raised as :class:`tagbox_gui.core.errors.UserError` and printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tagbox_gui import __version__
from tagbox_gui.core.errors import UserError

SUBCOMMANDS = ("tag", "models", "separate", "evaluate")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command that is installed."""
    parser = argparse.ArgumentParser(
        prog="tagbox", description="Separate any instrument you name out of a song."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"tagbox_gui.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tagbox_gui.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tagbox` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"tagbox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tagbox: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
