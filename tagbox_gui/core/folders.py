"""Making the folders a file goes in, and removing them again when what follows fails, so that
a failed write (a full disk, Ctrl+C, a download that came to nothing) leaves no empty folders
behind, and never removes one that was there before.

The stems' export (``core.audio.export``), the model store (``core.store.models``) and the
command line's ``--log-json`` use it, each wording its own errors.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["make_folders", "removed_on_failure"]


def make_folders(folder: Path) -> list[Path]:
    """Make ``folder`` and the folders above it that are missing, outermost first; return those
    made here, outermost first. OSError where one cannot be made, after removing those made so
    far: NotADirectoryError, its ``filename`` the file, where a file stands on the way."""
    missing = [path for path in (folder, *folder.parents) if not os.path.isdir(path)][::-1]
    if file := next((path for path in missing if os.path.lexists(path)), None):
        raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder", str(file))
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
