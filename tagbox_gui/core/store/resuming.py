"""Resuming a download whose connection dropped part of the way: the request for the rest of
the file, and whether the server's answer is that rest.

A connection that drops mid-file (reset, or closed before its Content-Length) should cost only
what was lost with it, not the gigabytes of the Jukebox checkpoint that had come. The download
(:func:`tagbox_gui.core.store.download.fetch_url`) then asks the same URL again with
``Range: bytes=N-``, N the bytes it has, and with ``If-Range`` naming the file it began (its
strong ETag or its Last-Modified), up to :data:`MAX_RESUMES` times and only while each try
brings bytes it did not have, after a pause that doubles each time (:func:`pause`). How the
server answers decides (:func:`answer`):

- 206 Partial Content whose Content-Range runs from N to the end of the file of the size
  known: the rest, appended to the same temporary file;
- 206 whose Content-Range runs from N but ends short of the end of the file (a server, a CDN,
  that caps the size of the ranges it sends): a part, appended, and the rest asked for next;
  that is no failure and does not count against :data:`MAX_RESUMES`, but a download asks for
  at most :data:`MAX_PARTS` such parts;
- 200: the whole file (the server has no ranges, or the file changed): the temporary starts
  again from zero;
- a 206 of any other range (not from N, or past the end of the file) is not trusted
  (ValueError): the URL fails.

The sha256 (or the size) of the whole file is checked at the end, as for one that came at once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

__all__ = [
    "FIRST_PAUSE",
    "MAX_RESUMES",
    "Answer",
    "Received",
    "answer",
    "pause",
    "request_headers",
    "validator",
]

MAX_RESUMES = 3
"""How many times one download asks for the rest of its file."""

MAX_PARTS = 10_000
"""How many parts one download asks for of a server that sends the file in ranges shorter than
asked for (a 1 GB file in parts of 1 MB takes 1000)."""

FIRST_PAUSE = 0.5
"""Seconds a download waits before it first asks for the rest; each time after, twice as long
(0.5 s, 1 s, 2 s): a server that just dropped the connection may need a moment."""

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


def pause(resume: int) -> float:
    """Seconds to wait before resume number ``resume`` (1 for the first): see
    :data:`FIRST_PAUSE`."""
    return FIRST_PAUSE * 2 ** (resume - 1)


@dataclass
class Received:
    """What has arrived of a file, over one response or several (a download resumed)."""

    done: int = 0  # bytes of the file written
    furthest: int = 0  # the most ``done`` has been: progress does not go back below it
    digest: Any = field(default_factory=hashlib.sha256)  # the sha256 of those bytes so far
    total: int | None = None  # the file's size, where known
    validator: str | None = None  # what names the file for If-Range (see :func:`validator`)
    resumed: int = 0  # bytes an earlier download kept, gone on from (0 once started again)

    def add(self, chunk: bytes) -> None:
        """Count and hash ``chunk``, just written."""
        self.done += len(chunk)
        self.furthest = max(self.furthest, self.done)
        self.digest.update(chunk)

    def restart(self) -> None:
        """Start the file again from zero (a server that sends it whole again)."""
        self.done, self.digest, self.resumed = 0, hashlib.sha256(), 0


@dataclass(frozen=True)
class Answer:
    """What a response carries of the file: from byte ``start``, ``length`` bytes (None when it
    does not say), of a file of ``total`` bytes (None when not known)."""

    start: int
    length: int | None
    total: int | None

    @property
    def is_part(self) -> bool:
        """Whether it ends short of the end of the file: the rest is to be asked for next."""
        if self.length is None or self.total is None:
            return False
        return self.start + self.length < self.total


def request_headers(have: int, file_validator: str | None) -> dict[str, str]:
    """The headers asking for a file's bytes from ``have`` on (none while ``have`` is 0);
    ``file_validator`` (see :func:`validator`) makes a server whose file changed send it whole."""
    if have == 0:
        return {}
    headers = {"Range": f"bytes={have}-"}
    if file_validator is not None:
        headers["If-Range"] = file_validator
    return headers


def validator(headers: Message) -> str | None:
    """What names the file a response sends, for ``If-Range``: its strong ETag, else its
    Last-Modified (a weak ETag may not be used there); None when it has neither."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def answer(
    status: int, headers: Message, have: int, total: int | None, file_validator: str | None = None
) -> Answer:
    """What a successful response (``status`` 2xx) to a request for the bytes from ``have`` on
    carries, ``total`` being the file's size where known. ValueError, saying why, for a 206
    that is not bytes of that file from ``have`` on, or that names the file otherwise than
    ``file_validator`` did (it changed, and a server heeded the Range but not the If-Range)."""
    length = _int(headers.get("Content-Length"))
    if status != 206:
        return Answer(0, length, length)
    named = validator(headers)
    if file_validator is not None and named is not None and named != file_validator:
        raise ValueError(f"it sent the rest of the file named {named}, not of {file_validator}")
    content_range = headers.get("Content-Range")
    if content_range is None:
        raise ValueError("it answered 206 with no Content-Range")
    found = _CONTENT_RANGE.fullmatch(content_range.strip())
    if found is None or not _is_from(found, length, have, total):
        raise ValueError(f"it sent {content_range.strip()}, not the bytes from {have} on")
    first, last, size = int(found[1]), int(found[2]), _int(found[3])
    return Answer(first, last + 1 - first, size if size is not None else total)


def _is_from(found: re.Match[str], length: int | None, have: int, total: int | None) -> bool:
    """Whether a Content-Range (``found``) is bytes of the file of ``total`` bytes from ``have``
    on, to its end or short of it, and its Content-Length (``length``) agrees."""
    first, last, size = int(found[1]), int(found[2]), _int(found[3])
    if first != have or last < first or (length is not None and length != last + 1 - first):
        return False
    if size is not None and total is not None and size != total:
        return False  # another file
    end = size if size is not None else total
    return end is None or last < end


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
