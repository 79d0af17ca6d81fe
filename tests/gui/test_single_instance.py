"""One window per user: a later launch hands its song to the running instance and ends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QDir, QUrl
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from tagbox_gui.gui import app
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.single_instance import (
    ANSWER_MS,
    Answer,
    InstanceServer,
    come_forward,
    follow,
    hand_over,
    server_name,
)
from tests.gui.fake_engine import write_song

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def name() -> str:
    """A server name of the test's own (in the temporary folder), so that runs side by side
    and a TagBox open on the machine are not reached."""
    unique = f"tagbox-test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    yield unique
    QLocalServer.removeServer(unique)


def listening(name: str, window: MainWindow, monkeypatch) -> list[Path]:
    """The window following later launches on ``name``; the songs its ``open_song`` is
    called with (it still opens them)."""
    opened: list[Path] = []
    real = MainWindow.open_song

    def open_song(self: MainWindow, path: Path, note: str = "") -> int | None:
        opened.append(path)
        return real(self, path, note)

    monkeypatch.setattr(MainWindow, "open_song", open_song)
    server = InstanceServer(name, window)
    assert server.listen()
    follow(server, window)
    return opened


def test_a_later_launch_hands_its_song_to_the_window_which_opens_it(
    qtbot, window, song_path, name, monkeypatch
) -> None:
    opened = listening(name, window, monkeypatch)
    window.showMinimized()
    monkeypatch.chdir(song_path.parent)  # the launch's folder: the song is named from there
    with qtbot.waitSignal(window.song_loaded, timeout=10_000) as loaded:
        assert hand_over(name, Path(song_path.name)) is Answer.TAKEN
    assert opened == [song_path]
    assert loaded.args[0].path == song_path
    assert not window.isMinimized()


def test_a_later_launch_without_a_song_only_brings_the_window_forward(
    qtbot, window, name, monkeypatch
) -> None:
    opened = listening(name, window, monkeypatch)
    window.showMinimized()
    assert hand_over(name, None) is Answer.TAKEN
    qtbot.waitUntil(lambda: not window.isMinimized(), timeout=2000)
    qtbot.wait(50)  # a song would be opened on the next pass of the event loop
    assert opened == [] and window.song is None


def test_a_later_launch_asks_before_it_replaces_stems_that_never_left(
    qtbot, separated, tmp_path, name, monkeypatch
) -> None:
    window = separated
    shown = window.song.path
    listening(name, window, monkeypatch)
    asked: list[str] = []
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, q: asked.append(q) or False)
    other = write_song(tmp_path / "Other.wav", seconds=2.0)
    assert hand_over(name, other) is Answer.TAKEN
    qtbot.waitUntil(lambda: bool(asked), timeout=5000)
    assert "Open Other.wav anyway?" in asked[0]
    assert window.song.path == shown and not window.loader.busy


def test_with_nothing_listening_the_launch_starts_on_its_own(name) -> None:
    assert hand_over(name, None, 500) is Answer.NONE_RUNNING


def test_an_instance_that_does_not_answer_lets_the_launch_start_on_its_own(name) -> None:
    hung = QLocalServer()  # takes connections, reads nothing: a window that hangs
    assert hung.listen(name)
    started = time.monotonic()
    assert hand_over(name, Path("song.wav"), timeout_ms=300) is Answer.SILENT
    assert time.monotonic() - started < 2.0
    hung.close()


def test_a_launch_that_gave_up_waiting_is_not_followed_later(qtbot, name, tmp_path) -> None:
    """A window that hung for about as long as a launch waits must not open the launch's song
    once it wakes: the launch has opened a window of its own by then, or will before an answer
    sent now reaches it."""
    server = InstanceServer(name)
    assert server.listen()
    asked: list[Path | None] = []
    server.asked.connect(asked.append)
    late = QLocalSocket()  # as the launch wrote it, ANSWER_MS and more ago
    late.connectToServer(name)
    sent = time.time() - (ANSWER_MS / 1000 - 0.5)  # in time to be read, too late to answer
    late.write(json.dumps({"song": str(tmp_path / "a.wav"), "sent": sent}).encode())
    late.write(b"\n")
    with qtbot.waitSignal(late.disconnected, timeout=5000):  # answered with a hang-up
        pass
    assert asked == []
    assert hand_over(name, tmp_path / "b.wav") is Answer.TAKEN  # a launch in time is followed
    assert asked == [tmp_path / "b.wav"]


@pytest.mark.skipif(sys.platform == "win32", reason="Windows' pipes leave no file behind")
def test_a_name_left_by_a_crashed_instance_is_taken_over(qtbot, name) -> None:
    path = QDir(QDir.tempPath()).filePath(name)
    left = socket.socket(socket.AF_UNIX)
    left.bind(path)  # bound, never listened on, never removed: as a crash leaves it
    left.close()
    assert Path(path).exists()
    assert hand_over(name, None, 500) is Answer.NONE_RUNNING
    server = InstanceServer(name)
    assert server.listen()
    with qtbot.waitSignal(server.asked, timeout=10_000) as asked:
        assert hand_over(name, None) is Answer.TAKEN
    assert asked.args == [None]


@pytest.mark.skipif(sys.platform == "win32", reason="Windows lets two listen on one pipe name")
def test_a_name_another_instance_listens_on_is_left_to_it(name) -> None:
    first = InstanceServer(name)
    assert first.listen()
    assert not InstanceServer(name).listen()  # two launches at one moment: the first keeps it
    assert hand_over(name, None) is Answer.TAKEN


def test_the_server_name_is_the_users(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert server_name("alice") != server_name("bob")
    assert server_name(r"OFFICE\bob smith") == r"tagbox-gui-OFFICE_bob_smith"
    me = str(os.getuid()) if hasattr(os, "getuid") else __import__("getpass").getuser()
    assert server_name() == server_name(me) and me in server_name()
    if os.name == "posix":  # the user's own runtime folder, which others cannot enter
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
        assert server_name("alice") == str(tmp_path / "tagbox-gui-alice")


def test_new_instance_neither_hands_over_nor_listens_and_is_in_the_help(capsys) -> None:
    args, _ = app.parse_args(["--new-instance", "song.wav"])
    assert args.new_instance and app.join_running(args) == (None, None)
    with pytest.raises(SystemExit):
        app.parse_args(["--help"])
    assert "--new-instance" in capsys.readouterr().out


SECOND_LAUNCH = """
import sys
from tagbox_gui.gui import app
app.server_name = lambda: sys.argv[1]
sys.exit(app.main(["tagbox-gui", *sys.argv[2:]]))
"""


def test_a_real_second_launch_hands_over_and_exits_at_once(
    qtbot, song_path, tmp_path, name
) -> None:
    server = InstanceServer(name)
    assert server.listen()
    asked: list[Path | None] = []
    server.asked.connect(asked.append)
    homes = tmp_path / "homes"  # where its settings and log would go
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env |= {f"XDG_{kind}_HOME": str(homes / kind) for kind in ("STATE", "CACHE", "CONFIG")}
    second = subprocess.Popen(
        [sys.executable, "-c", SECOND_LAUNCH, name, song_path.name],
        cwd=song_path.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=30_000)
    finally:
        second.kill()
    output = second.communicate()[0]
    assert second.returncode == 0, output
    assert asked == [song_path]
    assert not homes.exists()  # no log written, nothing remembered


def test_a_song_the_desktop_asks_to_open_comes_to_the_window_even_before_it_is_built(
    qtbot, qapp, window, song_path, tmp_path, monkeypatch
) -> None:
    """macOS's Finder asks the running app to open a song by a QFileOpenEvent (a double-click,
    Open With; at launch too, before the window is built): the window comes forward and opens
    it as a later launch's song, those asked for before the window was there included."""
    assert isinstance(qapp, app.Application)
    monkeypatch.setattr(qapp, "_receiver", None)  # the session's one app: as at a launch
    monkeypatch.setattr(qapp, "_waiting", [])
    opened: list[Path] = []
    monkeypatch.setattr(MainWindow, "open_song", lambda self, path, note="": opened.append(path))
    other = tmp_path / "Other.wav"
    assert QCoreApplication.sendEvent(qapp, QFileOpenEvent(str(song_path)))  # taken
    qtbot.wait(20)
    assert opened == []  # no window yet: it waits
    window.showMinimized()
    qapp.open_with(lambda song: come_forward(window, song))
    qtbot.waitUntil(lambda: opened == [song_path], timeout=2000)
    assert not window.isMinimized()
    QCoreApplication.sendEvent(qapp, QFileOpenEvent(QUrl("https://example.com/a.wav")))
    QCoreApplication.sendEvent(qapp, QFileOpenEvent(str(other)))
    qtbot.waitUntil(lambda: opened == [song_path, other], timeout=2000)  # no URL taken as "."


def test_a_later_launch_while_a_dialog_is_open_opens_its_song_once_the_dialog_is_closed(
    qtbot, separated, tmp_path, name, monkeypatch
) -> None:
    """A song handed over while the window shows a dialog (here Export all stems…) is not
    opened under it, where it would take away the stems the dialog is about: the window comes
    forward, and the song opens once the dialog is closed, after the export it started."""
    from PySide6.QtCore import QTimer

    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    window = separated
    opened = listening(name, window, monkeypatch)
    window.stems.mark_exported(window.stems.result_id)  # nothing to ask before replacing
    other = write_song(tmp_path / "Other.wav", seconds=2.0)
    out = tmp_path / "out"
    during: list[list[Path]] = []
    real_exec = ExportDialog.exec

    def drive(dialog: ExportDialog) -> None:
        assert hand_over(name, other) is Answer.TAKEN
        qtbot.wait(300)  # a song opened at once would be loading by now
        during.append(list(opened))
        dialog.folder.setText(str(out))
        dialog.accept()

    def exec_(dialog: ExportDialog) -> int:
        QTimer.singleShot(0, dialog, lambda: drive(dialog))
        return real_exec(dialog)

    monkeypatch.setattr(ExportDialog, "exec", exec_)
    loaded: list[Path] = []
    window.song_loaded.connect(lambda song: loaded.append(song.path))
    with qtbot.waitSignal(window.exports.finished, timeout=10_000) as done:
        window.export_action.trigger()
    assert during == [[]]
    assert done.args[0] is not None and len(done.args[0]) == 2
    qtbot.waitUntil(lambda: loaded == [other], timeout=10_000)
    assert opened == [other]
