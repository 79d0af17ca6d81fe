"""Turning exceptions into one useful sentence in a dialog, and the application's log file."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import re
import sys
import threading
import time
import traceback
from enum import Enum
from pathlib import Path
from types import TracebackType

from platformdirs import user_log_dir
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QWidget

from tagbox_gui import APP_NAME
from tagbox_gui.core.errors import UserError, is_out_of_memory
from tagbox_gui.core.store.failures import Advised, Ways

log = logging.getLogger("tagbox_gui")
LOG_STEM = "tagbox-gui"
LOG_NAME = f"{LOG_STEM}.log"
OWN_LOG = re.compile(rf"{LOG_STEM}-\d+\.log")
"""The name of the log of a window that is not the running instance (its process id's)."""
OWN_LOGS_KEPT_S = 7 * 24 * 3600
"""How long a log file of a process that was not the running instance is kept unwritten."""


class Doing(Enum):
    """What the application was doing when an error came: out of memory, what helps depends
    on it (a shorter region helps a run, not the opening of a long song)."""

    RUN = (
        "The run ran out of memory; choose a shorter region, fewer FFT sizes or taggers, "
        "or run on the CPU."
    )
    OPEN = (
        "Opening the song ran out of memory; close other programs and try again, or open a "
        "shorter part of it (cut in an audio editor)."
    )
    EXPORT = "Writing the stems ran out of memory; close other programs and export them again."
    ENGINE = "Loading the separator ran out of memory; close other programs and start TagBox again."
    OTHER = "TagBox ran out of memory; close other programs and try again."


def log_dir() -> Path:
    """The user's log folder for this application (platformdirs)."""
    return Path(user_log_dir("tagbox-gui"))


def setup_logging(
    folder: Path | None = None, level: int = logging.INFO, shared: bool = True
) -> Path | None:
    """Log to ``<folder>/tagbox-gui.log`` (rotated at 1 MB, 3 kept); returns the file.

    Only one process may write and rotate that file (two rotating it each in turn lose or
    mix lines, and on Windows the one that renames it fails): the running instance, which
    owns the single-instance server. Any other (``shared`` False: started with
    ``--new-instance``, or while the running one did not answer) writes a file of its own,
    ``tagbox-gui-<process id>.log``, not rotated, in the same folder.

    The running instance removes those files of other processes that nothing has written to
    for a week (:data:`OWN_LOGS_KEPT_S`): they would otherwise pile up, one per such launch.

    A folder that cannot be written does not stop the application: it runs without a log
    file (warnings and errors still reach stderr) and None is returned.
    """
    folder = folder or log_dir()
    path = folder / (LOG_NAME if shared else f"{LOG_STEM}-{os.getpid()}.log")
    if shared:
        _remove_old_own_logs(folder)
    root = logging.getLogger()
    root.setLevel(min(root.level or level, level))
    if not any(getattr(h, "baseFilename", None) == str(path) for h in root.handlers):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handler = (
                logging.handlers.RotatingFileHandler(
                    path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
                )
                if shared
                else logging.FileHandler(path, encoding="utf-8")
            )
        except OSError as exc:
            log.warning("no log file: %s cannot be written (%s)", path, exc)
            return None
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    return path


def _remove_old_own_logs(folder: Path) -> None:
    """Remove the log files of processes that were not the running instance
    (``tagbox-gui-<pid>.log``) not written to for :data:`OWN_LOGS_KEPT_S`."""
    old = time.time() - OWN_LOGS_KEPT_S
    for path in folder.glob(f"{LOG_STEM}-*.log"):
        if not OWN_LOG.fullmatch(path.name):
            continue
        with contextlib.suppress(OSError):  # gone meanwhile, or open on Windows: next time
            if path.stat().st_mtime < old:
                path.unlink()


def user_message(
    exc: BaseException,
    doing: Doing = Doing.OTHER,
    ways: Ways | None = None,
    unexpected: bool = False,
) -> str:
    """One sentence that tells the user what happened and what to do; out of memory, the
    advice fits what was being ``done``, and a model store's advice names ``ways`` (the
    window's: ``ModelsPrompt.ways``) where given. A file's error that nothing handled
    (``unexpected``: the exception hook's) says where its details are, as a bug's does."""
    if isinstance(exc, Advised) and ways is not None:
        return _sentence(exc.told(ways))
    if isinstance(exc, UserError):
        return _sentence(str(exc))
    if is_out_of_memory(exc):
        return doing.value
    if isinstance(exc, OSError):
        name = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        reason = exc.strerror or str(exc)
        text = f"A file{name} could not be used ({reason}); check it and try again"
        return _sentence(f"{text}; {_details()}" if unexpected else text)
    return f"Something went wrong ({type(exc).__name__}: {_clip(str(exc))}); {_details()}."


def _details() -> str:
    """Where an error's details (its traceback) went."""
    where = log_file()
    if where is None:
        return "the details went to the terminal (no log file could be written)"
    return f"the details are in {where}"


def log_file() -> Path | None:
    """The log file this process writes (:func:`setup_logging`), or None without one."""
    for handler in logging.getLogger().handlers:
        name = getattr(handler, "baseFilename", None)
        if name is not None and (Path(name).name == LOG_NAME or OWN_LOG.fullmatch(Path(name).name)):
            return Path(name)
    return None


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return "Something went wrong."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_error(
    parent: QWidget | None,
    exc: BaseException,
    title: str = "",
    logged: bool = False,
    doing: Doing = Doing.OTHER,
    ways: Ways | None = None,
    unexpected: bool = False,
) -> QMessageBox:
    """Log ``exc`` (unless ``logged``) and show its sentence (:func:`user_message`, for what
    was being ``done``, with ``ways`` on after a model store's failure, and where the details
    are for an ``unexpected`` file's error) in a non-blocking dialog."""
    if logged:
        pass
    elif isinstance(exc, UserError):
        log.warning("%s", exc)
    else:
        log.error("%s", title or "error", exc_info=exc)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title or APP_NAME)
    box.setText(user_message(exc, doing, ways, unexpected))
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class ExceptionHook(QObject):
    """``sys.excepthook`` and ``threading.excepthook`` that log an unexpected exception and
    show a dialog, not a crash.

    The hook may be called from any thread (a plain Python thread's exceptions reach
    ``threading.excepthook``); the dialog is shown in the GUI thread through a queued signal.
    One dialog at a time: errors that come while it is open (a bug in a timer's slot or a
    paint repeats every few milliseconds) are only logged.
    """

    raised = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.raised.connect(self._on_raised, Qt.ConnectionType.QueuedConnection)
        self._previous = sys.excepthook
        self._previous_thread = threading.excepthook
        self._box: QMessageBox | None = None  # the dialog open, if any

    def install(self) -> None:
        sys.excepthook = self.hook
        threading.excepthook = self.thread_hook

    def uninstall(self) -> None:
        sys.excepthook = self._previous
        threading.excepthook = self._previous_thread

    def hook(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous(kind, exc, tb)
            return
        text = "".join(traceback.format_exception(kind, exc, tb))
        log.error("unexpected error\n%s", text)
        self.raised.emit(exc)

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        """An exception a plain thread did not catch, as :meth:`hook` takes one; a thread's
        SystemExit or KeyboardInterrupt goes to the hook there was before (which ignores the
        first)."""
        if issubclass(args.exc_type, (SystemExit, KeyboardInterrupt)):
            self._previous_thread(args)
            return
        self.hook(args.exc_type, args.exc_value, args.exc_traceback)

    def _on_raised(self, exc: BaseException) -> None:
        if self._box is not None:
            return
        title = f"{APP_NAME}: unexpected error"
        self._box = show_error(_dialog_parent(), exc, title, logged=True, unexpected=True)
        self._box.finished.connect(self._on_closed)

    def _on_closed(self) -> None:
        self._box = None


def _dialog_parent() -> QWidget | None:
    """The active window, else (another program in front) the main window on screen: a
    dialog with no parent is gone as soon as nothing holds it, before it is shown."""
    shown = (w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow))
    return QApplication.activeWindow() or next((w for w in shown if w.isVisible()), None)
