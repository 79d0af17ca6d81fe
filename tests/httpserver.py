"""A small local HTTP server for download tests: serves a folder on 127.0.0.1 with faults.

Nothing here touches the internet. Each server listens on a free port of 127.0.0.1 and runs in
a daemon thread. Its ``fault`` can be switched at any time (it is read per request):

- ``Fault.NONE``: serve the file as it is;
- ``Fault.NOT_FOUND``: answer 404 for every path; ``Fault.UNAVAILABLE`` 503 (a server down or
  busy), ``Fault.TOO_MANY_REQUESTS`` 429, ``Fault.RANGE_NOT_SATISFIABLE`` 416;
- ``Fault.DROP``: send the full Content-Length, then close the connection after half the bytes;
- ``Fault.RESET``: like DROP but abort the connection (TCP reset) instead of closing it; the
  client then sees a reset error or, depending on timing, an early end of file (Linux does
  not guarantee which), with all or only part of the bytes sent;
- ``Fault.CORRUPT``: serve the right number of bytes with one byte in the middle altered;
- ``Fault.CUT``: send no Content-Length, and close the connection after half the bytes (a
  body that ends where the connection does: nothing in HTTP tells that it was cut short).

``times`` limits the fault to that many requests (then the server behaves), e.g. a connection
that drops once. ``ranges`` says how the server answers a ``Range: bytes=N-`` request:

- ``Ranges.IGNORED``: it sends the whole file with 200, as a server without range support;
- ``Ranges.HONOURED``: 206 with the bytes from N on and their Content-Range (a drop then
  sends half of what was asked);
- ``Ranges.MISPLACED``: 206, but with the whole file and a Content-Range saying so (a server
  that sends another piece than the one asked for).

``range_cap``, where given, is the most bytes a 206 sends (a CDN capping the size of ranges):
the bytes from N on up to that many, and a Content-Range that says where they end.

With ``validators``, each answer names the file by an ETag (from its content, so a file
changed between requests gets another) and a request's ``If-Range`` naming another sends the
whole file (200), as RFC 9110 has it.

Each request's Range header (None without one) is kept in ``ranges_asked``, its If-Range in
``if_ranges_asked``.

``chunk_delay`` (seconds slept after each chunk) slows a transfer down, e.g. to press a Cancel
button in a GUI test while it runs.

Use it as a context manager::

    with serve(model_dir) as server:
        url = server.url_for("taggers/mtat/fcn/best_model.pth")

or through the ``http_server`` fixture, a factory whose servers stop at teardown::

    from tests.httpserver import http_server  # noqa: F401  (makes the fixture visible)

    def test_x(http_server, model_dir):
        server = http_server(model_dir, fault=Fault.DROP)
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import re
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CHUNK = 64 * 1024


class Fault(enum.Enum):
    """What the server does wrong (or not) on every request."""

    NONE = "normal"
    NOT_FOUND = "404"
    UNAVAILABLE = "503"
    TOO_MANY_REQUESTS = "429"
    RANGE_NOT_SATISFIABLE = "416"
    DROP = "drop"
    RESET = "reset"
    CORRUPT = "corrupt"
    CUT = "cut"


class Ranges(enum.Enum):
    """How the server answers a request for the bytes of a file from N on."""

    IGNORED = "ignored"
    HONOURED = "honoured"
    MISPLACED = "misplaced"


class _Handler(BaseHTTPRequestHandler):
    server: _Server  # narrowed for type checkers

    def do_GET(self) -> None:
        owner = self.server.owner
        asked, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        owner.record(self.path, asked, if_range)
        fault = owner.take_fault()
        path = owner.resolve(self.path)
        if fault.value.isdigit():  # an HTTP error status
            self.send_error(int(fault.value))
            return
        if path is None:
            self.send_error(404, "Not Found")
            return
        size = path.stat().st_size
        etag = (
            f'"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"' if owner.validators else None
        )
        if etag is not None and if_range not in (None, etag):
            asked = None  # the file changed since: all of it
        start = self._range_start(asked, owner.ranges, size)
        end = size
        if start is not None and owner.range_cap is not None:
            end = min(size, start + owner.range_cap)
        self.send_response(200 if start is None else 206)
        self.send_header("Content-Type", "application/octet-stream")
        if etag is not None:
            self.send_header("ETag", etag)
        if fault is not Fault.CUT:
            self.send_header("Content-Length", str(end - (start or 0)))
        if start is not None:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        # The client may go away mid-transfer (a cancelled download): nothing to report.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send_body(path, start or 0, end, size, fault, owner.chunk_delay)

    @staticmethod
    def _range_start(asked: str | None, ranges: Ranges, size: int) -> int | None:
        """Where the answer starts in the file; None for a whole file sent with 200."""
        found = re.fullmatch(r"bytes=(\d+)-", asked or "")
        if found is None or ranges is Ranges.IGNORED or int(found[1]) >= size:
            return None
        return 0 if ranges is Ranges.MISPLACED else int(found[1])

    def _send_body(
        self, path: Path, start: int, end: int, size: int, fault: Fault, delay: float
    ) -> None:
        """Send the file's bytes from ``start`` to ``end`` (of ``size``), with ``fault``."""
        cut = fault in (Fault.DROP, Fault.RESET, Fault.CUT)
        limit = start + (end - start) // 2 if cut else end
        middle = size // 2
        sent = start
        with path.open("rb") as src:
            src.seek(start)
            while sent < limit and not self.server.owner.stopping.is_set():
                data = bytearray(src.read(min(CHUNK, limit - sent)))
                if fault is Fault.CORRUPT and sent <= middle < sent + len(data):
                    data[middle - sent] ^= 0xFF
                self.wfile.write(data)
                sent += len(data)
                if delay:
                    self.server.owner.stopping.wait(delay)  # a stop ends a slow transfer
        if fault is Fault.RESET:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.server.to_reset.add(self.connection)  # closed without a FIN first
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FileServer

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.to_reset: set[socket.socket] = set()

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        # The default shuts the write side down first, which sends a FIN the client may read
        # as a clean end of file before the RST arrives; a reset connection must only reset.
        if request in self.to_reset:
            self.to_reset.discard(request)
            self.close_request(request)
        else:
            super().shutdown_request(request)


class FileServer:
    """Serves ``root`` on ``http://127.0.0.1:<port>`` from a background thread."""

    def __init__(
        self,
        root: Path,
        fault: Fault = Fault.NONE,
        chunk_delay: float = 0.0,
        times: int | None = None,
        ranges: Ranges = Ranges.IGNORED,
        range_cap: int | None = None,
        validators: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        self.fault = fault
        self.chunk_delay = chunk_delay
        self.times = times  # requests the fault is still for (None: all)
        self.ranges = ranges
        self.range_cap = range_cap  # the most bytes a 206 sends (None: no limit)
        self.validators = validators  # an ETag on each answer, If-Range heeded
        self.requests: list[str] = []
        self.ranges_asked: list[str | None] = []
        self.if_ranges_asked: list[str | None] = []
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()  # set by stop(): no transfer outlives its server

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    def url_for(self, relpath: str) -> str:
        return f"{self.url}/{relpath.lstrip('/')}"

    def record(self, path: str, asked: str | None = None, if_range: str | None = None) -> None:
        with self._lock:
            self.requests.append(urllib.parse.unquote(path))
            self.ranges_asked.append(asked)
            self.if_ranges_asked.append(if_range)

    def take_fault(self) -> Fault:
        """The fault of the request now arriving (counted against ``times``)."""
        with self._lock:
            if self.times is None:
                return self.fault
            if self.times <= 0:
                return Fault.NONE
            self.times -= 1
            return self.fault

    def resolve(self, url_path: str) -> Path | None:
        """The file under root that a request path names, or None (missing or outside root)."""
        rel = urllib.parse.unquote(urllib.parse.urlsplit(url_path).path).lstrip("/")
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def start(self) -> FileServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FileServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def serve(root: Path, fault: Fault = Fault.NONE, chunk_delay: float = 0.0) -> Iterator[FileServer]:
    """Serve ``root`` for the duration of the ``with`` block."""
    server = FileServer(root, fault, chunk_delay).start()
    try:
        yield server
    finally:
        server.stop()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def http_server() -> Iterator[Callable[..., FileServer]]:
    """Factory fixture: ``http_server(root, fault=..., chunk_delay=..., times=..., ranges=...,
    range_cap=..., validators=...)`` -> started server."""
    servers: list[FileServer] = []

    def start(root: Path, **options: Any) -> FileServer:  # FileServer's own options
        server = FileServer(root, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def offline_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model store built without base URLs must not reach the internet: a dead local port."""
    from tagbox_gui.core.store.models import ENV_BASE_URL, ENV_MODEL_DIR

    monkeypatch.setenv(ENV_BASE_URL, closed_port_url())
    monkeypatch.delenv(ENV_MODEL_DIR, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
