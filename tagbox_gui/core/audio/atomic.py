"""Writing files so that a reader never sees a partial one, and checking before a run
that its output paths can be written."""

from __future__ import annotations

import errno
import json
import math
import os
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path

from tagbox_gui.core.errors import ConfigError
from tagbox_gui.core.folders import loops, temporary_beside, temporary_of, why_not_a_folder


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary beside it, then a rename.

    The rename is atomic within one folder: ``path`` holds either its old content or all of
    ``data``, never a part of it, also when another process writes the same file at the same
    time (each writes its own temporary). A write that fails (a full disk) raises its OSError
    and leaves no ``.part`` file behind.
    """
    if isinstance(data, bytes):
        write_through(path, lambda tmp: tmp.write_bytes(data))
    else:
        write_through(path, lambda tmp: tmp.write_text(data))


def write_json_atomically(path: Path, data: object) -> None:
    """Write ``data`` as strict JSON (:func:`write_atomically`), every number that is not
    finite (NaN, infinity) as null: strict JSON has no such number, and a script's parser may
    refuse the file that holds one."""
    write_atomically(path, json.dumps(_strict(data), indent=1, allow_nan=False))


def _strict(value: object) -> object:
    """``value`` with every number that is not finite as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value


def write_through(path: Path, write: Callable[[Path], object], tmp: Path | None = None) -> None:
    """Make ``path`` by ``write(tmp)`` (which writes the whole file at ``tmp``), then rename
    ``tmp`` over it: ``path`` is never seen cut short. A write stopped half way (an error, a
    full disk, Ctrl+C) leaves ``path`` as it was and removes ``tmp``. ``tmp`` is, by default,
    a hidden name of this call's own beside ``path`` (``.NAME.RANDOM.part``), which
    :func:`remove_leftovers` finds again after a kill. Where ``path`` is a
    symbolic link, what it points to is written (beside it), as ``open(path, "w")`` would:
    the link stays."""
    if path.is_symlink():
        path = path.resolve()  # a dangling link's target too
    if tmp is None:
        tmp = temporary_beside(path)
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:  # a full disk, Ctrl+C: no half-written temporary stays behind
        tmp.unlink(missing_ok=True)
        raise


def remove_leftovers(folder: Path, names: Collection[str]) -> None:
    """Remove from ``folder`` the temporaries that :func:`write_through` left there, by its own
    naming (``.NAME.RANDOM.part``), while it wrote one of ``names`` and was killed (SIGKILL, a
    power cut: a write stopped by an error removes its own). Nothing else is touched, only
    files of exactly that pattern for those names: call it where no other process writes them
    at the same time, as a resumed run does before it writes them again."""
    if not folder.is_dir():
        return
    with os.scandir(folder) as entries:
        for entry in entries:
            if temporary_of(entry.name) in names and entry.is_file(follow_symlinks=False):
                Path(entry.path).unlink(missing_ok=True)


def check_folder(folder: Path, what: str = "output folder") -> None:
    """ConfigError unless ``folder`` is, or can be made, a folder this process may write in.

    Nothing stays behind: a missing folder is tried by creating and removing its first missing
    part, an existing one by a temporary file. So a run can check its outputs before its first
    step and still create its folders only when it writes.
    """
    if loops(folder):
        raise ConfigError(f"the {what} '{folder}' is a symbolic link that leads back to itself; "
                          "choose another place")  # fmt: skip
    if refused := why_not_a_folder(folder, "choose another place"):
        raise ConfigError(f"the {what} '{folder}' {refused}")
    existing, missing = folder, []
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = existing.parent
    try:
        if missing:
            missing[-1].mkdir()
            missing[-1].rmdir()
        else:
            with tempfile.TemporaryFile(dir=existing):
                pass
    except OSError as exc:
        # ENOENT for a parent that exists: a file system that takes no new folders (/proc).
        reason = "no folder can be made there" if exc.errno == errno.ENOENT else exc.strerror
        message = f"cannot write the {what} '{folder}' ({reason}); choose another place"
        raise ConfigError(message) from exc


def check_file(path: Path, what: str = "file") -> None:
    """ConfigError unless ``path`` can be written: not a folder, nor a pipe or a device (which
    :func:`write_atomically`'s rename would replace with a plain file), in a folder that can
    be."""
    if loops(path):
        raise ConfigError(f"the {what} '{path}' is a symbolic link that leads back to itself; "
                          "give a file name")  # fmt: skip
    if os.path.isdir(path):  # os.path: False, not an error, in a folder that may not be searched
        raise ConfigError(f"the {what} '{path}' is a folder; give a file name")
    if os.path.exists(path) and not os.path.isfile(path):
        raise ConfigError(f"the {what} '{path}' is not a file on disk (a pipe or a device); "
                          "give a file name")  # fmt: skip
    check_folder(path.parent, f"folder of the {what}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot write the {what} '{path}' (permission denied); "
                          "choose another file")  # fmt: skip


def check_file_apart(path: Path, folder: Path, what: str, folder_what: str) -> None:
    """ConfigError if the file ``path`` would stand where the run makes ``folder`` (its
    ``folder_what``), or a folder above it: the run makes the folder first, and the file
    could then not be written."""
    file, made = path.resolve(), folder.resolve()
    if file == made or file in made.parents:
        where = "" if file == made else "a folder above "
        raise ConfigError(f"the {what} '{path}' is {where}the {folder_what} '{folder}', which "
                          "the run makes; give the file a name of its own")  # fmt: skip
