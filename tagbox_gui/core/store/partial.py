"""The temporary files (``.<model file>.<12 hex digits>.part``) that installs, and downloads
of a file whose ``<file>.part`` another download holds (:mod:`tagbox_gui.core.store.keeping`),
write beside a model file, and removing those a process killed outright left behind.

A download or install removes its temporary itself whatever goes wrong, even on Ctrl+C or
SIGTERM; only a process that dies outright (kill -9, a crash, a power cut) leaves one. Design:

- the writer holds an exclusive ``flock`` on its temporary from its creation until it is
  renamed into place or removed; the system drops the lock when the process dies, however;
- before writing a model file, :func:`sweep` removes the temporaries of that file that no
  process holds: each is opened and locked without waiting, and removed only if that lock is
  granted; the temporary of a download still running (in this process or another, on this
  computer or another sharing the folder over NFS) is kept;
- a writer that locks its new temporary checks that the file is still linked, so a sweep that
  slipped in between its creation and its lock cannot take it away (:func:`new_part`).

So at most one leftover per model file exists at a time, removed when that model, or any other
of the store, is next fetched or installed (``ModelStore`` sweeps every model's folder then),
and never the file of a live download. Without ``fcntl`` (Windows) an
open file cannot be removed at all, so the sweep just tries; on a file system without locks,
the sweep cannot tell and keeps everything.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
from collections.abc import Iterator
from pathlib import Path

from tagbox_gui.core.folders import temporary_beside, temporary_of

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be removed there anyway
    fcntl = None  # type: ignore[assignment]

__all__ = ["held", "new_part", "sweep"]

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)  # binary: Windows


def new_part(target: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside ``target``, locked against :func:`sweep`: its
    descriptor (open for writing) and path; OSError when the folder cannot be written.

    Created with mode 0666 less the umask, as any program creates a file, so the model file
    renamed from it is readable as the user's other files are (mkstemp would make it 0600).
    """
    for _ in range(100):
        path = temporary_beside(target)
        try:
            fd = os.open(path, _NEW_FILE, 0o666)
        except FileExistsError:
            continue
        if _claim(fd):
            return fd, path
        os.close(fd)  # swept between its creation and its lock: take another name
    raise FileExistsError(errno.EEXIST, "no unused temporary name", str(target.parent))


def _claim(fd: int) -> bool:
    """Lock ``fd``'s file (waiting for a sweep looking at it); False if that sweep removed it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # a file system without locks: the sweep cannot tell, and keeps it
        return True
    return os.fstat(fd).st_nlink > 0


@contextlib.contextmanager
def held(fd: int) -> Iterator[None]:
    """Keep the lock of ``fd``'s temporary until the block ends, even once ``fd`` is closed
    (the lock lasts while any descriptor of the open file does): the finished file is then
    checked and renamed into place, and no sweep must take it meanwhile."""
    copy = os.dup(fd) if fcntl is not None else None
    try:
        yield
    finally:
        if copy is not None:
            os.close(copy)


def sweep(target: Path) -> None:
    """Remove the temporaries of ``target`` that no live process is writing (see the module's
    docstring); what cannot be removed (a read-only folder) is left, silently."""
    pattern = f".{glob.escape(target.name)}.*.part"
    for path in target.parent.glob(pattern):
        if temporary_of(path.name) == target.name:
            with contextlib.suppress(OSError):  # in use, gone meanwhile, or not ours to remove
                _remove_unheld(path)


def _remove_unheld(path: Path) -> None:
    """Remove ``path`` unless a process holds its lock (BlockingIOError then)."""
    if fcntl is None:
        path.unlink()  # fails while a download has it open
        return
    fd = os.open(path, os.O_RDWR)  # for writing: NFS grants exclusive locks only so
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    finally:
        os.close(fd)
