"""Helpers for tests that drive the main window with a fake engine and a fake audio device."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication, QListWidgetItem, QMessageBox

from tagbox_gui.core.audio.song import analysis_span
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import RunConfig
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.settings import AppSettings
from tagbox_gui.gui.widgets import StemListView, plain_text
from tests.gui.fake_engine import fake_player, fake_run


def make_window(
    qtbot, model_dir: Path, settings: AppSettings, backend: str = "light", **engine
) -> MainWindow:
    """A main window whose runs are the fake engine's, on ``backend``'s settings (light: runs
    of several steps; the learned backend's default is one pass)."""
    window = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(window)
    combo = window.settings_panel.backend
    combo.setCurrentIndex(combo.findData(backend))
    window.run_view.engine_run = lambda config, song, store, cache: fake_run(
        config, length=analysis_span(song, config.region)[1], **engine
    )
    window.show()
    window.activateWindow()  # shortcuts only reach the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    return window


def open_song(qtbot, window: MainWindow, path: Path, timeout: int = 5000) -> None:
    """Open a song and wait until it is shown (songs load in the background)."""
    with qtbot.waitSignal(window.song_loaded, timeout=timeout):
        window.open_song(path)


def fake_clock(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[float]:
    """Give ``module`` (which uses ``time.monotonic`` alone) a clock that stands still until the
    test moves it (``clock[0] += seconds``, from any thread): what the module times then took
    the seconds the test says, however long a busy machine took; the clock is returned."""
    clock = [1000.0]
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    return clock


def next_frame(qtbot, window: MainWindow) -> None:
    """Wait until the live views have drawn their next frame (their ~30 Hz timer): what was
    given them until now (steps, meters, a mask) is drawn, however late a busy machine runs
    the timer; a fixed wait may end before it has."""
    with qtbot.waitSignal(window.live._timer.timeout, timeout=5000):
        pass


def run_to_end(qtbot, window: MainWindow, steps: int = 12, preview_every: int = 3):
    window.settings_panel.steps.setValue(steps)
    window.settings_panel.preview_every.setValue(preview_every)
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000) as blocker:
        assert window.run_view.start() is not None
    next_frame(qtbot, window)
    return blocker.args[0]


def export_and_wait(qtbot, window: MainWindow, *args, timeout: int = 10_000) -> list[Path] | None:
    """Export all stems… to a folder (``StemExport.export_to``) and wait until the files are written
    and the window has taken the result; their paths, or None when nothing was written."""
    pending = window.exports.export_to(*args)
    if pending is None:
        return None
    qtbot.waitUntil(lambda: not window.exports.busy, timeout=timeout)
    return pending.result()


def held_drag_files(monkeypatch) -> threading.Event:
    """The stems' files for drags are written only once the event returned is set (a long
    song's take seconds)."""
    from tagbox_gui.gui.widgets import stem_list

    gate = threading.Event()
    real = stem_list.export_stems
    monkeypatch.setattr(stem_list, "export_stems", lambda *a, **k: gate.wait(30) and real(*a, **k))
    return gate


def files_written(stems: StemListView) -> None:
    """Wait until the drag files of the stems shown are written (in the background: a drag
    before that is ignored)."""
    pending = stems.prepare(needed=True)
    if pending is not None:
        pending.exception(timeout=30)


def drag_data(stems: StemListView, items: Sequence[QListWidgetItem]) -> QMimeData | None:
    """What a drag of ``items`` carries, once their files are written (:func:`files_written`)."""
    files_written(stems)
    return stems.mimeData(items)


def drag_out(stems: StemListView, row: int, result: Qt.DropAction) -> None:
    """Drag the stem in ``row`` once its file is written, the drop ending with ``result``
    (IgnoreAction: cancelled with Escape, or dropped where nothing takes it)."""
    stems.setCurrentRow(row)
    files_written(stems)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(QDrag, "exec", lambda drag, *actions: result)
        stems.startDrag(Qt.DropAction.CopyAction)


QUESTION = inspect.signature(plain_text.question)  # the real one's, before a test replaces it


def answer_questions(
    monkeypatch: pytest.MonkeyPatch, answer: QMessageBox.StandardButton, tick: bool | None = None
) -> list[str]:
    """Answer ``answer`` to each ``plain_text.question`` from now on, ticking its box or not
    (``tick``), and list the texts asked. The stand-in is called as the real one is (its
    parameters and their defaults). What each question asks loses something: it must be a
    Yes or No whose default answer, the one Enter gives, is No."""
    asked: list[str] = []
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No

    def question(*args: object, **kwargs: object) -> QMessageBox.StandardButton:
        call = QUESTION.bind(*args, **kwargs)
        call.apply_defaults()
        asked.append(call.arguments["text"])
        assert call.arguments["buttons"] == yes | no and call.arguments["default"] == no
        if tick is not None:
            call.arguments["checkbox"].setChecked(tick)
        return answer

    monkeypatch.setattr(plain_text, "question", question)
    return asked


def message_boxes() -> list[QMessageBox]:
    return [
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible()
    ]


def add_example(window: MainWindow, name: str) -> None:
    """Name the region as an example and add it ("Add the region as an example")."""
    window.picker.example_name.setText(name)
    window.picker.add_example_button.click()


def song_window(
    qtbot, model_dir: Path, settings: AppSettings, song_path: Path, steps: int, **engine
) -> MainWindow:
    """A window (:func:`make_window`) with ``song_path`` open and ``steps`` steps set."""
    window = make_window(qtbot, model_dir, settings, **engine)
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(steps)
    return window


def piano_run_window(
    qtbot, model_dir: Path, settings: AppSettings, song_path: Path, steps: int, **engine
) -> MainWindow:
    """A :func:`song_window` with Piano wanted: ready to start a run that lasts."""
    window = song_window(qtbot, model_dir, settings, song_path, steps, **engine)
    window.tag_panel.apply_preset("Piano")
    return window


def piano_stems_as_jukebox(qtbot, window: MainWindow, song_path: Path) -> None:
    """The song separated for Piano, its stems listed anew as if the Jukebox backend (whose
    licence is asked before any stem leaves the app) had made them."""
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    session = window.run_view.session
    session.config = RunConfig(**{**session.config.__dict__, "backend": "jukebox"})
    window.stems.clear_stems()  # listed anew below: the stems now are Jukebox's
    window.run_view.show_step(window.run_view.shown.step)
