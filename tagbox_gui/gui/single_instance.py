"""One window per user: a later launch hands its song to the running instance and ends.

The running instance listens on a local server whose name is the user's (:func:`server_name`).
A later launch connects, sends one line of JSON (``{"song": "/absolute/path", "sent": TIME}``,
the song null without one) and waits for ``ok``; the running instance raises its window and
opens the song as File ▸ Open… does (:func:`follow`). Where nothing listens the launch starts
as usual and becomes the running instance, taking over a name a crashed one left behind
(:meth:`InstanceServer.listen`). Where an instance listens but does not answer in time (its
window hung) the launch starts a window of its own all the same, and the hung one, once it
wakes, does not follow it.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication

if TYPE_CHECKING:
    from tagbox_gui.gui.main_window import MainWindow

log = logging.getLogger(__name__)

ANSWER_MS = 3000
"""How long a launch waits for the running instance's ``ok`` before it starts on its own."""
OK = b"ok\n"
LATEST_S = ANSWER_MS / 1000 - 1
"""How old a launch's request may be for the running instance to take it: a second less than
the launch waits, so that an answer sent in time also arrives in time (else both windows
would open the song)."""
DIALOG_POLL_MS = 200
"""How often a song handed over while a dialog is open looks whether it has closed."""
LONGEST_LINE = 64 * 1024  # a song's path is far shorter; more without a newline is not ours
GONE = (
    QLocalSocket.LocalSocketError.ServerNotFoundError,
    QLocalSocket.LocalSocketError.ConnectionRefusedError,
)
"""A socket's errors that say nothing listens on the name (never started, or crashed)."""


class Answer(Enum):
    """What a launch learns from :func:`hand_over`."""

    TAKEN = "the running instance took the launch"
    NONE_RUNNING = "no instance is running"
    SILENT = "an instance is running but did not answer"


def server_name(user: str | None = None) -> str:
    """The running instance's server name for ``user`` (default: this process's user id, or
    user name where there are no ids), so two users of one machine each have their own. On
    Unix it is a socket in ``$XDG_RUNTIME_DIR`` (only its user can enter it) where there is
    one, else in the temporary folder."""
    if user is None:
        user = str(os.getuid()) if hasattr(os, "getuid") else getpass.getuser()
    name = "tagbox-gui-" + re.sub(r"[^A-Za-z0-9_.-]", "_", user)
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.name == "posix" and runtime and Path(runtime).is_dir():
        return str(Path(runtime) / name)
    return name


def hand_over(name: str, song: Path | None, timeout_ms: int = ANSWER_MS) -> Answer:
    """Send ``song`` (or just "come forward" when None) to the instance listening on ``name``.

    TAKEN when it said ``ok`` within ``timeout_ms``: this launch is done. NONE_RUNNING when
    nothing listens there (never started, or crashed and left its socket): start as usual.
    SILENT when it connected but did not answer in time, or hung up: start as usual too.
    The wait runs an event loop of its own (a ``QCoreApplication`` must exist), so a server
    of the same thread answers too.
    """
    text = None if song is None else os.path.abspath(song)  # its folder is not ours
    socket = QLocalSocket()
    wait = QEventLoop()
    said = bytearray()

    def read() -> None:
        said.extend(socket.readAll().data())
        if len(said) >= len(OK):
            wait.quit()

    message = {"song": text, "sent": time.time()}
    socket.connected.connect(lambda: socket.write(json.dumps(message).encode() + b"\n"))
    socket.readyRead.connect(read)
    socket.errorOccurred.connect(wait.quit)  # nothing there, or it hung up
    QTimer.singleShot(timeout_ms, wait, wait.quit)
    socket.connectToServer(name)
    if socket.state() is not QLocalSocket.LocalSocketState.UnconnectedState:
        wait.exec()
    said.extend(socket.readAll().data())  # an answer read in just as the peer hung up
    nobody = socket.state() is QLocalSocket.LocalSocketState.UnconnectedState and (
        socket.error() in GONE
    )
    socket.abort()
    if said.startswith(OK):
        return Answer.TAKEN
    return Answer.NONE_RUNNING if nobody else Answer.SILENT


class InstanceServer(QObject):
    """The running instance's end: ``asked`` gives the song another launch was given (a
    ``Path``), or None when it was started without one."""

    asked = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._server = QLocalServer(self)  # not UserAccessOption: on Unix it replaces any
        # socket there, another instance's that listens too (its folder is the user's anyway)
        self._server.newConnection.connect(self._on_connection)

    def listen(self) -> bool:
        """Listen on ``name``; False when it cannot (another instance has just taken it).

        A name in use that nobody answers on is a crashed instance's socket file: it is
        removed and listened on again (call this after :func:`hand_over` found nothing)."""
        if self._server.listen(self.name):
            return True
        in_use = self._server.serverError() == QAbstractSocket.SocketError.AddressInUseError
        if in_use and _left_behind(self.name):
            log.info("taking over %s, left by an instance that ended without closing it", self.name)
            QLocalServer.removeServer(self.name)
            if self._server.listen(self.name):
                return True
        log.warning("cannot listen on %s: %s", self.name, self._server.errorString())
        return False

    @Slot()
    def _on_connection(self) -> None:
        while (socket := self._server.nextPendingConnection()) is not None:
            socket.readyRead.connect(lambda socket=socket: self._read(socket))
            socket.disconnected.connect(socket.deleteLater)
            QTimer.singleShot(ANSWER_MS, socket, socket.abort)  # one that never says anything
            self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            if socket.bytesAvailable() > LONGEST_LINE:
                socket.abort()
            return
        line = bytes(socket.readLine(LONGEST_LINE).data())
        try:
            message = json.loads(line)
            song, waited = message["song"], time.time() - float(message["sent"])
            if song is not None and not isinstance(song, str):
                raise TypeError(song)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("another launch sent what is not a song: %r (%s)", line[:200], exc)
            socket.abort()
            return
        if waited > LATEST_S:  # this window hung: the launch opens its own
            log.warning("a launch asked for %s %.0f s ago: too late", song or "the window", waited)
            socket.abort()
            return
        socket.write(OK)
        socket.flush()
        socket.disconnectFromServer()
        log.info("another launch asks for %s", song or "the window")
        self.asked.emit(None if song is None else Path(song))


def _left_behind(name: str) -> bool:
    """Whether nothing answers on ``name`` although it is in use: a crashed instance's."""
    probe = QLocalSocket()
    probe.connectToServer(name)
    return not probe.waitForConnected(500) and probe.error() in GONE


def follow(server: InstanceServer, window: MainWindow) -> None:
    """Each later launch brings ``window`` forward and opens its song (:func:`come_forward`)."""
    server.asked.connect(lambda song: come_forward(window, song))


def come_forward(window: MainWindow, song: Path | None) -> None:
    """Bring ``window`` forward (out of the taskbar if minimised) and open ``song``, if any,
    through ``window.open_song``, as File ▸ Open… does: with its questions where a run is going
    on or stems would be lost. It opens on the next pass of the event loop, so that whoever
    asked (a launch waiting on its socket) has its answer first, and not while a dialog is
    open (Export all stems…, a question): that dialog is about the song shown, which the new
    one would replace under it; the song opens once the dialog is closed."""
    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()
    if song is None:
        return

    def open_when_no_dialog() -> None:
        if QApplication.activeModalWidget() is not None:
            QTimer.singleShot(DIALOG_POLL_MS, window, open_when_no_dialog)
        else:
            window.open_song(song)

    QTimer.singleShot(0, window, open_when_no_dialog)
