"""GUI tests run offscreen unless the caller chose a platform (e.g. xvfb for screenshots)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QSettings
from PySide6.QtWidgets import QApplication

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.settings import AppSettings
from tests.gui.fake_engine import write_song
from tests.gui.window_helpers import make_window, open_song, run_to_end


@pytest.fixture(scope="session")
def qapp_cls() -> type[QApplication]:
    """The app's own application class (pytest-qt makes the one instance of the session)."""
    from tagbox_gui.gui.app import Application

    return Application


@pytest.fixture(autouse=True)
def _widgets_go_with_their_test(qapp) -> None:
    """A test's widgets are deleted when it ends.

    pytest-qt closes them and asks Qt to delete them later, which only happens once an event
    loop runs: a whole window went in the middle of the next test (in its first wait, or when
    the garbage collector found its wrapper while that test built its own window). This
    fixture is set up before pytest-qt's and ends after it has closed the widgets."""
    yield
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture(autouse=True)
def _keep_no_stems(monkeypatch) -> None:
    """A window closed at a test's end, opening another song, or a new run does not stop to
    ask about stems that never left it (tests of that question give the window their own
    answer)."""
    monkeypatch.setattr(MainWindow, "confirm_discard", lambda self, question: True)
    monkeypatch.setattr(MainWindow, "confirm_new_run", lambda self, question: True)


@pytest.fixture(autouse=True)
def _drags_write_under_a_test_folder(monkeypatch, tmp_path_factory) -> None:
    """Stems dragged out of a window go to a folder of the test's own, not the user's data
    folder (``StemListView``'s lasting folder for them)."""
    from tagbox_gui.gui.widgets import stem_list

    data = tmp_path_factory.mktemp("user-data")
    monkeypatch.setattr(stem_list, "user_data_dir", lambda app: str(data / app))


@pytest.fixture
def song_path(tmp_path: Path) -> Path:
    return write_song(tmp_path / "My Song.wav", seconds=30.0, rate=48_000, channels=2)


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, model_dir, settings) -> MainWindow:
    w = make_window(qtbot, model_dir, settings)
    yield w
    w.controller.shutdown(5000)


@pytest.fixture
def separated(qtbot, window: MainWindow, song_path: Path) -> MainWindow:
    """The window with a song and the piano separated out of it: two stems, neither dragged
    out nor exported yet."""
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    return window
