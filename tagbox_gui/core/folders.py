"""Making the folders a file goes in, and removing them again when what follows fails, so that
a failed write (a full disk, Ctrl+C, a download that came to nothing) leaves no empty folders
behind, and never removes one that was there before: the stems' export
(``core.audio.export``), the model store (``core.store.models``) and the command line's
``--log-json`` make theirs here.

Saying what stands where a folder is wanted (:func:`why_not_a_folder`, :func:`not_a_folder`,
:func:`in_the_way`), in the one way the stems' export, the output checks before a run
(``core.audio.atomic``), the model store, the command line's ``--model-dir`` and the Models
window say it; how big a file, a download or a disk's free space is (:func:`format_size`),
in the one way both front ends show sizes; the nearest folder there is at or above a path
(:func:`nearest_folder`), where the dialogs open; and the hidden name a file is written under before
it is renamed into place (:func:`temporary_beside`), which the atomic writes
(``core.audio.atomic``) and the model store's temporaries (``core.store.partial``) share, and
by which each finds what a killed process left (:func:`temporary_of`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "format_size",
    "in_the_way",
    "loops",
    "make_folders",
    "nearest_folder",
    "not_a_folder",
    "removed_on_failure",
    "standing_in_the_way",
    "temporary_beside",
    "temporary_of",
    "why_not_a_folder",
]

_UNITS = ("kB", "MB", "GB", "TB")


def make_folders(folder: Path) -> list[Path]:
    """Make ``folder`` and the folders above it that are missing, outermost first; return those
    made here, outermost first. OSError where one cannot be made, after removing those made so
    far: NotADirectoryError, its ``filename`` the file, where a file (or a link to no folder)
    stands on the way (:func:`not_a_folder` says which)."""
    if (there := standing_in_the_way(folder)) is not None:
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder", str(there))
    missing = [path for path in (folder, *folder.parents) if not os.path.isdir(path)][::-1]
    made: list[Path] = []
    with removed_on_failure(made):
        for path in missing:
            try:
                path.mkdir()
            except FileExistsError:  # made meanwhile by another process: not ours to remove
                if not path.is_dir():
                    raise
                continue
            made.append(path)
    return made


def not_a_folder(path: Path, instead: str) -> str:
    """What ``path``, which is there where a folder is wanted but is none, is, and what to do,
    ``instead`` (e.g. "choose another folder") the last resort; to follow "'PATH' is " (see
    :func:`in_the_way`)."""
    what, fix = in_the_way(path)
    return f"{what}; {fix}, or {instead}" if fix else f"{what}; {instead}"


def in_the_way(path: Path) -> tuple[str, str]:
    """What ``path``, which is there where a folder is wanted but is none, is, to follow
    "'PATH' is ", and what would make it the folder ('' where nothing but another folder would).
    A symbolic link to what is not there (a drive not plugged in) is said to be one, and where
    it leads, to be plugged in; a link that leads back to itself too; anything else is a file."""
    if os.path.exists(path):
        return "a file, not a folder", ""
    if loops(path):
        return "a symbolic link that leads back to itself", ""
    return (f"a link to '{os.readlink(path)}', which is not there (a drive not plugged in?)",
            "plug it in")  # fmt: skip


def standing_in_the_way(path: Path) -> Path | None:
    """What is there where ``path`` or a folder above it should be, but is no folder (a file, a
    link to what is not there), so that ``path`` cannot be a folder: the nearest such (say it
    with :func:`in_the_way`); None where ``path`` is a folder or can be made, and where nothing
    of it is there (on Windows a drive unplugged takes its root with it: nothing stands in the
    way, and making it fails, saying why)."""
    there = next((folder for folder in (path, *path.parents) if os.path.lexists(folder)), None)
    return None if there is None or os.path.isdir(there) else there


def nearest_folder(path: Path) -> Path | None:
    """``path`` where it is a folder, else the nearest folder above it that is there (a folder
    renamed, a drive unplugged): where a folder dialog opens, or whose disk's free space tells
    what ``path``, made, would have. None where nothing of it is there (on Windows a drive
    unplugged takes its root with it)."""
    return next((place for place in (path, *path.parents) if os.path.isdir(place)), None)


def why_not_a_folder(path: Path, instead: str) -> str:
    """Why ``path`` cannot be a folder, to follow "'PATH' ": "is …", or "is under 'THERE',
    which is …", of what stands in its way (:func:`standing_in_the_way`, said by
    :func:`not_a_folder` with ``instead`` the last resort); '' where it is a folder or can be
    made."""
    there = standing_in_the_way(path)
    if there is None:
        return ""
    place = "is" if there == path else f"is under '{there}', which is"
    return f"{place} {not_a_folder(there, instead)}"


def loops(path: Path) -> bool:
    """Whether ``path`` (or a folder on its way) is a symbolic link that leads back to itself."""
    try:
        Path(path).resolve()
    except RuntimeError:  # "Symlink loop" (Python 3.11, 3.12)
        return True
    except OSError as exc:  # ELOOP (later Pythons)
        return exc.errno == errno.ELOOP
    return False


@contextlib.contextmanager
def removed_on_failure(made: Sequence[Path]) -> Iterator[None]:
    """Remove the folders ``made`` (outermost first, as :func:`make_folders` returns them),
    deepest first and each only while empty, when the block raises; then re-raise."""
    try:
        yield
    except BaseException:
        for path in reversed(made):
            with contextlib.suppress(OSError):  # not empty: somebody else wrote there
                path.rmdir()
        raise


def format_size(n_bytes: int) -> str:
    """``n_bytes`` for a person, in decimal units as Linux and macOS file managers show them:
    "999 B", "1.0 kB", "12.3 MB", "268 MB", "1.5 GB". Three figures at most: one decimal below
    100 of the unit, none from 100 on; a size that rounds to 1000 of a unit is said in the next
    one ("1.0 MB", never "1000 kB") but TB, the largest; only an empty file is "0 B"."""
    text, unit, value = str(n_bytes), "B", float(n_bytes)
    for larger in _UNITS:
        if float(text) < 1000:
            break
        value /= 1000
        text, unit = f"{value:.1f}", larger
        if float(text) >= 100:
            text = f"{value:.0f}"
    return f"{text} {unit}"


_TOKEN_BYTES = 6  # the random bytes, in hex, in a temporary's name
_TEMPORARY = re.compile(rf"\.(.+)\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.part")


def temporary_beside(path: Path) -> Path:
    """A hidden name of its own beside ``path`` (``.NAME.RANDOM.part``) for a temporary file
    that becomes ``path`` once whole."""
    return path.with_name(f".{path.name}.{secrets.token_hex(_TOKEN_BYTES)}.part")


def temporary_of(name: str) -> str | None:
    """The name of the file whose temporary (:func:`temporary_beside`) a file called ``name``
    is; None where ``name`` is no such temporary's."""
    match = _TEMPORARY.fullmatch(name)
    return match[1] if match else None
