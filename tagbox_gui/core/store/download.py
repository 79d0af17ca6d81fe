"""Atomic, checksummed file transfer: a file appears under its name only once it is complete.

Used by :mod:`tagbox_gui.core.store.models`, and by :mod:`tagbox_gui.core.store.installing`
for a file copied from disk. Data streams into a temporary file in the target's own
folder while being hashed; the sha256 is checked where one is known, and only then is the file
renamed into place with :func:`os.replace` (atomic within one folder). Whatever goes wrong (HTTP
error, dropped connection, checksum mismatch, cancellation, full disk) the temporary file is
removed and the target is left as it was; one a process killed outright left behind is removed
by the next transfer of that file (:mod:`tagbox_gui.core.store.partial`). A connection that
drops part of the way is resumed into the same temporary (:mod:`tagbox_gui.core.store.resuming`).
A download writes its own ``<file>.part`` instead, kept where it is cancelled, interrupted,
loses its connection for good or finds the server down or busy, for the next download of the
file to go on from (:mod:`tagbox_gui.core.store.keeping`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from http.client import HTTPException
from pathlib import Path
from typing import BinaryIO, Protocol

from tagbox_gui import __version__
from tagbox_gui.core.errors import DownloadError, ModelError
from tagbox_gui.core.folders import format_size
from tagbox_gui.core.store import cancelling, keeping, partial, resuming
from tagbox_gui.core.store.resuming import MAX_RESUMES, Received

CHUNK = 256 * 1024

Progress = Callable[[int, int | None], None]
"""Transfer progress: ``(bytes done, bytes in total or None when unknown)``."""

Acceptance = Callable[[Path], str | None]
"""A last check of a received file: None if it is acceptable, else what is wrong with it."""


class DownloadCancelled(DownloadError):
    """The download was cancelled; its message says what was kept of it (``kept`` bytes, 0 for
    nothing) for the next download to go on from."""

    def __init__(self, kept: int = 0) -> None:
        self.kept = kept
        super().__init__(f"download cancelled; {keeping.kept_said(kept)}")

    def __reduce__(self) -> tuple[type[DownloadCancelled], tuple[int]]:
        return type(self), (self.kept,)


class TransferFailed(Exception):
    """A source could not deliver the file; the message says why (not user-facing alone).

    From :func:`download`, ``failures`` holds each URL tried with what it raised, in order, and
    ``kept`` the bytes kept for the next download to go on from (0: none).
    """

    failures: tuple[tuple[str, TransferFailed], ...] = ()
    kept: int = 0


class WrongFile(TransferFailed):
    """What a source sent is not the file: another file, or not a model file at all (a web
    page, say)."""


class ChecksumMismatch(WrongFile):
    """The bytes received do not have the expected sha256 (or size)."""


class ServerRefused(TransferFailed):
    """The server answered with an HTTP error status (404, 403, 503 ...): it works, but did not
    send the file."""


class ServerBusy(ServerRefused):
    """The HTTP error says to try again later: the server is down or busy (5xx), had too many
    requests (429) or waited too long for this one (408)."""


class ConnectionDropped(TransferFailed):
    """The connection ended (reset, closed early) while the file was coming."""


class ConnectionFailed(TransferFailed):
    """No connection was made, or it ended before the server answered."""


_KEPT_ON = (DownloadCancelled, KeyboardInterrupt, ConnectionDropped, ConnectionFailed, ServerBusy)
"""What stops a download and keeps what it brought (:mod:`tagbox_gui.core.store.keeping`)."""


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def download(
    target: Path,
    urls: Sequence[str],
    sha256: str | None,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
    size_hint: int | None = None,
    accept: Acceptance | None = None,
    fresh: bool = False,
) -> None:
    """Fetch ``target`` from the first of ``urls`` that delivers it intact, going on from
    what an earlier download of it kept unless ``fresh`` (see
    :mod:`tagbox_gui.core.store.keeping`), whose URL is tried first.

    Raises TransferFailed listing every URL's failure (kept in its ``failures``), of their
    class where all share one (ChecksumMismatch when each sent another file, ServerRefused
    when each answered with an HTTP error), DownloadCancelled when ``cancel`` is set,
    ModelError when the folder cannot be written. ``size_hint`` is the file's size where known: the
    total reported to ``progress`` when the server sends no Content-Length, and, with
    ``sha256``, the only length a URL may send (see :func:`copy_stream`). ``accept`` (see
    :func:`write_checked`) may refuse what a URL delivered; the next URL is then tried. What
    was kept, where a URL's connection failed for good, is said at the end of the message.
    """
    size = size_hint if sha256 is not None else None  # the size of the file of that sha256
    failures: list[tuple[str, TransferFailed]] = []
    try:
        for url in keeping.first(target, tuple(urls)):

            def fill(out: BinaryIO, got: Received, url: str = url) -> str:
                return fetch_url(url, out, progress, cancel, timeout, size_hint, size, got)

            try:
                expected = keeping.Note(url, sha256, size_hint)
                write_checked(target, sha256, fill, accept, expected, fresh and not failures)
                return
            except TransferFailed as exc:
                raise_if_cancelled(cancel)  # the failure was the cancel cutting the connection
                failures.append((url, exc))
    except DownloadCancelled as exc:
        raise DownloadCancelled(keeping.kept(target)) from exc
    kinds = {ServerRefused if isinstance(exc, ServerRefused) else type(exc) for _, exc in failures}
    failed = kinds.pop() if len(kinds) == 1 else TransferFailed
    said = "; ".join(f"{url}: {exc}" for url, exc in failures) or "no URL to download from"
    if kept := keeping.kept(target):
        said += f"; {keeping.kept_said(kept)}"
    error = failed(said)
    error.failures, error.kept = tuple(failures), kept
    raise error


def write_checked(
    target: Path,
    sha256: str | None,
    fill: Callable[[BinaryIO, Received], str],
    accept: Acceptance | None = None,
    expected: keeping.Note | None = None,
    fresh: bool = False,
) -> None:
    """Let ``fill(out, received)`` write a temp file beside ``target`` and return its sha256;
    check, rename. ``received`` is what the temp file holds of the file already (empty but for
    a download resumed), to be passed on to :func:`copy_stream`.

    ``accept(temp file)``, where given, is asked too and may refuse the file: ``None`` accepts
    it, a string says what is wrong with it (raised as TransferFailed). A folder where the file
    belongs is a ModelError before anything is transferred. ``expected``, for a download, is
    the file it is of: it then writes into ``target``'s part, going on from what an earlier
    one kept of that file unless ``fresh``, and kept where it stops (:func:`_kept`).
    """
    if target.is_dir():
        raise ModelError(f"{target} is a folder, where the model file belongs; move it away "
                         "and try again")  # fmt: skip
    partial.sweep(target)  # what a download killed outright left (a disk kept full)
    try:
        part = keeping.take(target) if expected is not None else None  # None: another's
        if part is not None:
            fd, tmp = part, keeping.part_path(target)
        else:
            fd, tmp = partial.new_part(target)
    except OSError as exc:
        raise ModelError(
            f"cannot write to the folder {target.parent} ({exc.strerror}); choose a writable "
            "model folder"
        ) from exc
    with partial.held(fd):
        got, held = Received(), None
        try:
            if part is not None and expected is not None:
                got, held = keeping.taken(part, target, expected, fresh)
            _fill_and_rename(fd, tmp, target, sha256, lambda out: fill(out, got), accept, got)
        except BaseException as exc:
            if not (
                part is not None
                and expected is not None
                and _kept(exc, target, got, expected, held)
            ):
                tmp.unlink(missing_ok=True)  # already gone after a successful rename
            raise


def _kept(
    exc: BaseException,
    target: Path,
    got: Received,
    expected: keeping.Note,
    held: keeping.Note | None,
) -> bool:
    """Whether the part of ``target`` that a download of ``expected`` wrote, ``exc`` having
    stopped it, is kept (:func:`tagbox_gui.core.store.keeping.keep`): where ``exc`` is one of
    :data:`_KEPT_ON`; and as it was, its note ``held`` still naming the URL it came from, where
    another URL failed (refused it for good, too) before a byte of the rest came: that says
    nothing of the part."""
    if (
        held is not None
        and held.url != expected.url
        and 0 < got.resumed == got.done  # still the part taken up, nothing added
        and isinstance(exc, (TransferFailed, *_KEPT_ON))  # not a full disk
    ):
        return bool(keeping.keep(target, got, held))
    return isinstance(exc, _KEPT_ON) and bool(keeping.keep(target, got, expected))


def _fill_and_rename(
    fd: int,
    tmp: Path,
    target: Path,
    sha256: str | None,
    fill: Callable[[BinaryIO], str],
    accept: Acceptance | None,
    got: Received,
) -> None:
    """:func:`write_checked` once the temporary ``tmp`` is open as ``fd``, holding what ``got``
    says already: renamed to ``target`` once filled and checked."""
    out = os.fdopen(fd, "wb")
    try:
        digest = fill(out)
        _write(out, b"", flush=True)  # what is still buffered: a full disk shows here
        _close(out)  # a network file system may tell of a write that failed only here
    except BaseException:
        with contextlib.suppress(OSError):  # the buffer of a file about to be removed or kept
            out.close()
        raise
    if sha256 is not None and digest != sha256:
        raise ChecksumMismatch(f"checksum mismatch: sha256 {digest[:12]}…, not "
                               f"{sha256[:12]}…{_resumed_from(got)}")  # fmt: skip
    problem = accept(tmp) if accept is not None else None
    if problem is not None:
        raise WrongFile(problem + _resumed_from(got))
    try:
        os.replace(tmp, target)
    except OSError as exc:  # e.g. a folder made there meanwhile
        raise ModelError(f"cannot put the model file in place at {target} "
                         f"({exc.strerror or exc}); nothing was changed") from exc  # fmt: skip


def _resumed_from(got: Received) -> str:
    """What to add to the message of a file found wrong of the part kept that it went on from:
    it may be what was corrupt, and is deleted."""
    if not got.resumed:
        return ""
    return (f" (it went on from the {format_size(got.resumed)} an earlier download kept, which "
            "may have been damaged: deleted now, so the next download starts over)")  # fmt: skip


def fetch_url(
    url: str,
    out: BinaryIO,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
    size_hint: int | None = None,
    size: int | None = None,
    received: Received | None = None,
) -> str:
    """Stream ``url`` into ``out`` and return its sha256; network trouble -> TransferFailed.
    ``size``, where known, is the file's exact size (see :func:`copy_stream`); ``received``
    what ``out`` holds of the file already (a part kept by an earlier download). A connection
    that drops is resumed while each try brings new bytes, up to ``MAX_RESUMES`` times, after a
    pause that grows each time (:func:`tagbox_gui.core.store.resuming.pause`) and that a cancel
    cuts short; progress never goes back meanwhile."""
    raise_if_cancelled(cancel)
    got = received if received is not None else Received()
    dropped: ConnectionDropped | None = None
    resumes = parts = 0
    with cancelling.watched_opener(cancel) as opener:
        while True:
            before = got.furthest
            try:
                digest = _fetch_once(
                    opener, url, out, got, progress, cancel, timeout, size_hint, size
                )
            except ConnectionDropped as exc:
                raise_if_cancelled(cancel)  # the drop was the cancel cutting the connection
                if got.furthest == before:  # nothing new came: asking again would not help
                    raise exc if dropped is None else ConnectionDropped(
                        f"{exc} (asked again, it sent nothing new)") from exc  # fmt: skip
                if resumes == MAX_RESUMES:
                    raise ConnectionDropped(f"{exc} (resumed {MAX_RESUMES} times, dropping "
                                            "each time, so gave up)") from exc  # fmt: skip
                dropped = exc
                resumes += 1
                _pause(resuming.pause(resumes), cancel)
                continue
            except TransferFailed as exc:
                if dropped is None or isinstance(exc, ChecksumMismatch):
                    raise
                failed = (
                    type(exc) if isinstance(exc, ConnectionFailed | ServerBusy) else TransferFailed
                )
                raise failed(f"{dropped} (asked for the rest, {exc})") from exc
            if digest is not None:
                return digest
            parts += 1
            if parts == resuming.MAX_PARTS:
                raise TransferFailed(f"it sent the file in more than {parts} parts, so gave up")


def _fetch_once(
    opener: urllib.request.OpenerDirector,
    url: str,
    out: BinaryIO,
    got: Received,
    progress: Progress | None,
    cancel: threading.Event | None,
    timeout: float,
    size_hint: int | None,
    size: int | None,
) -> str | None:
    """One request of :func:`fetch_url`: for the whole file, or for its rest after the
    ``got.done`` bytes that came; appended to ``out`` (or in place of them, if the server sends
    the whole file again). Returns the file's sha256, or None where the server sent a part of
    the rest only (see :mod:`tagbox_gui.core.store.resuming`): the rest is to be asked for."""
    headers = resuming.request_headers(got.done, got.validator)
    request = urllib.request.Request(url, headers={"User-Agent": f"tagbox-gui/{__version__}",
                                                   **headers})  # fmt: skip
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        busy = exc.code >= 500 or exc.code in (408, 429)
        refused = ServerBusy if busy else ServerRefused
        raise refused(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise ConnectionFailed(f"cannot connect ({exc.reason})") from exc
    except (OSError, HTTPException) as exc:  # a reset or timeout before the answer, a bad one
        raise ConnectionFailed(_lost(exc)) from exc
    with response:
        try:
            answer = resuming.answer(
                response.status, response.headers, got.done, got.total, got.validator
            )
        except ValueError as exc:
            raise TransferFailed(str(exc)) from exc
        if answer.start == 0:  # the whole file, from its start
            if got.done:
                _rewind(out)
                got.restart()
            got.total = size
            got.validator = resuming.validator(response.headers)
        if answer.total is not None:
            got.total = answer.total
        try:
            digest = copy_stream(response, out, answer.length, progress, cancel, size_hint, size,
                                 received=got)  # fmt: skip
        except (OSError, HTTPException) as exc:  # reset, timeout, a chunk cut short ...
            raise ConnectionDropped(_lost(exc)) from exc
    return None if answer.is_part else digest


def _lost(exc: BaseException) -> str:
    return f"connection lost ({exc.__class__.__name__}: {exc})"


def copy_stream(
    src: _Readable,
    out: BinaryIO,
    length: int | None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    size_hint: int | None = None,
    size: int | None = None,
    *,
    received: Received | None = None,
) -> str:
    """Copy ``src`` to ``out`` in chunks and return the sha256.

    ``received``, where given, is what came of the file before (a download resumed): ``src``
    carries on from its ``done`` bytes, with ``length`` bytes more (to the end of the file of
    its ``total`` bytes, or part of the way); the sha256 returned, the count and the progress
    reported are the whole file's.

    ``size``, where known, is the exact size of the file expected: a file of another size (the
    ``received.total`` the server gave, else the end of ``length``) or a count of bytes beyond
    it is another file (ChecksumMismatch), refused at once rather than written whole (a mirror
    serving a large file in its place would fill the disk first).

    http.client returns b"" rather than raising when a connection closes before Content-Length
    bytes arrived, so the count is checked against ``length`` here (ConnectionDropped); without
    a ``length``, against the file's size where known, so that a body which ends short of it is
    a connection that ended early too, not another file. Where
    ``src`` has ``read1`` (an HTTP response, a buffered file) it is used: it returns what has
    arrived instead of waiting for a whole chunk, so a cancel on a slow server takes effect at
    once.
    """
    got = received if received is not None else Received()
    end = got.done + length if length is not None else None
    whole = got.total if got.total is not None else end  # the file's size, as the source says
    _check_size(whole, size)
    if end is None:  # no Content-Length: the body ends with the file, where its size is known
        end = whole if whole is not None else size
    read: Callable[[int], bytes] = getattr(src, "read1", src.read)
    total = whole if whole is not None else size_hint
    _report(progress, got.furthest, total)
    while True:
        raise_if_cancelled(cancel)
        chunk = read(CHUNK)
        if not chunk:
            break
        _check_size(None, size, got.done + len(chunk))
        _write(out, chunk)
        got.add(chunk)
        _report(progress, got.furthest, total)
    if end is not None and got.done != end:
        raise ConnectionDropped(f"connection dropped after {got.done} of {end} bytes")
    return got.digest.hexdigest()


def _check_size(whole: int | None, size: int | None, done: int = 0) -> None:
    """ChecksumMismatch where the file of ``whole`` bytes that a response says it sends, or the
    ``done`` bytes received so far, cannot be the file of ``size`` bytes."""
    if size is None:
        return
    if whole is not None and whole != size:
        raise ChecksumMismatch(f"the server sends {whole} bytes, not the {size} of the file")
    if done > size:
        raise ChecksumMismatch(f"more than the {size} bytes of the file arrived")


def raise_if_cancelled(cancel: threading.Event | None) -> None:
    """DownloadCancelled if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled()


def _pause(seconds: float, cancel: threading.Event | None) -> None:
    """Wait ``seconds``, or less: DownloadCancelled as soon as ``cancel`` is set."""
    (cancel if cancel is not None else threading.Event()).wait(seconds)
    raise_if_cancelled(cancel)


def _write(out: BinaryIO, chunk: bytes, flush: bool = False) -> None:
    try:
        out.write(chunk)
        if flush:
            out.flush()
    except OSError as exc:  # not a TransferFailed: another mirror would not help a full disk
        raise _unwritable("cannot write the model file", exc) from exc


def _rewind(out: BinaryIO) -> None:
    """Empty ``out``, for a file that starts again from zero."""
    try:
        out.seek(0)
        out.truncate()
    except OSError as exc:
        raise _unwritable("cannot write the model file", exc) from exc


def _close(out: BinaryIO) -> None:
    try:
        out.close()
    except OSError as exc:
        raise _unwritable("cannot finish writing the model file", exc) from exc


def _unwritable(doing: str, exc: OSError) -> ModelError:
    """Why the model file cannot be written, with the advice its errno calls for."""
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    advice = "free some disk space" if full else "check the disk of the model folder"
    return ModelError(f"{doing} ({exc.strerror or exc}); {advice}, and try again")


def _report(progress: Progress | None, done: int, total: int | None) -> None:
    if progress is not None:
        progress(done, total)
