"""The `tagbox` command line: one sub-command per module of this package.

Each sub-command module exposes ``register(subparsers)``, which adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit status. Errors a user
can fix are raised as :class:`tagbox_gui.core.errors.UserError` and printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from tagbox_gui import __version__
from tagbox_gui.cli.common import (
    CLOSE_PROGRAMS,
    Terminated,
    check_model_dir_variable,
    dash_name_hint,
)
from tagbox_gui.core.errors import UserError, is_out_of_memory

SUBCOMMANDS = ("tag", "tags", "models", "separate", "evaluate")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, which reads ``-1:3`` as a value, and which
    takes no abbreviated option (a prefix of a longer one is an error).

    Its sub-command parsers are of the same class (argparse makes them like their parent).
    ``fill_help``, if set, completes the help texts the first time the help is shown (e.g. with
    defaults that take importing torch to know).
    """

    fill_help: Callable[[argparse.ArgumentParser], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `evaluate --mode free` must not be read as `--model-dir free`.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        # A word that starts like a negative number is an option's value, not an option, so
        # `--region -1:3` reaches the region's own check instead of "expected one argument".
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """argparse's, remembering the words it parses for :meth:`error`'s hints."""
        self._words = [str(word) for word in (sys.argv[1:] if args is None else args)]
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        """The help page, once ``fill_help`` has completed it."""
        if self.fill_help is not None:
            fill, self.fill_help = self.fill_help, None
            fill(self)
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        """Print one line (what is wrong, with the likely fix where there is one, and where the
        help is) and exit with status 2."""
        words = getattr(self, "_words", [])
        message += dash_name_hint(message, words, self._option_string_actions)
        self.exit(2, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every sub-command that is installed."""
    parser = Parser(prog="tagbox", description="Separate any instrument you name out of a song.")
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
    parser.set_defaults(commands=subparsers.choices)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tagbox` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # reported by the sub-command, with its own hint of the likely fix if it has one
        hint = getattr(args, "stray_hint", None)
        message = f"unrecognized arguments: {' '.join(extra)}"
        args.commands[args.command].error(message + (hint(args, extra) if hint else ""))
    try:
        check_model_dir_variable(args)
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
        return code
    except UserError as exc:
        print(f"tagbox: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:  # where no out_of_memory_said says what ran out
        if not is_out_of_memory(exc):
            raise
        print(f"tagbox: error: ran out of memory; {CLOSE_PROGRAMS}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl+C, or SIGTERM where a command turns it into this
        terminated = isinstance(exc, Terminated)
        print(f"tagbox: {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    except BrokenPipeError:
        # The reader stopped reading (`tagbox models list | head`): say so in one line, as for
        # any other error, and let nothing try to write to the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        print("tagbox: error: the output was closed before the end (broken pipe)",
              file=sys.stderr)  # fmt: skip
        return 2


if __name__ == "__main__":
    sys.exit(main())
