"""Model downloads against a local HTTP server (never the internet), cancels, mirrors,
licences, installing a file by hand, and the transfer primitives."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import socket
import threading
import time
from dataclasses import replace
from email.message import Message
from pathlib import Path
from typing import ClassVar

import pytest

from tagbox_gui.core.errors import DownloadError, ModelError
from tagbox_gui.core.folders import format_size
from tagbox_gui.core.store import download as dl
from tagbox_gui.core.store import keeping, resuming
from tagbox_gui.core.store.download import DownloadCancelled
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.store.registry import JUKEBOX, REGISTRY
from tagbox_gui.core.types import TaggerSpec
from tests.core.model_files import CHECKPOINT_HEAD, FCN, FCN_REL
from tests.core.model_files import files as _files
from tests.core.model_files import sha as _sha
from tests.httpserver import Fault, FileServer, Ranges, closed_port_url, http_server  # noqa: F401

ERROR_PAGE = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>\n" * 50

pytestmark = pytest.mark.usefixtures("offline_models", "no_resume_pause")


@pytest.fixture
def no_resume_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dropped download asks for the rest at once: the tests do not wait out the pauses."""
    monkeypatch.setattr(resuming, "FIRST_PAUSE", 0.0)


@pytest.fixture
def server(http_server, model_dir: Path) -> FileServer:  # noqa: F811
    return http_server(model_dir)


@pytest.fixture
def jukebox_mirror(tmp_path: Path) -> Path:
    """A mirror folder with a stand-in Jukebox file (its real checksum is unknown anyway): it
    starts as torch.save's files do, the one check a file without a known checksum gets."""
    root = tmp_path / "mirror"
    (root / "jukebox").mkdir(parents=True)
    (root / "jukebox" / "vqvae.pth.tar").write_bytes(CHECKPOINT_HEAD + bytes(range(256)) * 1000)
    return root


# --- downloads ------------------------------------------------------------------------------


def test_fetch_success_with_progress(tmp_path: Path, server: FileServer, model_dir: Path) -> None:
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    calls: list[tuple[int, int | None]] = []
    path = store.fetch(FCN, progress=lambda done, total: calls.append((done, total)))
    size = REGISTRY[FCN].size
    assert path == tmp_path / "store" / FCN_REL
    assert path.read_bytes() == (model_dir / FCN_REL).read_bytes()
    assert store.verify(FCN) == "verified" and store.path(FCN) == path
    assert calls[0] == (0, size) and calls[-1] == (size, size) and len(calls) > 2
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert server.requests == [f"/{FCN_REL}"]
    assert _files(tmp_path / "store") == [path]  # no temp file left
    assert store.available_taggers() == [TaggerSpec("fcn", "mtat")]


def _nothing_but_kept(root: Path) -> None:
    """No model file nor temporary under ``root``: at most the parts that downloads kept for
    the next to go on from, each with its note."""
    files = _files(root)
    parts = [p for p in files if p.name.endswith(".part") and not p.name.startswith(".")]
    assert files == sorted([*parts, *(p.with_name(f"{p.name}.json") for p in parts)])


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault.CORRUPT, "checksum mismatch"),
        (Fault.NOT_FOUND, "HTTP 404"),
        (Fault.DROP, r"connection dropped after \d+ of 1902811 bytes"),
        # A reset surfaces as ECONNRESET or as an early end of file, depending on timing.
        (Fault.RESET, r"connection lost \(ConnectionResetError|connection dropped after"),
    ],
)
def test_failed_fetch_leaves_nothing(
    tmp_path: Path, server: FileServer, fault: Fault, message: str
) -> None:
    server.fault = fault
    store = ModelStore(tmp_path, base_urls=[server.url])
    with pytest.raises(DownloadError, match=message) as info:
        store.fetch(FCN)
    assert "tagbox models fetch fcn/mtat" in str(info.value)
    assert "`tagbox models install fcn/mtat FILE`" in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))  # e.g. from a worker process
    assert type(again) is type(info.value) and str(again) == str(info.value)
    # A drop is asked for again once (this server starts over, and drops where it did). A
    # reset may also throw away bytes the client had not read yet, so a try that starts over
    # can bring more than the one before, and be followed by another, up to MAX_RESUMES times.
    resets = list(range(1, resuming.MAX_RESUMES + 2))
    tries = {Fault.DROP: [2], Fault.RESET: resets}.get(fault, [1])
    assert len(server.requests) in tries and set(server.requests) == {f"/{FCN_REL}"}
    _nothing_but_kept(tmp_path)  # a connection failed for good: what came is kept
    if fault in (Fault.CORRUPT, Fault.NOT_FOUND):
        assert list(tmp_path.iterdir()) == []  # nor the folders made for the file
    assert store.status(FCN) == "missing"


def test_a_file_that_arrives_with_the_wrong_checksum_is_said_to_be_another_file(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """Every byte arrived, but not the file expected: the connection is not the problem, so
    the advice is not to check it; it says what may have happened and what to do."""
    corrupt = http_server(model_dir, fault=Fault.CORRUPT)
    store = ModelStore(tmp_path, base_urls=[corrupt.url, http_server(model_dir).url])
    store.fetch(FCN)  # one mirror serving another file, the next the right one: no error
    store.location(FCN).unlink()
    store = ModelStore(tmp_path, base_urls=[corrupt.url])
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        store.fetch(FCN)
    text = str(info.value)
    assert "connection" not in text
    assert "what arrived is not the expected best_model.pth" in text
    assert "nothing was installed" in text and "mirror" in text and "damaged" in text
    assert "retry `tagbox models fetch fcn/mtat`" in text
    assert "`tagbox models install fcn/mtat FILE`" in text
    assert _files(tmp_path) == []


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_server_that_answers_with_an_error_is_not_said_to_be_the_connection(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    mirrored: bool,
) -> None:
    """A 404 (or 403, 503) is an answer: the connection works, the server did not give the
    file. The advice says so, and points at the mirror where one is set."""
    missing = http_server(model_dir, fault=Fault.NOT_FOUND)
    if mirrored:
        store = ModelStore(tmp_path, base_urls=[missing.url])
    else:  # upstream's URLs: the registry's, here the local server's
        monkeypatch.setitem(REGISTRY, FCN, replace(REGISTRY[FCN], urls=(missing.url_for(FCN_REL),)))
        store = ModelStore(tmp_path, base_urls=[])
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        store.fetch(FCN)
    text = str(info.value)
    assert "connection" not in text and "the server did not send it" in text
    assert ("TAGBOX_MODEL_BASE_URL" in text) is mirrored
    assert "`tagbox models install fcn/mtat FILE`" in text
    assert _files(tmp_path) == []


def test_a_response_longer_than_the_known_file_is_refused_before_it_fills_the_disk(
    tmp_path: Path,
    http_server,  # noqa: F811
) -> None:
    """Where the registry knows the file's size and sha256, a response of another length (a
    mirror serving a big file in its place) cannot be it: refused on its Content-Length, or
    once more bytes than the file's came, not after the whole of it was written."""
    wrong = tmp_path / "mirror" / FCN_REL
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(bytes(20 * REGISTRY[FCN].size))
    store = ModelStore(tmp_path / "store", base_urls=[http_server(tmp_path / "mirror").url])
    seen: list[int] = []
    with pytest.raises(DownloadError, match=r"not the expected best_model\.pth") as info:
        store.fetch(FCN, progress=lambda done, total: seen.append(done))
    assert f"{20 * REGISTRY[FCN].size} bytes" in str(info.value)
    assert max(seen, default=0) == 0  # refused on its length: nothing written
    with pytest.raises(dl.ChecksumMismatch, match=f"more than the {REGISTRY[FCN].size} bytes"):
        dl.copy_stream(io.BytesIO(bytes(20 * REGISTRY[FCN].size)), io.BytesIO(), None,
                       size=REGISTRY[FCN].size)  # fmt: skip
    assert _files(tmp_path / "store") == []


def test_reset_while_reading_is_a_download_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Resetting(io.BytesIO):
        status = 200
        headers: ClassVar[dict[str, str]] = {"Content-Length": str(REGISTRY[FCN].size)}

        def read(self, size: int = -1, /) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError(104, "Connection reset by peer")
            return super().read(size)

        read1 = read  # what the download calls on a response

    monkeypatch.setattr(
        dl.urllib.request.OpenerDirector, "open", lambda *a, **k: Resetting(b"x" * 10**6)
    )
    with pytest.raises(DownloadError, match=r"connection lost \(ConnectionResetError"):
        ModelStore(tmp_path, base_urls=["http://127.0.0.1:1"]).fetch(FCN)
    _nothing_but_kept(tmp_path)


def test_connection_refused_is_a_download_error(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)  # base URL from the environment: a closed port
    with pytest.raises(DownloadError, match="cannot connect"):
        store.fetch(FCN)
    assert _files(tmp_path) == []


def test_cancel_from_progress_callback(tmp_path: Path, server: FileServer) -> None:
    store = ModelStore(tmp_path, base_urls=[server.url])
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(DownloadCancelled, match="cancelled"):
        store.fetch(FCN, progress=progress, cancel=cancel)
    _nothing_but_kept(tmp_path)
    assert issubclass(DownloadCancelled, DownloadError)


def _fetch_in_a_thread(
    store: ModelStore,
) -> tuple[threading.Thread, threading.Event, list[BaseException]]:
    """Start fetching musicnn/mtat in a thread and return once its first bytes have come: the
    thread, the cancel event it watches, and the list that gets what ended it."""
    cancel, started = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            store.fetch("musicnn/mtat", progress=lambda d, t: d and started.set(), cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    assert started.wait(10)
    return worker, cancel, outcome


def _cancel_and_check(
    worker: threading.Thread,
    cancel: threading.Event,
    outcome: list[BaseException],
    root: Path,
    within: float,
) -> float:
    """Cancel the fetch of :func:`_fetch_in_a_thread`; check that it ended ``within`` seconds
    as a cancel and left no file under ``root``. Returns the seconds it took to end."""
    began = time.monotonic()
    cancel.set()
    worker.join(within)
    took = time.monotonic() - began
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled)
    _nothing_but_kept(root)
    return took


def test_cancel_from_another_thread(tmp_path: Path, http_server, model_dir: Path) -> None:  # noqa: F811
    slow = http_server(model_dir, chunk_delay=0.02)
    store = ModelStore(tmp_path, base_urls=[slow.url])
    _cancel_and_check(*_fetch_in_a_thread(store), tmp_path, within=10)


def test_cancel_is_prompt_on_a_slow_server(tmp_path: Path, http_server, model_dir: Path) -> None:  # noqa: F811
    """A cancel takes effect on the next bytes to arrive, not once a whole 256 KiB chunk has:
    at 64 KiB a second that was 4 s (a slower server: minutes)."""
    slow = http_server(model_dir, chunk_delay=1.0)  # 64 KiB a second
    store = ModelStore(tmp_path, base_urls=[slow.url])
    took = _cancel_and_check(*_fetch_in_a_thread(store), tmp_path, within=10)
    assert took < 2.0  # one chunk of the server's: at most 1 s


def test_cancel_is_prompt_on_a_stalled_server(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A server that stops sending mid-file: a cancel ends the download at once, as a cancel
    (not after the 30 s socket timeout, as a connection failure)."""
    stalled = http_server(model_dir, chunk_delay=60.0)  # one 64 KiB chunk, then silence
    store = ModelStore(tmp_path, base_urls=[stalled.url])
    fetching = _fetch_in_a_thread(store)
    time.sleep(0.3)  # the reader is now waiting for bytes that do not come
    _cancel_and_check(*fetching, tmp_path, within=5)


def test_cancel_is_prompt_while_the_server_has_not_answered(tmp_path: Path) -> None:
    """A server that takes the request and never answers (overloaded, a stuck proxy): a cancel
    ends the download at once, not after the 30 s socket timeout (the Cancel button did
    nothing for that long, and quitting the app waited for it)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        store = ModelStore(tmp_path, base_urls=[f"http://127.0.0.1:{silent.getsockname()[1]}"])
        cancel, outcome = threading.Event(), []

        def work() -> None:
            try:
                store.fetch(FCN, cancel=cancel)
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        silent.settimeout(10)
        connection, _ = silent.accept()
        with connection:
            assert connection.recv(1024).startswith(b"GET /")  # asked, and waiting
            began = time.monotonic()
            cancel.set()
            worker.join(10)
            assert time.monotonic() - began < 5.0  # not the socket timeout's 30 s
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled)
    assert _files(tmp_path) == []


def test_mirrors_are_tried_in_order(tmp_path: Path, http_server, model_dir: Path) -> None:  # noqa: F811
    broken = http_server(model_dir, fault=Fault.CORRUPT)
    missing = http_server(model_dir, fault=Fault.NOT_FOUND)
    good = http_server(model_dir)
    store = ModelStore(tmp_path, base_urls=[broken.url, closed_port_url(), missing.url, good.url])
    assert store.fetch(FCN) == store.location(FCN)
    assert store.verify(FCN) == "verified"
    assert broken.requests == missing.requests == good.requests == [f"/{FCN_REL}"]
    assert _files(tmp_path) == [store.location(FCN)]


def test_all_mirrors_failing_reports_each(tmp_path: Path, http_server, model_dir: Path) -> None:  # noqa: F811
    dropped = http_server(model_dir, fault=Fault.DROP)
    missing = http_server(model_dir, fault=Fault.NOT_FOUND)
    store = ModelStore(tmp_path, base_urls=[dropped.url, missing.url])
    with pytest.raises(DownloadError) as info:
        store.fetch(FCN)
    text = str(info.value)
    assert f"{dropped.url}/{FCN_REL}: connection dropped" in text
    assert f"{missing.url}/{FCN_REL}: HTTP 404" in text
    assert text.index(dropped.url) < text.index(missing.url)
    assert store.kept(FCN) > 0 and not store.location(FCN).exists()  # the 404 left it


def test_mirrors_failing_in_different_ways_still_say_what_was_kept(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A part kept from one mirror, which is then unreachable, and another mirror without the
    file (404): the message names what each did and says what is kept for the next fetch."""
    first = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    missing = http_server(model_dir, fault=Fault.NOT_FOUND)
    store = ModelStore(tmp_path, base_urls=[first.url, missing.url])
    kept = _cancelled_part_way(store, FCN)
    first.stop()  # nothing listens there now
    with pytest.raises(DownloadError) as info:
        store.fetch(FCN)
    text = str(info.value)
    assert text.startswith("could not download fcn/mtat: no URL sent it intact (")
    assert f"{missing.url}/{FCN_REL}: HTTP 404 Not Found (an answer, without the file)" in text
    assert text.count(keeping.kept_said(kept)) == 1 and store.kept(FCN) == kept


def test_mirrors_that_each_answer_with_an_error_are_said_to_refuse_it(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A server busy (503) and one without the file (404) both answered: the file was refused,
    whether to try later or not."""
    busy = http_server(model_dir, fault=Fault.UNAVAILABLE)
    missing = http_server(model_dir, fault=Fault.NOT_FOUND)
    store = ModelStore(tmp_path, base_urls=[busy.url, missing.url])
    with pytest.raises(DownloadError, match="the server did not send it") as info:
        store.fetch(FCN)
    assert "HTTP 503" in str(info.value) and "HTTP 404" in str(info.value)


def test_mirrors_failing_in_different_ways_are_each_named_without_blaming_the_connection(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """One mirror without the file, one dropping the connection, one sending another file: the
    message says what each did, and does not send the user off to check a connection that
    two of them plainly answered on."""
    missing = http_server(model_dir, fault=Fault.NOT_FOUND)
    dropped = http_server(model_dir, fault=Fault.DROP)
    corrupt = http_server(model_dir, fault=Fault.CORRUPT)
    store = ModelStore(tmp_path, base_urls=[missing.url, dropped.url, corrupt.url])
    with pytest.raises(DownloadError) as info:
        store.fetch(FCN)
    text = str(info.value)
    assert "\n" not in text and "check your connection" not in text
    assert text.startswith("could not download fcn/mtat: no URL sent it intact (")
    assert f"{missing.url}/{FCN_REL}: HTTP 404 Not Found (an answer, without the file)" in text
    assert f"{dropped.url}/{FCN_REL}: connection dropped after" in text
    assert f"{corrupt.url}/{FCN_REL}: checksum mismatch" in text and "(another file came)" in text
    assert text.index(missing.url) < text.index(dropped.url) < text.index(corrupt.url)
    assert "TAGBOX_MODEL_BASE_URL" in text
    assert "retry `tagbox models fetch fcn/mtat`" in text
    assert "`tagbox models install fcn/mtat FILE`" in text
    assert _files(tmp_path) == []


def test_mirrors_that_all_fail_to_connect_advise_the_connection(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    dropped = http_server(model_dir, fault=Fault.DROP)
    store = ModelStore(tmp_path, base_urls=[closed_port_url(), dropped.url])
    with pytest.raises(DownloadError, match="cannot connect") as info:
        store.fetch(FCN)
    assert "check your connection" in str(info.value)


# --- a dropped connection resumed ---------------------------------------------------------


def _recording(calls: list[tuple[int, int | None]]) -> dl.Progress:
    return lambda done, total: calls.append((done, total))


def _check_progress(calls: list[tuple[int, int | None]], size: int) -> None:
    """Progress went from 0 to the whole file, never back, always of the whole file."""
    assert calls[0] == (0, size) and calls[-1] == (size, size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert {total for _, total in calls} == {size}


@pytest.mark.parametrize(("fault", "delay"), [(Fault.DROP, 0.0), (Fault.RESET, 0.01)])
def test_a_dropped_download_resumes_where_it_stopped(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    fault: Fault,
    delay: float,
) -> None:
    """A connection that drops half-way (closed early, or reset) costs only what was lost: the
    same URL is asked for the rest, which is appended to what came."""
    size = REGISTRY[FCN].size
    server = http_server(model_dir, fault=fault, chunk_delay=delay, times=1, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    calls: list[tuple[int, int | None]] = []
    assert store.fetch(FCN, progress=_recording(calls)) == store.location(FCN)
    assert store.verify(FCN) == "verified"
    assert server.requests == [f"/{FCN_REL}"] * 2
    first, resumed = server.ranges_asked
    assert first is None and resumed is not None
    have = int(resumed.removeprefix("bytes=").removesuffix("-"))
    assert 0 < have <= size // 2 and resumed == f"bytes={have}-"
    _check_progress(calls, size)
    assert _files(tmp_path) == [store.location(FCN)]


def test_a_server_without_ranges_sends_the_file_again_from_its_start(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A server that answers a request for the rest with the whole file (200): the file starts
    again from zero, and the download still succeeds; progress does not go back."""
    server = http_server(model_dir, fault=Fault.DROP, times=1, ranges=Ranges.IGNORED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    calls: list[tuple[int, int | None]] = []
    store.fetch(FCN, progress=_recording(calls))
    assert store.verify(FCN) == "verified"
    assert server.ranges_asked == [None, f"bytes={REGISTRY[FCN].size // 2}-"]
    _check_progress(calls, REGISTRY[FCN].size)
    assert _files(tmp_path) == [store.location(FCN)]


def test_a_server_that_drops_every_try_is_given_up_after_three_resumes(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    size = REGISTRY[FCN].size
    server = http_server(model_dir, fault=Fault.DROP, ranges=Ranges.HONOURED)  # every time
    store = ModelStore(tmp_path, base_urls=[server.url])
    calls: list[tuple[int, int | None]] = []
    with pytest.raises(DownloadError) as info:
        store.fetch(FCN, progress=_recording(calls))
    have = [0, size // 2]  # each try sends half of what is left
    for _ in range(2):
        have.append(have[-1] + (size - have[-1]) // 2)
    assert server.ranges_asked == [None] + [f"bytes={n}-" for n in have[1:]]
    end = have[-1] + (size - have[-1]) // 2
    text = str(info.value)
    assert f"connection dropped after {end} of {size} bytes" in text
    assert "resumed 3 times" in text and "gave up" in text
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    _nothing_but_kept(tmp_path)


def test_a_body_cut_short_of_the_known_size_is_a_dropped_connection(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A server that sends no Content-Length and closes the connection half-way: where the
    registry knows the file's size, a body that ends short of it is the connection ending early,
    not another file. It is resumed; where it cannot be, the error says how much came, and to
    check the connection and retry, not that the server sent the wrong file."""
    size = REGISTRY[FCN].size
    with pytest.raises(dl.ConnectionDropped, match=f"after {size // 2} of {size} bytes"):
        dl.copy_stream(io.BytesIO(bytes(size // 2)), io.BytesIO(), None, size=size)
    resumable = http_server(model_dir, fault=Fault.CUT, times=1, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path / "resumed", base_urls=[resumable.url])
    store.fetch(FCN)
    assert store.verify(FCN) == "verified"
    assert resumable.ranges_asked == [None, f"bytes={size // 2}-"]
    cut = http_server(model_dir, fault=Fault.CUT)  # every time, and the whole file each time
    with pytest.raises(DownloadError) as info:
        ModelStore(tmp_path / "cut", base_urls=[cut.url]).fetch(FCN)
    text = str(info.value)
    assert f"connection dropped after {size // 2} of {size} bytes" in text
    assert "not the expected" not in text and "checksum" not in text
    assert "check your connection and retry `tagbox models fetch fcn/mtat`" in text
    assert len(cut.requests) == 2  # asked again once: it sent nothing new
    _nothing_but_kept(tmp_path / "cut")


def test_a_server_that_sends_no_further_is_not_asked_again(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """Without ranges, a server that drops at the same point each time: asked once more (it
    starts over), then given up, since that try brought nothing new."""
    server = http_server(model_dir, fault=Fault.DROP, ranges=Ranges.IGNORED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    with pytest.raises(DownloadError, match="it sent nothing new"):
        store.fetch(FCN)
    assert len(server.requests) == 2
    _nothing_but_kept(tmp_path)


def test_a_206_of_another_range_is_not_trusted(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A server that answers the request for the rest with another piece of the file: its
    bytes are not appended (nor is the file started over): the URL fails, saying why."""
    size = REGISTRY[FCN].size
    server = http_server(model_dir, fault=Fault.DROP, times=1, ranges=Ranges.MISPLACED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    with pytest.raises(DownloadError) as info:
        store.fetch(FCN)
    text = str(info.value)
    assert f"connection dropped after {size // 2} of {size} bytes" in text
    assert f"bytes 0-{size - 1}/{size}, not the bytes from {size // 2} on" in text
    assert len(server.requests) == 2
    assert _files(tmp_path) == []


def test_a_server_that_caps_its_ranges_is_asked_for_each_part(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A server (a CDN) that sends at most 100 kB per range: each part that starts where the
    file stands is appended, and the rest asked for, more times than a dropped connection is
    resumed; progress is of the whole file throughout."""
    size = REGISTRY[FCN].size
    server = http_server(
        model_dir, fault=Fault.DROP, times=1, ranges=Ranges.HONOURED, range_cap=100_000
    )
    store = ModelStore(tmp_path, base_urls=[server.url])
    calls: list[tuple[int, int | None]] = []
    store.fetch(FCN, progress=_recording(calls))
    assert store.verify(FCN) == "verified"
    have = range(size // 2, size, 100_000)  # after the drop, 100 kB at a time
    assert len(have) > resuming.MAX_RESUMES + 1
    assert server.ranges_asked == [None] + [f"bytes={n}-" for n in have]
    _check_progress(calls, size)
    assert _files(tmp_path) == [store.location(FCN)]


def test_a_file_sent_in_too_many_parts_is_given_up(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However many parts a server cuts the file into, the download asks for a bounded number
    of them."""
    monkeypatch.setattr(resuming, "MAX_PARTS", 3)
    server = http_server(
        model_dir, fault=Fault.DROP, times=1, ranges=Ranges.HONOURED, range_cap=100_000
    )
    store = ModelStore(tmp_path, base_urls=[server.url])
    with pytest.raises(DownloadError, match="in more than 3 parts"):
        store.fetch(FCN)
    assert len(server.requests) == 1 + 3
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("status", "content_range", "length", "expected"),
    [
        (206, "bytes 100-999/1000", "900", (100, 900, 1000)),
        (206, "bytes 100-999/*", None, (100, 900, 1000)),
        (200, None, "1000", (0, 1000, 1000)),  # the whole file again
        (200, None, None, (0, None, None)),
        (206, None, "900", "no Content-Range"),
        (206, "bytes 0-999/1000", "1000", "not the bytes from 100 on"),
        (206, "bytes 100-499/1000", "400", (100, 400, 1000)),  # a part: the rest comes next
        (206, "bytes 100-499/*", "400", (100, 400, 1000)),
        (206, "bytes 200-499/1000", "300", "not the bytes from 100 on"),  # a gap
        (206, "bytes 100-99/1000", "0", "not the bytes from 100 on"),  # nothing new
        (206, "bytes 100-1199/1200", "1100", "not the bytes from 100 on"),  # another file
        (206, "bytes 100-999/1000", "500", "not the bytes from 100 on"),
        (206, "items 100-999/1000", "900", "not the bytes from 100 on"),
    ],
)
def test_what_an_answer_for_the_rest_must_be(
    status: int, content_range: str | None, length: str | None, expected: tuple | str
) -> None:
    """The rest of the file of 1000 bytes, of which 100 came: a 206 of a range from byte 100
    on, to the end of that file or short of it."""
    headers = Message()
    if content_range is not None:
        headers["Content-Range"] = content_range
    if length is not None:
        headers["Content-Length"] = length
    if isinstance(expected, tuple):
        assert resuming.answer(status, headers, 100, 1000) == resuming.Answer(*expected)
    else:
        with pytest.raises(ValueError, match=expected):
            resuming.answer(status, headers, 100, 1000)


def test_the_request_for_the_rest_names_the_file_begun() -> None:
    """If-Range names the file the first bytes came from, so a server whose file changed
    sends the new one whole rather than its rest."""
    strong, weak = Message(), Message()
    strong["ETag"], strong["Last-Modified"] = '"v1"', "Mon, 01 Jan 2024 00:00:00 GMT"
    weak["ETag"], weak["Last-Modified"] = 'W/"v1"', "Mon, 01 Jan 2024 00:00:00 GMT"
    assert resuming.validator(strong) == '"v1"'
    assert resuming.validator(weak) == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert resuming.validator(Message()) is None
    assert resuming.request_headers(0, '"v1"') == {}
    assert resuming.request_headers(5, '"v1"') == {"Range": "bytes=5-", "If-Range": '"v1"'}
    assert resuming.request_headers(5, None) == {"Range": "bytes=5-"}


def test_a_cancel_when_the_connection_drops_asks_for_nothing_more(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    size = REGISTRY[FCN].size
    server = http_server(model_dir, fault=Fault.DROP, times=1, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    cancel = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done >= size // 2:  # the last bytes before the drop
            cancel.set()

    with pytest.raises(DownloadCancelled):
        store.fetch(FCN, progress=progress, cancel=cancel)
    assert server.requests == [f"/{FCN_REL}"]
    _nothing_but_kept(tmp_path)


def test_a_resumed_download_is_cancelled_at_once(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A cancel while the rest of the file comes, from a server that went silent, ends the
    download as promptly as on the first try."""
    size = REGISTRY[FCN].size
    server = http_server(model_dir, fault=Fault.DROP, times=1, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    cancel, outcome = threading.Event(), []
    resumed = threading.Event()

    def progress(done: int, total: int | None) -> None:
        if done:  # from the next request on: one chunk, then silence
            server.chunk_delay = 60.0
        if done > size // 2:
            resumed.set()

    def work() -> None:
        try:
            store.fetch(FCN, progress=progress, cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    assert resumed.wait(10)
    time.sleep(0.2)
    began = time.monotonic()
    cancel.set()
    worker.join(10)
    assert time.monotonic() - began < 5.0 and not worker.is_alive()  # not the 60 s silence
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled)
    _nothing_but_kept(tmp_path)


class _Pauses(threading.Event):
    """A cancel event that records how long each wait on it was for; with ``wait`` False, it
    returns at once (a pause not waited out), else it waits as an event does. ``pausing`` is
    set once a wait has begun."""

    def __init__(self, wait: bool) -> None:
        super().__init__()
        self.asked: list[float | None] = []
        self.pausing = threading.Event()
        self._wait = wait

    def wait(self, timeout: float | None = None) -> bool:
        self.asked.append(timeout)
        self.pausing.set()
        return super().wait(timeout) if self._wait else self.is_set()


def test_each_resume_waits_longer_than_the_last_first(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that drops every try is not asked again at once: 0.5 s before the first
    resume, then twice as long each time; nothing before the first request."""
    monkeypatch.setattr(resuming, "FIRST_PAUSE", 0.5)
    server = http_server(model_dir, fault=Fault.DROP, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    cancel = _Pauses(wait=False)
    with pytest.raises(DownloadError, match="resumed 3 times"):
        store.fetch(FCN, cancel=cancel)
    assert cancel.asked == [0.5, 1.0, 2.0]
    assert len(server.requests) == 4
    _nothing_but_kept(tmp_path)


def test_a_cancel_during_the_pause_before_a_resume_ends_the_download_at_once(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resuming, "FIRST_PAUSE", 60.0)
    server = http_server(model_dir, fault=Fault.DROP, times=1, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    cancel, outcome = _Pauses(wait=True), []

    def work() -> None:
        try:
            store.fetch(FCN, cancel=cancel)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    assert cancel.pausing.wait(10)
    began = time.monotonic()
    cancel.set()
    worker.join(10)
    assert time.monotonic() - began < 5.0 and not worker.is_alive()  # not the 60 s pause
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled)
    assert server.requests == [f"/{FCN_REL}"]  # the rest was not asked for
    _nothing_but_kept(tmp_path)


def test_jukebox_needs_licence_acceptance(
    tmp_path: Path,
    http_server,  # noqa: F811
    jukebox_mirror: Path,
) -> None:
    mirror = http_server(jukebox_mirror)
    store = ModelStore(tmp_path / "store", base_urls=[mirror.url])
    with pytest.raises(ModelError, match=r"Noncommercial.*--accept-license") as info:
        store.fetch(JUKEBOX)
    assert not isinstance(info.value, DownloadError)
    assert mirror.requests == [] and _files(tmp_path / "store") == []
    path = store.fetch(JUKEBOX, accept_license=True)
    assert path == tmp_path / "store" / "jukebox" / "vqvae.pth.tar"
    assert path.read_bytes() == (jukebox_mirror / "jukebox" / "vqvae.pth.tar").read_bytes()
    assert store.has_jukebox() and store.jukebox_path() == path
    assert store.verify(JUKEBOX) == "unknown checksum"


def test_a_page_that_is_no_checkpoint_is_not_installed(
    tmp_path: Path,
    http_server,  # noqa: F811
    jukebox_mirror: Path,
) -> None:
    """Without a known checksum, what a server sends must at least be a PyTorch checkpoint:
    an HTML page (a proxy's sign-in page, a mirror's error page sent with 200) is refused and
    the next mirror tried."""
    portal = tmp_path / "portal"
    (portal / "jukebox").mkdir(parents=True)
    (portal / "jukebox" / "vqvae.pth.tar").write_bytes(ERROR_PAGE)
    first = http_server(portal)
    store = ModelStore(tmp_path / "store", base_urls=[first.url])
    with pytest.raises(DownloadError, match="not a PyTorch checkpoint") as refused:
        store.fetch(JUKEBOX, accept_license=True)
    told = str(refused.value)  # the server answered: not the connection's fault
    assert "what arrived is not the expected vqvae.pth.tar" in told and "web page" in told
    assert "connection" not in told and "checksum" not in told  # Jukebox has none known
    assert _files(tmp_path / "store") == []
    store = ModelStore(tmp_path / "store", base_urls=[first.url, http_server(jukebox_mirror).url])
    path = store.fetch(JUKEBOX, accept_license=True)
    assert path.read_bytes() == (jukebox_mirror / "jukebox" / "vqvae.pth.tar").read_bytes()


def test_a_stored_file_that_is_no_checkpoint_is_corrupt_and_fetched_again(
    tmp_path: Path,
    http_server,  # noqa: F811
    jukebox_mirror: Path,
) -> None:
    """The loader calls such a file corrupt and says to fetch it again: verify must say so too,
    and fetch (without --force) must replace it, not answer that it is already there."""
    store = ModelStore(tmp_path / "store", base_urls=[http_server(jukebox_mirror).url])
    store.location(JUKEBOX).parent.mkdir(parents=True)
    store.location(JUKEBOX).write_bytes(ERROR_PAGE)
    assert store.verify(JUKEBOX) == "mismatch"
    path = store.fetch(JUKEBOX, accept_license=True)
    assert path.read_bytes() == (jukebox_mirror / "jukebox" / "vqvae.pth.tar").read_bytes()
    assert store.verify(JUKEBOX) == "unknown checksum"


def test_a_part_file_left_by_a_killed_download_goes_with_the_next(
    tmp_path: Path, server: FileServer
) -> None:
    """A download killed outright (kill -9, a power cut) leaves its temporary behind: the
    next download of that model removes it; a file of another name stays."""
    store = ModelStore(tmp_path, base_urls=[server.url])
    folder = store.location(FCN).parent
    folder.mkdir(parents=True)
    left = folder / ".best_model.pth.0123456789ab.part"
    left.write_bytes(b"x" * 100_000)
    other = folder / "notes.part"  # not a temporary of the store's
    other.write_bytes(b"mine")
    store.fetch(FCN)
    assert _files(tmp_path) == sorted([store.location(FCN), other])


@pytest.mark.skipif(os.name != "posix", reason="flock as POSIX has it")
def test_the_part_files_other_models_left_go_with_any_download(
    tmp_path: Path, server: FileServer
) -> None:
    """The temporaries that killed downloads of other models left go with the next download
    of any model; one that a process holds (a download still running) is kept."""
    import fcntl

    store = ModelStore(tmp_path, base_urls=[server.url])
    left, held = (
        store.location(name).parent / ".best_model.pth.0123456789ab.part"
        for name in ("crnn/mtat", "musicnn/jamendo")
    )
    for part in (left, held):
        part.parent.mkdir(parents=True)
        part.write_bytes(b"x" * 1000)
    with held.open("rb+") as writing:
        fcntl.flock(writing, fcntl.LOCK_EX)  # as a live download holds its temporary
        store.fetch(FCN)
    assert _files(tmp_path) == sorted([store.location(FCN), held])


def test_the_part_file_of_a_download_still_running_is_kept(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """Two instances fetching one model at once: the second must not remove the temporary
    the first is still writing; both end with the model in place."""
    slow = ModelStore(tmp_path, base_urls=[http_server(model_dir, chunk_delay=0.02).url])
    worker, _, outcome = _fetch_in_a_thread(slow)
    (part,) = slow.location("musicnn/mtat").parent.glob("*.part")
    fast = ModelStore(tmp_path, base_urls=[http_server(model_dir).url])
    fast.fetch("musicnn/mtat", force=True)
    assert part.exists()
    worker.join(20)
    assert not worker.is_alive() and outcome == []
    assert fast.verify("musicnn/mtat") == "verified"
    assert _files(tmp_path) == [fast.location("musicnn/mtat")]


def test_fetch_keeps_a_good_file_and_replaces_a_bad_one(
    tmp_path: Path, server: FileServer, model_dir: Path
) -> None:
    store = ModelStore(tmp_path, base_urls=[server.url])
    store.fetch(FCN)
    server.requests.clear()
    store.fetch(FCN)
    assert server.requests == []  # verified copy kept, nothing downloaded
    store.location(FCN).write_bytes(b"garbage")
    store.fetch(FCN)
    assert server.requests == [f"/{FCN_REL}"] and store.verify(FCN) == "verified"
    store.fetch(FCN, force=True)
    assert len(server.requests) == 2


def test_fetch_into_unwritable_folder(tmp_path: Path, server: FileServer) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")  # a file where the store wants a folder: fails even as root
    with pytest.raises(ModelError, match="not-a-folder' is a file, not a folder"):
        ModelStore(blocker, base_urls=[server.url]).fetch(FCN)
    assert server.requests == []
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "taggers").write_text("x")  # a file in place of a folder of the store
    with pytest.raises(ModelError) as refused:
        ModelStore(tmp_path / "store", base_urls=[server.url]).fetch(FCN)
    assert f"'{tmp_path / 'store' / 'taggers'}' is a file, not a folder" in str(refused.value)
    assert server.requests == []


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
@pytest.mark.parametrize("where", ["itself", "above"])
def test_a_model_folder_that_links_to_nothing_is_said_to_be_such_a_link(
    tmp_path: Path, server: FileServer, model_dir: Path, where: str
) -> None:
    # $TAGBOX_MODEL_DIR -> /media/usb/models with the drive not plugged in: it was said to be
    # 'a file, not a folder'; the link, where it leads and 'plug it in' are said, as for the
    # stems' export, and nothing is made where it leads.
    from tagbox_gui.core.store.failures import FolderUnusable

    link, usb = tmp_path / "models", tmp_path / "usb" / "models"
    link.symlink_to(usb)
    source = model_dir / FCN_REL
    store = ModelStore(link / ("" if where == "itself" else "tagbox"), base_urls=[server.url])
    said = f"'{link}' is a link to '{usb}', which is not there (a drive not plugged in?)"
    for attempt in (lambda: store.fetch(FCN), lambda: store.install_file(FCN, source)):
        with pytest.raises(FolderUnusable) as refused:
            attempt()
        assert refused.value.cause == said
        folder = store.location(FCN).parent
        assert str(refused.value) == (
            f"{said}, so the model folder {folder} cannot be made; plug it in, or choose another "
            "model folder with --model-dir or $TAGBOX_MODEL_DIR"
        )
        assert not (tmp_path / "usb").exists() and link.is_symlink()
    assert server.requests == []


@pytest.mark.parametrize("base", ["example.com/models", "/srv/models", "http://[::1"])
def test_a_mirror_that_is_no_url_is_said_before_any_download(tmp_path: Path, base: str) -> None:
    """A mirror written without its scheme (a host, a folder) or unparsable: a ModelError that
    names it and says how to write it, not a ValueError from deep inside urllib."""
    store = ModelStore(tmp_path / "store", base_urls=[base])
    with pytest.raises(ModelError) as info:
        store.fetch(FCN)
    text = str(info.value)
    assert f"'{base}' is not a web address" in text and "TAGBOX_MODEL_BASE_URL" in text
    assert "https://" in text and "file://" in text
    assert _files(tmp_path) == []


# --- a download kept across tries -----------------------------------------------------------


def _cancelled_part_way(store: ModelStore, name: str) -> int:
    """Fetch ``name`` and cancel it once its first bytes came; check that it says what it kept,
    that the model is not installed, and return the bytes kept (in its ``<file>.part``)."""
    cancel = threading.Event()
    with pytest.raises(DownloadCancelled) as info:
        store.fetch(name, progress=lambda done, _: done and cancel.set(), cancel=cancel,
                    accept_license=True)  # fmt: skip
    part = store.location(name).with_name(store.location(name).name + ".part")
    kept = part.stat().st_size
    assert kept > 0 and info.value.kept == kept == store.kept(name)
    assert str(info.value) == (
        f"download cancelled; the {format_size(kept)} received are kept, and the next download "
        "of it goes on from there"
    )
    assert store.status(name) == "missing" and not store.location(name).exists()
    return kept


def test_a_cancelled_download_goes_on_from_what_it_kept(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    size = REGISTRY[FCN].size
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    kept = _cancelled_part_way(store, FCN)
    assert kept < size
    calls: list[tuple[int, int | None]] = []
    store.fetch(FCN, progress=_recording(calls))
    assert server.ranges_asked == [None, f"bytes={kept}-"]
    assert store.verify(FCN) == "verified" and store.kept(FCN) == 0
    assert calls[-1] == (size, size) and calls[1][0] > kept  # the kept bytes are not fetched
    assert _files(tmp_path) == [store.location(FCN)]  # neither the part nor its note is left


def test_a_fresh_fetch_does_not_go_on_from_a_kept_part(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    _cancelled_part_way(store, FCN)
    store.fetch(FCN, force=True)
    assert server.ranges_asked == [None, None]
    assert store.verify(FCN) == "verified" and _files(tmp_path) == [store.location(FCN)]


def test_a_file_changed_on_the_server_between_tries_starts_over(
    tmp_path: Path,
    http_server,  # noqa: F811
    jukebox_mirror: Path,
) -> None:
    """The Jukebox checkpoint has no known checksum: only the server's ETag, sent back as
    If-Range, tells that the file changed since the part was kept; it then comes whole, and
    the new file is never spliced onto the old part."""
    server = http_server(jukebox_mirror, chunk_delay=0.01, ranges=Ranges.HONOURED, validators=True)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    kept = _cancelled_part_way(store, JUKEBOX)
    served = jukebox_mirror / "jukebox" / "vqvae.pth.tar"
    changed = CHECKPOINT_HEAD + bytes(reversed(range(256))) * 1000
    served.write_bytes(changed)
    store.fetch(JUKEBOX, accept_license=True)
    assert server.ranges_asked == [None, f"bytes={kept}-"]
    first_etag = server.if_ranges_asked[1]
    assert first_etag is not None and server.if_ranges_asked[0] is None
    assert store.location(JUKEBOX).read_bytes() == changed
    assert _files(store.root) == [store.location(JUKEBOX)]


def test_a_file_that_no_validator_or_checksum_names_is_not_kept(
    tmp_path: Path,
    http_server,  # noqa: F811
    jukebox_mirror: Path,
) -> None:
    """Without a checksum nor an ETag, a later download could not tell whether the file
    changed since: nothing is kept, and the message says so."""
    server = http_server(jukebox_mirror, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path / "store", base_urls=[server.url])
    cancel = threading.Event()
    with pytest.raises(DownloadCancelled, match=r"^download cancelled; nothing was kept$"):
        store.fetch(JUKEBOX, progress=lambda done, _: done and cancel.set(), cancel=cancel,
                    accept_license=True)  # fmt: skip
    assert _files(store.root) == [] and store.kept(JUKEBOX) == 0


def test_a_kept_part_whose_bytes_are_corrupt_is_deleted(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    kept = _cancelled_part_way(store, FCN)
    part = store.location(FCN).with_name("best_model.pth.part")
    damaged = bytearray(part.read_bytes())
    damaged[kept // 2] ^= 0xFF
    part.write_bytes(damaged)
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        store.fetch(FCN)
    assert server.ranges_asked == [None, f"bytes={kept}-"]
    assert (
        f"it went on from the {format_size(kept)} an earlier download kept, which may have been "
        "damaged: deleted now, so the next download starts over" in str(info.value)
    )
    assert _files(tmp_path) == [] and store.kept(FCN) == 0
    store.fetch(FCN)
    assert server.ranges_asked[-1] is None and store.verify(FCN) == "verified"


def test_a_server_without_ranges_starts_a_kept_download_over(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    size = REGISTRY[FCN].size
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.IGNORED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    kept = _cancelled_part_way(store, FCN)
    calls: list[tuple[int, int | None]] = []
    store.fetch(FCN, progress=_recording(calls))
    assert server.ranges_asked == [None, f"bytes={kept}-"]  # asked for, sent whole
    _check_progress(calls, size)
    assert store.verify(FCN) == "verified" and _files(tmp_path) == [store.location(FCN)]


def test_a_206_of_a_file_named_otherwise_is_not_spliced() -> None:
    """A server that heeds the Range but not the If-Range of a file that changed: its rest,
    named by another ETag, is refused rather than appended to the part of the old file."""
    headers = Message()
    headers["Content-Range"], headers["Content-Length"] = "bytes 5-9/10", "5"
    headers["ETag"] = '"b"'
    with pytest.raises(ValueError, match='named "b", not of "a"'):
        resuming.answer(206, headers, 5, 10, '"a"')
    assert resuming.answer(206, headers, 5, 10, '"b"') == resuming.Answer(5, 5, 10)


def test_a_connection_that_fails_for_good_keeps_what_came(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A connection that drops on every resume: what came is kept, the message says so, and
    the next fetch, on a working connection, goes on from there."""
    server = http_server(model_dir, fault=Fault.DROP, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    with pytest.raises(DownloadError, match="received are kept, and the next download"):
        store.fetch(FCN)
    kept = store.kept(FCN)
    assert kept > 0 and store.status(FCN) == "missing"
    server.fault = Fault.NONE
    store.fetch(FCN)
    assert server.ranges_asked[-1] == f"bytes={kept}-" and store.verify(FCN) == "verified"


@pytest.mark.parametrize("busy", [Fault.UNAVAILABLE, Fault.TOO_MANY_REQUESTS])
def test_a_server_busy_when_asked_for_the_rest_keeps_the_part(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    busy: Fault,
) -> None:
    """A 503 (down or busy) or 429 (too many requests) for the rest of a kept part says to try
    later: the part stays, and the next fetch, once the server is back, goes on from it."""
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    kept = _cancelled_part_way(store, FCN)
    server.fault = busy
    with pytest.raises(DownloadError, match=f"HTTP {busy.value}") as info:
        store.fetch(FCN)
    assert str(info.value).count("received are kept, and the next download") == 1
    assert server.ranges_asked[-1] == f"bytes={kept}-" and store.kept(FCN) == kept
    server.fault = Fault.NONE
    store.fetch(FCN)
    assert server.ranges_asked[-1] == f"bytes={kept}-" and store.verify(FCN) == "verified"
    assert _files(tmp_path) == [store.location(FCN)]


def test_a_server_busy_when_a_dropped_download_asks_for_the_rest_keeps_what_came(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """The connection drops part of the way and the server answers the request for the rest
    with 503: what came is kept for the next fetch."""
    server = http_server(model_dir, fault=Fault.DROP, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])

    def busy_from_now_on(done: int, _: int | None) -> None:
        if done:  # the first request took its drop already: the next ones get 503
            server.fault = Fault.UNAVAILABLE

    with pytest.raises(DownloadError, match=r"asked for the rest, HTTP 503.*received are kept"):
        store.fetch(FCN, progress=busy_from_now_on)
    kept = store.kept(FCN)
    assert kept > 0 and server.ranges_asked == [None, f"bytes={kept}-"]
    server.fault = Fault.NONE
    store.fetch(FCN)
    assert server.ranges_asked[-1] == f"bytes={kept}-" and store.verify(FCN) == "verified"


@pytest.mark.parametrize("refusal", [Fault.RANGE_NOT_SATISFIABLE, Fault.NOT_FOUND])
def test_a_server_that_refuses_the_rest_for_good_deletes_the_part(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    refusal: Fault,
) -> None:
    """A 416 (the range asked for is not in the file) or 404 is no state to wait out: the part
    is deleted, and the next fetch starts over."""
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    kept = _cancelled_part_way(store, FCN)
    server.fault = refusal
    with pytest.raises(DownloadError, match=f"HTTP {refusal.value}") as info:
        store.fetch(FCN)
    assert "kept" not in str(info.value)
    assert server.ranges_asked[-1] == f"bytes={kept}-" and store.kept(FCN) == 0
    assert _files(tmp_path) == []
    server.fault = Fault.NONE
    store.fetch(FCN)
    assert server.ranges_asked[-1] is None and store.verify(FCN) == "verified"


@pytest.mark.parametrize("refusal", [Fault.NOT_FOUND, Fault.RANGE_NOT_SATISFIABLE])
@pytest.mark.parametrize("down", [Fault.UNAVAILABLE, None])  # None: it no longer answers
def test_a_mirror_that_refuses_the_rest_leaves_the_part_another_kept(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
    refusal: Fault,
    down: Fault | None,
) -> None:
    """A part kept from the first mirror, now down (503) or unreachable, is taken up by the
    next; its refusal (404, 416) before any byte of the rest says nothing of that part, which
    stays as it was, its note naming the mirror it came from: the next fetch asks that one
    first and goes on from the part."""
    first = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    other = http_server(model_dir, fault=refusal)
    store = ModelStore(tmp_path, base_urls=[first.url, other.url])
    kept = _cancelled_part_way(store, FCN)
    note = store.location(FCN).with_name("best_model.pth.part.json")
    noted = note.read_text(encoding="utf-8")
    if down is None:
        first.stop()
    else:
        first.fault = down
    with pytest.raises(DownloadError, match=f"HTTP {refusal.value}") as info:
        store.fetch(FCN)
    assert other.ranges_asked == [f"bytes={kept}-"]
    assert store.kept(FCN) == kept and note.read_text(encoding="utf-8") == noted
    if down is None:
        return
    assert keeping.kept_said(kept) in str(info.value)
    first.fault = Fault.NONE
    store.fetch(FCN)
    assert first.ranges_asked[-1] == f"bytes={kept}-" and len(other.ranges_asked) == 1
    assert store.verify(FCN) == "verified" and _files(tmp_path) == [store.location(FCN)]


def test_a_mirror_that_sends_the_file_whole_over_a_part_keeps_its_own(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A part kept from the first mirror, now down, is replaced from byte 0 by the next one,
    which sends the whole file (200) and drops: what it sent is a download of its own, kept
    under its note."""
    first = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    other = http_server(model_dir, fault=Fault.DROP, ranges=Ranges.IGNORED)
    store = ModelStore(tmp_path, base_urls=[first.url, other.url])
    kept = _cancelled_part_way(store, FCN)
    first.fault = Fault.UNAVAILABLE
    with pytest.raises(DownloadError, match="connection dropped"):
        store.fetch(FCN)
    again = store.kept(FCN)  # what came of the whole file, asked for again (sent whole again)
    assert again > kept and other.ranges_asked == [f"bytes={kept}-", f"bytes={again}-"]
    note = store.location(FCN).with_name("best_model.pth.part.json").read_text(encoding="utf-8")
    assert json.loads(note)["url"] == f"{other.url}/{FCN_REL}"


def test_a_part_kept_of_a_model_found_in_place_is_removed(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """Another process brought the file meanwhile: the fetch finds it verified, downloads
    nothing, and removes the part and its note, which no download would take up again."""
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    _cancelled_part_way(store, FCN)
    store.location(FCN).write_bytes((model_dir / FCN_REL).read_bytes())
    assert store.fetch(FCN) == store.location(FCN)
    assert len(server.requests) == 1 and store.kept(FCN) == 0
    assert _files(tmp_path) == [store.location(FCN)]


def test_the_part_a_download_writes_stays_when_the_model_is_found_in_place(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    """A part that a download (here or in another process) holds is its own to finish or keep."""
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    _cancelled_part_way(store, FCN)
    fd = keeping.take(store.location(FCN))
    assert fd is not None
    try:
        store.location(FCN).write_bytes((model_dir / FCN_REL).read_bytes())
        store.fetch(FCN)
        assert keeping.part_path(store.location(FCN)).exists()
    finally:
        os.close(fd)


def test_installing_a_model_removes_the_part_a_download_kept(
    tmp_path: Path,
    http_server,  # noqa: F811
    model_dir: Path,
) -> None:
    server = http_server(model_dir, chunk_delay=0.01, ranges=Ranges.HONOURED)
    store = ModelStore(tmp_path, base_urls=[server.url])
    _cancelled_part_way(store, FCN)
    assert store.install_file(FCN, model_dir / FCN_REL) == store.location(FCN)
    assert store.kept(FCN) == 0 and _files(tmp_path) == [store.location(FCN)]


# --- install_file ---------------------------------------------------------------------------


def test_install_file_copies_and_checks(tmp_path: Path, model_dir: Path) -> None:
    store = ModelStore(tmp_path / "store")
    path = store.install_file(FCN, model_dir / FCN_REL)
    assert path == store.location(FCN) and store.verify(FCN) == "verified"
    assert _sha(path) == REGISTRY[FCN].sha256
    assert store.install_file(FCN, path) == path  # already in place: accepted as is
    with pytest.raises(ModelError, match=r"is not the crnn/mtat checkpoint \(checksum mismatch"):
        store.install_file("crnn/mtat", model_dir / FCN_REL)
    assert store.status("crnn/mtat") == "missing"
    assert _files(tmp_path / "store") == [path]
    with pytest.raises(ModelError, match="is not a file"):
        store.install_file(FCN, tmp_path / "nowhere.pth")


def test_a_refused_install_leaves_the_store_as_it_was(tmp_path: Path, model_dir: Path) -> None:
    """The folders an install made for a file it refused are removed again, and only those:
    a folder that was there before stays, empty or not."""
    fresh = ModelStore(tmp_path / "fresh")
    with pytest.raises(ModelError, match="checksum mismatch"):
        fresh.install_file("crnn/mtat", model_dir / FCN_REL)
    assert not (tmp_path / "fresh").exists()
    store = ModelStore(tmp_path / "store")
    (tmp_path / "store" / "taggers" / "mtat").mkdir(parents=True)  # there before, empty
    with pytest.raises(ModelError, match="checksum mismatch"):
        store.install_file("crnn/mtat", model_dir / FCN_REL)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [
        Path("store"),
        Path("store/taggers"),
        Path("store/taggers/mtat"),
    ]


def test_install_jukebox_needs_acceptance(tmp_path: Path, jukebox_mirror: Path) -> None:
    store = ModelStore(tmp_path / "store")
    src = jukebox_mirror / "jukebox" / "vqvae.pth.tar"
    with pytest.raises(ModelError, match="--accept-license"):
        store.install_file(JUKEBOX, src)
    assert not store.has_jukebox()
    assert store.install_file(JUKEBOX, src, accept_license=True) == store.location(JUKEBOX)
    assert store.has_jukebox() and store.location(JUKEBOX).read_bytes() == src.read_bytes()


# --- the transfer primitives -------------------------------------------------------------------


def test_copy_stream_without_content_length_uses_size_hint() -> None:
    data = bytes(range(256)) * 3000
    out = io.BytesIO()
    calls: list[tuple[int, int | None]] = []
    digest = dl.copy_stream(
        io.BytesIO(data), out, None, lambda d, t: calls.append((d, t)), None, 99
    )
    assert digest == hashlib.sha256(data).hexdigest() and out.getvalue() == data
    assert calls[0] == (0, 99) and calls[-1] == (len(data), 99)
    with pytest.raises(dl.TransferFailed, match=f"after {len(data)} of {len(data) + 1} bytes"):
        dl.copy_stream(io.BytesIO(data), io.BytesIO(), len(data) + 1)


def test_a_full_disk_on_the_last_buffered_bytes_is_a_model_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes still in the file's buffer are written when it closes: a full disk there is the
    same one-line error as during the transfer, and nothing is kept."""
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    real_fdopen = dl.os.fdopen

    def full_disk(fd: int, mode: str) -> object:
        dl.os.close(fd)
        return real_fdopen(dl.os.open("/dev/full", dl.os.O_WRONLY), mode)

    monkeypatch.setattr(dl.os, "fdopen", full_disk)
    with pytest.raises(ModelError, match="free some disk space"):
        dl.write_checked(tmp_path / "model.pth", None, lambda out, _: out.write(b"x" * 100) and "")
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("code", "advice"),
    [(errno.ENOSPC, "free some disk space"), (errno.EIO, "check the disk of the model folder")],
)
def test_a_write_that_fails_mid_transfer_advises_by_its_cause(code: int, advice: str) -> None:
    class Failing(io.BytesIO):
        def write(self, chunk) -> int:
            raise OSError(code, os.strerror(code))

    with pytest.raises(ModelError, match=f"{os.strerror(code)}\\); {advice}, and try again"):
        dl.copy_stream(io.BytesIO(b"x" * 10), Failing(), 10)
