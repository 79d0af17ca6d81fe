"""The GUI application: logging, the exception hook, QApplication and the main window.

The window is shown before the engine is imported (torch and scipy take seconds): its modules
import neither, and an :class:`EngineLoader` imports them after the first frame while Run says
"Loading the engine…". With ``$TAGBOX_STARTUP_TRACE`` set to a file, the moments of the first
frame and of the engine being ready are appended to it (``benchmarks/startup.py`` reads them).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from tagbox_gui import APP_NAME, __version__
from tagbox_gui.core.folders import standing_in_the_way
from tagbox_gui.gui.engine_loader import EngineLoader
from tagbox_gui.gui.errors import ExceptionHook, setup_logging
from tagbox_gui.gui.settings import APPLICATION, ORGANISATION, AppSettings
from tagbox_gui.gui.single_instance import (
    ANSWER_MS,
    Answer,
    InstanceServer,
    come_forward,
    follow,
    hand_over,
    server_name,
)

if TYPE_CHECKING:
    from tagbox_gui.gui.main_window import MainWindow

log = logging.getLogger(__name__)
TRACE_ENV = "TAGBOX_STARTUP_TRACE"


DESCRIPTION = f"""\
{APP_NAME}: separate an instrument you name out of a song, in a window. Open a song (or drop
it on the window), pick one or more instruments, press Run, listen, then export the stems
(each instrument's, and the rest) or drag them into your audio editor."""

EPILOG = """\
One window at a time: started again while TagBox is open (another song double-clicked), it
hands the song to the open window, which comes to the front and opens it, and exits at once
(its --model-dir is not used then).

examples:
  tagbox-gui
  tagbox-gui "My Song.wav"
  tagbox-gui song.flac --model-dir ~/models
  tagbox-gui --new-instance song.wav

The same separation runs without a window: tagbox separate --help."""


QT_VALUE_OPTIONS = frozenset(
    {
        "-platform", "-platformpluginpath", "-platformtheme", "-plugin", "-qmljsdebugger",
        "-qwindowgeometry", "-qwindowicon", "-qwindowtitle", "-session", "-style",
        "-stylesheet", "-display", "-geometry", "-title", "-name",
    }
)  # fmt: skip
"""Qt's own options that take the next argument as their value (``-platform offscreen``)."""


def _split_qt_values(argv: list[str]) -> tuple[list[str], list[str]]:
    """``argv`` without Qt's options that take a value, and those options with their values."""
    ours: list[str] = []
    qt: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--":
            ours += [argument, *arguments]
        elif argument.startswith("-") and "-" + argument.lstrip("-") in QT_VALUE_OPTIONS:
            value = next(arguments, None)  # ``-style Fusion``, also written ``--style Fusion``
            qt += [argument] if value is None else [argument, value]
        else:
            ours.append(argument)
    return ours, qt


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and the rest (Qt's own options such as ``-platform``)."""
    argv, qt_args = _split_qt_values(argv)  # else argparse takes a Qt option's value for a song
    parser = argparse.ArgumentParser(
        prog="tagbox-gui",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "song", nargs="?", type=Path, help="a WAV, FLAC, OGG, MP3 or AIFF file to open"
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help=(
            "folder of the model files (default: $TAGBOX_MODEL_DIR, else the folder last chosen"
            " with Change folder in Tools > Models, else the user cache folder)"
        ),
    )
    parser.add_argument(
        "--new-instance",
        action="store_true",
        help=(
            "open a window of its own even when TagBox is open already (for scripts and"
            " tests); it logs to tagbox-gui-PID.log"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args, rest = parser.parse_known_args(argv)
    extra = [argument for argument in rest if not argument.startswith("-")]
    if extra:  # a second song: Qt would ignore it without a word
        parser.error(f"one song at a time; not also {' '.join(extra)}")
    return args, [*qt_args, *rest]


class Application(QApplication):
    """The application, taking the songs the desktop asks it to open by event rather than by
    command line: macOS's Finder (a double-click, Open With, a drop on the Dock icon) sends a
    ``QFileOpenEvent`` to the running app, at launch as well. Each goes to the receiver given
    to :meth:`open_with`; those that come before it is given wait for it."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self._receiver: Callable[[Path], None] | None = None
        self._waiting: list[Path] = []

    def open_with(self, receiver: Callable[[Path], None]) -> None:
        """Give every song the desktop asks to open, from now on and those waiting, to
        ``receiver``."""
        self._receiver = receiver
        waiting, self._waiting = self._waiting, []
        for song in waiting:
            receiver(song)

    def event(self, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            if not event.file():  # a URL, not a file: nothing a song can be opened from
                log.warning("the desktop asks to open %s, which is no file", event.url())
                return True
            song = Path(event.file())
            log.info("the desktop asks to open %s", song)
            if self._receiver is None:
                self._waiting.append(song)
            else:
                self._receiver(song)
            return True
        return super().event(event)


def create_application(argv: list[str]) -> QApplication:
    app = QApplication.instance() or Application(argv)
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("tagbox-gui")
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``tagbox-gui`` and ``python -m tagbox_gui``."""
    argv = list(sys.argv if argv is None else argv)
    args, qt_args = parse_args(argv[1:])
    app = create_application([argv[0], *qt_args])
    answer, server = join_running(args)
    if answer is Answer.TAKEN:
        return 0
    log_file = setup_logging(shared=server is not None)
    log.info("%s %s starting; log file %s", APP_NAME, __version__, log_file)
    if answer is Answer.SILENT:
        log.warning(
            "another %s did not answer within %.0f s: this one opens a window of its own",
            APP_NAME, ANSWER_MS / 1000,
        )  # fmt: skip
    elif answer is Answer.NONE_RUNNING and server is None:
        log.warning("cannot listen for later launches: they will open windows of their own")
    hook = ExceptionHook(app)
    hook.install()
    window = build_window(args, engine=EngineLoader())
    if server is not None:
        follow(server, window)
    if isinstance(app, Application):
        app.open_with(lambda song: come_forward(window, song))
    if os.environ.get(TRACE_ENV):
        trace_startup(window, Path(os.environ[TRACE_ENV]))
    window.engine.ready.connect(  # once the settings are loaded: they say if a tagger is needed
        lambda: window.models.first_launch_check(window.settings_panel.needs_tagger())
    )
    window.show()
    try:
        return app.exec()
    finally:
        window.engine.wait()  # quitting while the engine imports: let the import end first
        hook.uninstall()


def join_running(args: argparse.Namespace) -> tuple[Answer | None, InstanceServer | None]:
    """Hand ``args.song`` to a running instance (TAKEN: this launch is done), else listen for
    later launches: the server, when this process is now the running instance. None and None
    with ``--new-instance``, which neither hands over nor listens."""
    if args.new_instance:
        return None, None
    name = server_name()
    answer = hand_over(name, args.song)
    if answer is not Answer.NONE_RUNNING:
        return answer, None
    server = InstanceServer(name, QApplication.instance())
    return answer, server if server.listen() else None


def build_window(
    args: argparse.Namespace, settings: AppSettings | None = None, **kwargs: object
) -> MainWindow:
    """The main window for the parsed arguments (the song, if any, opens once it is shown),
    its model folder as ``models_prompt.model_folder`` says: one remembered from an earlier
    session is not made again where it is gone (a drive not plugged in), nor one that
    ``--model-dir`` or ``$TAGBOX_MODEL_DIR`` gives where a file or a link to what is not there
    stands on its way (``core.folders.standing_in_the_way``)."""
    from tagbox_gui.core.store.models import ModelStore  # imported once logging is set up
    from tagbox_gui.gui.main_window import MainWindow
    from tagbox_gui.gui.models_prompt import model_folder

    settings = settings or AppSettings()
    folder, set_by = model_folder(args.model_dir, settings)
    store = ModelStore(folder, make_root=folder is None or bool(set_by))
    if set_by and standing_in_the_way(store.root):
        store.make_root = False  # the Models window says it is gone, as a remembered one
    window = MainWindow(store=store, settings=settings, **kwargs)  # type: ignore[arg-type]
    window.models.folder_set_by = set_by
    if args.song is not None:
        QTimer.singleShot(0, lambda: window.open_song(args.song))
    return window


def trace_startup(window: MainWindow, path: Path) -> None:
    """Append ``first_frame <seconds since the epoch>`` to ``path`` when the window has been
    painted for the first time, and ``engine_ready <...>`` when Run can be used."""

    def note(event: str) -> None:
        with path.open("a", encoding="utf-8") as file:
            file.write(f"{event} {time.time():.6f}\n")

    window.first_frame.connect(lambda: note("first_frame"))
    if window.engine.is_ready:
        note("engine_ready")
    else:
        window.engine.ready.connect(lambda: note("engine_ready"))
