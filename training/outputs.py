"""What a training command says when its output cannot be written: one line, no traceback.

A command checks its output folder or file before it starts (:func:`check_output_folder`,
:func:`check_output_file`: a folder that is a file, or on a read-only disk, is refused before
any work), and wraps what it writes in :func:`writing`, which turns a failed write (a full
disk, say) into a ``SystemExit`` naming the file, why, and what to do.
"""

from __future__ import annotations

import errno
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tagbox_gui.core.audio.atomic import check_file, check_folder
from tagbox_gui.core.errors import ConfigError

NEARLY_FULL = 1 << 20
"""Free bytes below which a failed write is put down to a full disk (torch's writer says only
"unexpected pos" when the disk fills, with no errno)."""


def check_output_folder(folder: Path, what: str) -> None:
    """SystemExit in one line unless ``folder`` is, or can be made, a folder to write in.

    Nothing is left behind (``core.audio.atomic.check_folder``), so a refused command leaves
    no empty folder.
    """
    try:
        check_folder(folder, what)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from exc


def check_output_file(path: Path, what: str) -> None:
    """SystemExit in one line unless the file ``path`` can be written: not a folder, in a
    folder that is, or can be made, one to write in (``core.audio.atomic.check_file``)."""
    try:
        check_file(path, what)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from exc


def disk_full(path: Path, exc: BaseException) -> bool:
    """Whether a write at ``path`` failed for want of space: by its errno, or by the space
    left on the file system of its nearest existing folder."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    place = path.parent
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        return shutil.disk_usage(place).free < NEARLY_FULL
    except OSError:
        return False


def cannot_write(path: Path, exc: BaseException, then: str) -> str:
    """One line: which file could not be written, why, and ``then`` (what to do)."""
    if disk_full(path, exc):
        reason = "the disk is full"
    elif isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    else:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot write {path} ({reason}); {then}"


@contextmanager
def writing(path: Path, then: str) -> Iterator[None]:
    """Turn a failed write in the block (OSError, or torch's RuntimeError of a file cut short)
    into a ``SystemExit`` of one line (:func:`cannot_write`)."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        raise SystemExit(cannot_write(path, exc, then)) from exc
