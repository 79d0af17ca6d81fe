"""Download connections that a cancel cuts at once, whatever they are waiting for: the
connection being made, the server's answer to the request, or the next bytes of the file.

A blocking socket call cannot see a ``threading.Event``: it waits up to the socket timeout
(30 s), so a Cancel button, or quitting the app, would wait that long. Shutting the socket
down from another thread ends the wait at once (on Linux a connect under way too).
:func:`watched_opener` gives a urllib opener whose HTTP(S) connections make their sockets
through a :class:`_Watch`; it keeps a duplicate of each (a connection may close its own
descriptor, whose number could then name another file) and, while the cancel is set, shuts
them down.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

CANCEL_POLL = 0.1  # seconds between looks at the cancel event

__all__ = ["CANCEL_POLL", "watched_opener"]


@contextlib.contextmanager
def watched_opener(cancel: threading.Event | None) -> Iterator[urllib.request.OpenerDirector]:
    """A urllib opener whose connections are cut as soon as ``cancel`` is set, while the block
    runs (a plain opener where there is no ``cancel``)."""
    if cancel is None:
        yield urllib.request.build_opener()
        return
    watch = _Watch(cancel)
    watcher = threading.Thread(target=watch.run, name="download-cancel", daemon=True)
    watcher.start()
    try:
        yield urllib.request.build_opener(_HTTPHandler(watch), _HTTPSHandler(watch))
    finally:
        watch.finished.set()
        watcher.join()
        watch.close()


class _Watch:
    """The sockets of one download, shut down while ``cancel`` is set."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.finished = threading.Event()
        self._copies: list[socket.socket] = []
        self._lock = threading.Lock()

    def run(self) -> None:
        """In the watcher thread until ``finished``: cut the connections once ``cancel`` is
        set, and again at each look (a socket made meanwhile, still connecting)."""
        while not self.finished.wait(CANCEL_POLL):
            if self.cancel.is_set():
                self._cut()

    def connect(
        self, address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        """As ``socket.create_connection``, each socket watched from before it connects."""
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _, where in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            if self.cancel.is_set():
                raise ConnectionAbortedError(errno.ECONNABORTED, "download cancelled")
            sock = socket.socket(family, kind, proto)
            try:
                self._add(sock)
                if isinstance(timeout, int | float):  # not the "global default" sentinel
                    sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(where)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(errno.EHOSTUNREACH, f"no address found for {host}")

    def close(self) -> None:
        """Close the duplicates (the download's connections are closed by their owners)."""
        with self._lock:
            for copy in self._copies:
                copy.close()
            self._copies.clear()

    def _add(self, sock: socket.socket) -> None:
        with self._lock:
            self._copies.append(sock.dup())

    def _cut(self) -> None:
        with self._lock:
            for copy in self._copies:
                with contextlib.suppress(OSError):  # not connected, or closed: nothing to cut
                    copy.shutdown(socket.SHUT_RDWR)  # the socket itself, not just this copy


class _Watched:
    """For urllib's HTTP(S) handlers: their connections make their sockets through a watch."""

    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self._watch = watch

    def do_open(self, http_class: Callable[..., Any], req: Any, **kwargs: Any) -> Any:
        def connection(host: str, **options: Any) -> Any:
            made = http_class(host, **options)
            made._create_connection = self._watch.connect  # how http.client makes its socket
            return made

        return super().do_open(connection, req, **kwargs)  # type: ignore[misc]


class _HTTPHandler(_Watched, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_Watched, urllib.request.HTTPSHandler):
    pass
