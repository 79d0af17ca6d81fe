"""The part of a model file that a download brought before it stopped, kept beside the file so
that the next download of it goes on from there rather than from byte 0.

A download writes into ``<file>.part`` beside the model file (``vqvae.pth.tar.part``), renamed
to the file once it is complete and checked, as a temporary is (no partial file is ever at
the model file's own path). Where it is cancelled, interrupted (Ctrl+C, SIGTERM), loses its
connection past its own resumes (:mod:`tagbox_gui.core.store.resuming`) or the server answers
that it is down or busy (5xx, 429, 408: ``download.ServerBusy``), the part stays, and
``<file>.part.json`` beside it (its :class:`Note`) says what it is a part of: the URL it came
from, the sha256 and size the registry expects of the file (None where unknown) and the
validator its server named the file by (strong ETag, else Last-Modified; None where none).

The next download of that model whose note has the same sha256 and size takes the part up:
it reads the part again to hash it (the sha256 checked at the end is the whole file's), tries
the part's URL first, and asks for the rest with ``Range: bytes=<part's size>-`` and
``If-Range: <validator>``. A server whose file changed since, or that has no ranges, sends the
whole file (200), which replaces the part from byte 0, so a changed file is never spliced
onto an old part. A part is deleted once it became the file, when the file it became is not
the one expected (a checksum that fails: corrupt bytes), when the download fails otherwise
(the part's server refuses it for good, e.g. 404 or 416 for the range asked; a full disk), when
a fresh download is asked for (``--force``), and when the file is in place another way
(installed from a file, or brought by another download: :func:`drop`). Another URL (a mirror)
that fails before sending a byte of the rest, even refusing it for good, says nothing of the
part: it stays as it was, its note naming its own URL.

A part is kept only where what it is part of can be told later: the registry knows the
file's sha256, or its server named it by a validator. A Jukebox checkpoint (no sha256) from a
server with neither ETag nor Last-Modified starts from byte 0 each time.

The download writing a part holds an ``flock`` on it (as on its temporaries:
:mod:`tagbox_gui.core.store.partial`), so two downloads of one model never write one part:
the second writes a temporary of its own, never kept. The note is removed as a part is taken
up and written again only as it is kept, so a part without one (a download killed outright)
is started again from byte 0.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tagbox_gui.core.folders import format_size
from tagbox_gui.core.store.resuming import Received

try:
    import fcntl
except ImportError:  # Windows: an open file cannot be removed there anyway
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Note",
    "drop",
    "first",
    "keep",
    "kept",
    "kept_in_brief",
    "kept_said",
    "part_path",
    "take",
    "taken",
]

_CHUNK = 1024 * 1024
_OPEN = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)  # binary: Windows


@dataclass(frozen=True)
class Note:
    """What a kept part is a part of (see the module's docstring), as its JSON file holds it."""

    url: str
    sha256: str | None
    size: int | None
    validator: str | None = None


def part_path(target: Path) -> Path:
    """Where the part of ``target`` that downloads write is: ``<file>.part`` beside it."""
    return target.with_name(f"{target.name}.part")


def _note_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.part.json")


def _read_note(target: Path) -> Note | None:
    """The note of ``target``'s part; None where there is none or it cannot be read."""
    try:
        return Note(**json.loads(_note_path(target).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def kept(target: Path) -> int:
    """The bytes of ``target`` that a download kept for the next to go on from; 0 if none."""
    if _read_note(target) is None:
        return 0
    try:
        return part_path(target).stat().st_size
    except OSError:
        return 0


def kept_said(size: int) -> str:
    """What was kept of a download that stopped, ``size`` bytes (0: nothing), in words."""
    if not size:
        return "nothing was kept"
    return (f"the {format_size(size)} received are kept, and the next download of it goes on "
            "from there")  # fmt: skip


def kept_in_brief(size: int, going_on: str) -> str:
    """What a download kept, ``size`` bytes (not 0), in a few words for a model's status;
    ``going_on`` names what goes on from there (``fetch``, a Download button)."""
    return f"{format_size(size)} of a download kept: {going_on} goes on from there"


def first(target: Path, urls: tuple[str, ...]) -> tuple[str, ...]:
    """``urls`` in the order to try them: that of ``target``'s kept part first, where it is one
    of them (another server may name the file otherwise, and send it whole again)."""
    note = _read_note(target)
    if note is None or note.url not in urls:
        return urls
    return (note.url, *(url for url in urls if url != note.url))


def take(target: Path) -> int | None:
    """``target``'s part opened for reading and writing (made empty where there is none),
    locked: its descriptor; None while another download holds it; OSError when the folder
    cannot be written."""
    path = part_path(target)
    for _ in range(100):
        fd = os.open(path, _OPEN, 0o666)
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:  # a file system without locks: nobody can tell
            return fd
        try:  # still the file at that path, not one renamed or removed before the lock came
            if os.path.samestat(os.stat(path), os.fstat(fd)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)
    raise FileExistsError(f"{path} is replaced again and again")


def taken(
    fd: int, target: Path, expected: Note, fresh: bool = False
) -> tuple[Received, Note | None]:
    """What the part taken as ``fd`` (:func:`take`) holds of the file ``expected`` describes
    (its sha256 and size), read and hashed, with the validator its note gives, and that note;
    the part is emptied, and what it holds is nothing (and no note), where its note is gone or
    of another file, or where ``fresh``. The note is removed either way (:func:`keep` writes
    it again); ``fd`` is left at the part's end."""
    note = _read_note(target)
    _note_path(target).unlink(missing_ok=True)
    got = Received()
    size = os.fstat(fd).st_size
    same = note is not None and (note.sha256, note.size) == (expected.sha256, expected.size)
    if fresh or not same or (expected.size is not None and size >= expected.size):
        os.ftruncate(fd, 0)
        return got, None
    got.validator = note.validator if note is not None else None
    while chunk := os.read(fd, _CHUNK):
        got.add(chunk)
    got.resumed, got.furthest = got.done, 0  # progress from 0: the rest may not come as a part
    return got, note


def keep(target: Path, got: Received, expected: Note) -> int:
    """Keep the part of ``target`` (closed, still locked) that ``got`` says what came of, for
    the next download to go on from: its note written, its size returned; 0 (keep nothing)
    where nothing came or what it is part of cannot be told later (no sha256, no validator)."""
    if not got.done or (expected.sha256 is None and got.validator is None):
        return 0
    note = Note(expected.url, expected.sha256, expected.size, got.validator)
    try:
        _note_path(target).write_text(json.dumps(asdict(note)), encoding="utf-8")
        return part_path(target).stat().st_size
    except OSError:  # e.g. a full disk: a part without its note is not kept
        _note_path(target).unlink(missing_ok=True)
        return 0


def drop(target: Path) -> None:
    """Remove ``target``'s kept part and its note, the file being in place another way: not a
    part that a download holds (it is that download's to finish or keep); what cannot be
    removed (a read-only folder) is left, silently."""
    with contextlib.suppress(OSError):
        if not part_path(target).exists():
            _note_path(target).unlink(missing_ok=True)
            return
        fd = take(target)
        if fd is None:
            return
        try:
            _note_path(target).unlink(missing_ok=True)
            part_path(target).unlink()
        finally:
            os.close(fd)
