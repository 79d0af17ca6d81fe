"""Changing the learning rate during a run; the Jukebox licence before the first drag."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.types import CommandKind
from tagbox_gui.gui.widgets import stem_list
from tests.gui.window_helpers import (
    drag_data,
    export_and_wait,
    make_window,
    open_song,
    piano_stems_as_jukebox,
    run_to_end,
)


def test_learning_rate_changes_during_a_run(qtbot, model_dir, settings, song_path) -> None:
    received: list = []
    window = make_window(qtbot, model_dir, settings, delay=0.01, received=received)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    panel = window.settings_panel
    panel.lr.setValue(0.5)
    panel.steps.setValue(5000)
    steps: list = []
    window.controller.step_done.connect(steps.append)
    window.run_view.start()
    qtbot.waitUntil(lambda: len(steps) >= 3, timeout=3000)
    assert panel.lr.isEnabled() and not panel.steps.isEnabled() and not panel.backend.isEnabled()
    assert not panel.reset.isEnabled() and not window.reset_action.isEnabled()
    panel.lr.setFocus()
    panel.lr.selectAll()
    qtbot.keyClicks(panel.lr, "0.125")
    qtbot.keyClick(panel.lr, Qt.Key.Key_Return)
    changed = len(steps)  # these steps were made before the command was sent
    qtbot.waitUntil(lambda: any(s.lr == 0.125 for s in steps), timeout=3000)
    first = next(i for i, s in enumerate(steps) if s.lr == 0.125)
    assert first >= changed
    assert all(s.lr == 0.5 for s in steps[:first])
    qtbot.waitUntil(lambda: len(steps) >= first + 3, timeout=3000)
    assert all(s.lr == 0.125 for s in steps[first:])
    assert [(c.kind, c.value) for c in received if c.kind is CommandKind.SET_LR] == [
        (CommandKind.SET_LR, 0.125)
    ]  # one command for the whole typed number
    with qtbot.waitSignal(window.controller.run_finished, timeout=5000):
        window.run_view.stop()
    qtbot.wait(100)
    session = window.run_view.session
    assert session.provenance(steps[first].step)["learning rate"] == "0.125"
    assert session.provenance(1)["learning rate"] == "0.5"
    assert panel.steps.isEnabled() and panel.reset.isEnabled()
    assert settings.load_run(panel.settings()).lr == 0.125  # remembered for the next run
    window.controller.shutdown(5000)


def test_the_learning_rate_note_goes_when_the_run_ends(qtbot, model_dir, settings,
                                                       song_path) -> None:  # fmt: skip
    """ "Learning rate … from the next step" is said while the run goes on, not after it,
    when there is no next step."""
    window = make_window(qtbot, model_dir, settings, delay=0.01)
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(5000)
    window.run_view.start()
    qtbot.waitUntil(lambda: window.live.loss.count >= 2, timeout=3000)
    window.settings_panel.lr.setValue(0.25)
    status = window.statusBar()
    assert status.currentMessage() == "Learning rate 0.25 from the next step"
    with qtbot.waitSignal(window.controller.run_finished, timeout=5000):
        window.run_view.stop()
    assert "from the next step" not in status.currentMessage()
    window.controller.shutdown(5000)


def test_jukebox_licence_is_asked_before_the_first_drag(qtbot, window, song_path, monkeypatch):
    piano_stems_as_jukebox(qtbot, window, song_path)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return answers[len(asked) - 1]

    monkeypatch.setattr(QMessageBox, "question", question)
    items = [window.stems.item(0), window.stems.item(1)]
    assert window.stems.mimeData(items) is None  # declined: no drag, no file written
    assert len(asked) == 1 and "Noncommercial" in asked[0]
    jukebox_folder = window.stems._export_job()[1]  # where the Jukebox stems would go
    assert window.stems._paths is None and not jukebox_folder.exists()
    assert window.stems.prepare() is None and not jukebox_folder.exists()  # nor ahead of time
    assert window.stems.mimeData(items) is None  # asked again, accepted: now being written
    assert len(asked) == 2
    assert drag_data(window.stems, items) is not None  # once accepted, never asked again
    assert len(asked) == 2
    assert export_and_wait(qtbot, window, song_path.parent / "out", ExportFormat.WAV16) is not None
    assert len(asked) == 2  # Export all stems… shares the acknowledgement


def test_jukebox_stems_of_a_job_ask_for_the_licence_too(qtbot, window, song_path, monkeypatch):
    # a job has no run session: what decides is the backend of the stems shown
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    estimate = window.run_view.shown.estimate
    window.run_view.discard_run()
    assert window.run_view.session is None and window.licence_note.isHidden()
    window.stems.set_shared_stems(window.song, {"piano": estimate}, {"piano": {}}, "jukebox")
    window.set_can_export(True)
    assert not window.licence_note.isHidden() and "Noncommercial" in window.licence_note.text()
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda _p, _t, text, *a: asked.append(text))
    assert window.stems.mimeData([window.stems.item(0)]) is None  # not accepted: no drag
    assert len(asked) == 1 and "Noncommercial" in asked[0]
    window.run_view.discard_run()
    assert window.licence_note.isHidden()


def test_the_stems_of_a_run_are_written_before_the_first_drag(qtbot, window, song_path):
    # a whole 4-minute song's stems take about 2 s to write: not on the GUI thread at the drag
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    folder = window.stems._export_job()[1]
    qtbot.waitUntil(lambda: len(list(folder.glob("*.wav"))) == 2, timeout=5000)  # no drag yet
    stem_list._EXPORTER.submit(lambda: None).result(timeout=30)  # the write has ended
    written = sorted(folder.glob("*.wav"))
    mime = window.stems.mimeData([window.stems.item(0), window.stems.item(1)])
    assert sorted(Path(url.toLocalFile()) for url in mime.urls()) == written


def test_light_backend_drags_without_a_licence(qtbot, window, song_path, monkeypatch) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: pytest.fail("no licence to ask"))
    assert drag_data(window.stems, [window.stems.item(0)]) is not None
