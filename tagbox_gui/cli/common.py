"""Argument types and options shared by the sub-commands."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shlex
import signal
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

from tagbox_gui.core.audio.naming import AUDIO_EXTENSIONS
from tagbox_gui.core.errors import ConfigError, UserError, is_out_of_memory
from tagbox_gui.core.folders import why_not_a_folder
from tagbox_gui.core.separation.backends import BACKENDS
from tagbox_gui.core.store.models import ENV_MODEL_DIR, default_root
from tagbox_gui.core.types import Example, Region, RunConfig, TaggerSpec

CLOSE_PROGRAMS = "close other programs and try again"


@contextlib.contextmanager
def out_of_memory_said(what: str, helps: str = "") -> Iterator[None]:
    """Where memory runs out in the block (``is_out_of_memory``), a UserError that says in one
    line that ``what`` ("the run") ran out of it and what helps: closing other programs, or
    ``helps``, where what ``what`` does offers more (e.g. "give a shorter --region")."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        more = f", or {helps}" if helps else ""
        raise UserError(f"{what} ran out of memory; {CLOSE_PROGRAMS}{more}") from exc


def comma_list(text: str) -> tuple[str, ...]:
    """``a, b,c`` -> ``("a", "b", "c")``; empty items are dropped."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def fft_sizes(text: str) -> tuple[int, ...]:
    """``2048,1024,512`` -> ``(2048, 1024, 512)``."""
    try:
        return tuple(int(v) for v in comma_list(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of FFT sizes") from None


def split_name_hint(path: Path, extra: Sequence[str]) -> str:
    """The fix, or '', for words no argument takes that are the rest of ``path``'s name.

    A name with spaces typed without quotes (``tagbox separate My Song.wav``) reaches the
    command as ``My`` and the stray word ``Song.wav``. When ``path`` is not there and it and
    the words after it name a file that is, or end in an audio file's ending, the hint says to
    put the whole name in quotes.
    """
    if os.path.exists(path):
        return ""
    names = [" ".join([str(path), *extra[:count]]) for count in range(len(extra), 0, -1)]
    whole = next((name for name in names if os.path.isfile(name)), None)
    if whole is None:
        audio = (name for name in names if Path(name).suffix.lower() in AUDIO_EXTENSIONS)
        whole = next(audio, None)
    return (
        "" if whole is None else f" (a file name with spaces goes in quotes: {shlex.quote(whole)})"
    )


def dash_name_hint(message: str, words: Sequence[str], options: Collection[str]) -> str:
    """The fix, or '', where argparse took a file whose name starts with '-' for an option.

    ``tagbox separate -take1.wav ...`` (or ``-o.wav``, which reads as ``-o .wav``) leaves the
    song missing, and ``--example -clip.wav`` leaves the option without its value. When the
    error (``message``) is one of those and one of ``words`` (the command line, ``options``
    being its option strings) is such a name of a file or folder that is there, the hint says
    how to give it: ``./-take1.wav``, or after ``--``.
    """
    missing = message.startswith("the following arguments are required")
    valueless = message.endswith("expected one argument")
    if not (missing or valueless):
        return ""
    name = next((word for word in words if word.startswith("-") and word not in options
                 and word != "--" and os.path.lexists(word)), None)  # fmt: skip
    if name is None:
        return ""
    plain = shlex.quote(f"./{name}")
    if missing:
        how = f"write it as {plain}, or put it after -- at the end of the command line"
    else:
        option = message.removeprefix("argument ").split(":", 1)[0].split("/")[-1]
        how = f"write it as {plain}, or as {shlex.quote(f'{option}={name}')}"
    return f" ('{name}' starts with '-', so it was read as an option: {how})"


SEED_RANGE = (-(2**63), 2**63 - 1)
"""The seeds torch takes, with room for the one added per segment."""


def seed(text: str) -> int:
    """A random seed: a whole number in :data:`SEED_RANGE`; else a one-line usage error."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"'{text}' is not a seed; give a whole number from "
                                         f"{SEED_RANGE[0]} to {SEED_RANGE[1]}, e.g. 0")  # fmt: skip
    return value


def tagger_spec(text: str) -> TaggerSpec:
    """``ARCH/DATASET`` (e.g. ``fcn/mtat``); a malformed one is a one-line usage error."""
    try:
        return TaggerSpec.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_region(text: str) -> Region:
    """``START:END`` in seconds (``mm:ss`` is not accepted: use seconds, e.g. ``30:50``)."""
    start, sep, end = text.partition(":")
    try:
        region = Region(float(start), float(end))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"region '{text}' is not START:END in seconds, e.g. 30:50"
        ) from None
    if not (math.isfinite(region.start) and math.isfinite(region.end)):
        raise argparse.ArgumentTypeError(f"region '{text}': a time must be a number of seconds, "
                                         "not nan or inf; e.g. 30:50")  # fmt: skip
    if not sep or region.start < 0 or region.end <= region.start:
        raise argparse.ArgumentTypeError(f"region '{text}' must have 0 <= START < END")
    return region


def parse_example(text: str) -> Example:
    """``FILE`` or ``FILE:START:END`` (seconds): a clip where the wanted instrument plays. A
    file with a colon in its name that is not there is taken for a clip whose START:END is
    wrong (``clip.wav:3``, ``clip.wav:1-2``): a usage error says how to write one."""
    head, sep, end = text.rpartition(":")
    path, sep2, start = head.rpartition(":")
    if sep and sep2:
        try:
            example = Example(path, float(start), float(end))
        except ValueError:
            example = Example(text)
        else:
            if not path:
                raise _no_example_file(text)
            if not (math.isfinite(example.start) and math.isfinite(example.end)):  # type: ignore[arg-type]
                raise argparse.ArgumentTypeError(
                    f"example '{text}': a time must be a number of seconds, not nan or inf; "
                    "e.g. organ.wav:3:8"
                )
            if example.start < 0 or example.end <= example.start:  # type: ignore[operator]
                raise argparse.ArgumentTypeError(f"example '{text}' must have 0 <= START < END")
            return example
    if not text:
        raise _no_example_file(text)
    if ":" in os.path.splitdrive(text)[1] and not os.path.exists(text):  # not a drive's (C:)
        raise argparse.ArgumentTypeError(f"'{text}' is neither a file nor FILE:START:END in "
                                         "seconds, e.g. organ.wav:3:8")  # fmt: skip
    return Example(text)


def _no_example_file(text: str) -> argparse.ArgumentTypeError:
    """The usage error for an example clip whose file name is empty (not the current folder)."""
    return argparse.ArgumentTypeError(f"example '{text}' names no file; give the example's "
                                      "file, e.g. organ.wav or organ.wav:3:8")  # fmt: skip


def parse_example_region(text: str) -> Example:
    """``START:END`` in seconds of the song itself, as the example clip."""
    region = parse_region(text)
    return Example(None, region.start, region.end)


def model_folder(text: str) -> Path:
    """A model folder's path: any path but one of, or under, what is no folder (a file, a link
    to a drive not plugged in); a folder that is not there yet is made when a model is fetched."""
    path = Path(text)
    if refused := why_not_a_folder(path, "give another folder"):
        raise argparse.ArgumentTypeError(f"the model folder '{text}' {refused}")
    return path


def add_model_dir(parser: argparse.ArgumentParser) -> None:
    """The ``--model-dir`` option (default: $TAGBOX_MODEL_DIR, else the user cache: None, for
    ``ModelStore`` to find; :func:`check_model_dir_variable` checks the variable)."""
    parser.add_argument(
        "--model-dir",
        type=model_folder,
        default=None,
        metavar="DIR",
        help="folder of model files (default: $TAGBOX_MODEL_DIR or the user cache folder)",
    )


def check_model_dir_variable(args: argparse.Namespace) -> None:
    """ConfigError naming $TAGBOX_MODEL_DIR, for a command with ``--model-dir`` run without it,
    when the variable names a file: the check :func:`model_folder` makes of the option, said
    of where the folder came from."""
    if (
        getattr(args, "model_dir", False) is not None
        or not os.environ.get(ENV_MODEL_DIR, "").strip()
    ):
        return  # a command without the option, the option given, or no variable
    root = default_root()  # the folder the store will use
    instead = f"set {ENV_MODEL_DIR} to a folder, or give one with --model-dir"
    if refused := why_not_a_folder(root, instead):
        raise ConfigError(f"the model folder '{root}' given by ${ENV_MODEL_DIR} {refused}")


def add_balance_tags(parser: argparse.ArgumentParser) -> None:
    """The ``--balance-tags`` / ``--no-balance-tags`` option (default: the backend's)."""
    parser.add_argument(
        "--balance-tags",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="wanted and avoided tags weigh half of the loss each, instead of one equal weight "
        "per tag (default: the backend's; on for light, off for jukebox)",
    )


def describe_backend_defaults(parser: argparse.ArgumentParser) -> None:
    """Fill each backend's defaults (``core.separation.loading.default_config``) into the help
    texts of ``parser``: the placeholders ``{steps}``, ``{lr}``, ``{fft}``, ``{taggers}``,
    ``{quantise}`` and ``{template}``, and the help of ``--balance-tags``."""
    from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE
    from tagbox_gui.core.separation.loading import default_config

    configs = {backend: default_config(backend) for backend in BACKENDS}

    def each(value: Callable[[RunConfig], object]) -> str:
        return ", ".join(f"{backend} {value(config)}" for backend, config in configs.items())

    values = {
        "steps": each(lambda c: c.steps),
        "lr": each(lambda c: f"{c.lr:g}"),
        "fft": each(lambda c: ",".join(map(str, c.fft_sizes))),
        "taggers": each(lambda c: "+".join(map(str, c.taggers))),
        "quantise": configs["jukebox"].quantise.value,
        "template": DEFAULT_TEMPLATE,
    }
    for action in parser._actions:
        if action.dest == "balance_tags":
            action.help = ("wanted and avoided tags weigh half of the loss each, instead of one "
                           "equal weight per tag (default: "
                           f"{each(lambda c: 'on' if c.balance_tags else 'off')})")  # fmt: skip
        elif action.help and "{" in action.help:
            action.help = action.help.format(**values)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl+C's KeyboardInterrupt would be (:func:`terminate_as_ctrl_c`):
    cleaned up as for Ctrl+C, and the command exits with 143 (128 + SIGTERM), not 130."""


@contextlib.contextmanager
def terminate_as_ctrl_c() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM (``timeout``, ``kill``, a script that
    gives up) raises KeyboardInterrupt, as Ctrl+C does: files being written are cleaned up as
    for Ctrl+C, where SIGTERM's default action ends the process on the spot."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise Terminated

    before = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
