"""Quitting, opening another song, or starting a new run asks first when stems that never
left the app (by a drag or an export) would be lost, or when a run would be stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.menus import ASK_BEFORE_RUN
from tests.gui.fake_engine import write_song
from tests.gui.window_helpers import (
    answer_questions,
    drag_out,
    export_and_wait,
    make_window,
    message_boxes,
    open_song,
    piano_run_window,
    run_to_end,
)

STEMS = ["My Song - piano", "My Song - no piano"]
ASK = MainWindow.confirm_discard  # the real questions, before conftest's answers replace them
ASK_RUN = MainWindow.confirm_new_run


def _answer(window: MainWindow, answer: bool) -> list[str]:
    asked: list[str] = []
    window.confirm_discard = lambda question: asked.append(question) or answer
    return asked


def test_quitting_with_stems_never_taken_asks_and_no_keeps_the_window(
    separated: MainWindow,
) -> None:
    window = separated
    asked = _answer(window, False)
    assert not window.close()
    assert window.isVisible() and window.stems.count() == 2
    assert len(asked) == 1
    assert all(name in asked[0] for name in STEMS) and "quitting loses them" in asked[0]

    asked = _answer(window, True)
    assert window.close() and len(asked) == 1


def test_a_dragged_stem_is_kept_and_the_question_names_only_the_other(
    separated: MainWindow,
) -> None:
    window = separated
    drag_out(window.stems, 0, Qt.DropAction.CopyAction)  # the separated stem, dropped into a DAW
    assert window.stems.unkept_stems() == ["My Song - no piano"]
    asked = _answer(window, True)
    assert window.close()
    assert len(asked) == 1 and "My Song - no piano" in asked[0]
    assert "My Song - piano;" not in asked[0] and "quitting loses it" in asked[0]


@pytest.mark.parametrize("then", ["quit", "run"])
def test_after_export_all_neither_quitting_nor_a_new_run_asks(
    qtbot, separated: MainWindow, tmp_path: Path, then: str
) -> None:
    window = separated
    assert export_and_wait(qtbot, window, tmp_path / "out", ExportFormat.WAV16) is not None
    asked: list[str] = []
    window.confirm_discard = window.confirm_new_run = lambda q: asked.append(q) or False
    if then == "quit":
        assert window.close()
    else:
        run_to_end(qtbot, window)
    assert asked == []


def test_an_export_of_replaced_stems_does_not_count_for_the_new_ones(
    qtbot, separated: MainWindow, tmp_path: Path
) -> None:
    window = separated
    old = window.stems.result_id
    run_to_end(qtbot, window)  # new stems replace those that are exported below
    window.stems.mark_exported(old)
    assert window.stems.unkept_stems() == STEMS


def test_opening_another_song_asks_before_replacing_the_stems(
    qtbot, separated: MainWindow, tmp_path: Path
) -> None:
    window = separated
    other = write_song(tmp_path / "Other.wav", seconds=5.0)
    asked = _answer(window, False)
    assert window.open_song(other) is None
    assert not window.loader.busy and window.song.name == "My Song"
    assert window.stems.count() == 2
    assert len(asked) == 1 and "opening Other.wav replaces them" in asked[0]

    _answer(window, True)
    open_song(qtbot, window, other)
    assert window.song.name == "Other" and window.stems.unkept_stems() == []


def _answer_run(window: MainWindow, answer: bool) -> list[str]:
    asked: list[str] = []
    window.confirm_new_run = lambda question: asked.append(question) or answer
    return asked


def test_a_new_run_asks_before_replacing_the_stems(qtbot, separated: MainWindow) -> None:
    window = separated
    window.confirm_quit = lambda: True  # should a run start, the test ends without a dialog
    asked = _answer_run(window, False)
    assert window.run_view.start() is None
    assert window.controller.state is RunState.IDLE
    assert window.stems.unkept_stems() == STEMS  # kept, and still there to export
    assert len(asked) == 1 and "a new run replaces them" in asked[0]

    asked = _answer_run(window, True)
    run_to_end(qtbot, window)
    assert len(asked) == 1 and window.stems.unkept_stems() == STEMS  # the new run's


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No])
def test_the_run_question_stays_on_unless_its_box_is_ticked(
    separated: MainWindow, monkeypatch: pytest.MonkeyPatch, answer: QMessageBox.StandardButton
) -> None:
    window = separated
    asked = answer_questions(monkeypatch, answer, tick=False)
    assert ASK_RUN(window, "These stems…") is (answer == QMessageBox.StandardButton.Yes)
    assert asked == ["These stems…\n\nRun anyway?"]
    assert window.ask_before_run.isChecked()
    assert window.settings.flag(ASK_BEFORE_RUN, default=True)


def test_a_ticked_box_and_yes_turn_the_run_question_off_and_the_menu_on_again(
    qtbot, separated: MainWindow, monkeypatch: pytest.MonkeyPatch, settings
) -> None:
    window = separated
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.Yes, tick=True)
    assert ASK_RUN(window, "These stems…") is True
    assert not window.ask_before_run.isChecked() and not settings.flag(ASK_BEFORE_RUN, True)
    assert "Ask before replacing" in window.statusBar().currentMessage()
    assert ASK_RUN(window, "These stems…") is True and len(asked) == 1  # not asked again
    window.ask_before_run.trigger()  # Run ▸ Ask before replacing unkept stems
    assert settings.flag(ASK_BEFORE_RUN, default=False)
    assert ASK_RUN(window, "These stems…") is True and len(asked) == 2


def test_a_ticked_box_and_no_keep_the_run_question_on(
    separated: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = separated
    answer_questions(monkeypatch, QMessageBox.StandardButton.No, tick=True)
    assert ASK_RUN(window, "These stems…") is False
    assert window.ask_before_run.isChecked()


def test_the_run_question_remembered_off_starts_off(qtbot, model_dir, settings) -> None:
    settings.set_flag(ASK_BEFORE_RUN, False)
    window = make_window(qtbot, model_dir, settings)
    assert not window.ask_before_run.isChecked()


def test_opening_a_song_during_a_run_asks_before_stopping_it(
    qtbot, model_dir, settings, song_path: Path, tmp_path: Path
) -> None:
    window = piano_run_window(qtbot, model_dir, settings, song_path, 100_000, delay=0.01)
    window.run_view.start()
    qtbot.waitUntil(lambda: window.live.loss.count >= 2, timeout=3000)
    asked = _answer(window, False)
    assert window.open_song(write_song(tmp_path / "Other.wav", seconds=5.0)) is None
    assert len(asked) == 1 and "A run is going on" in asked[0]
    count = window.live.loss.count
    qtbot.waitUntil(lambda: window.live.loss.count > count, timeout=3000)  # still running
    window.confirm_quit = lambda: True
    assert window.close()


def test_a_song_that_cannot_be_opened_during_a_run_is_said_without_asking(
    qtbot, model_dir, settings, song_path: Path, tmp_path: Path
) -> None:
    """A missing file or a folder: nothing would be lost, so nothing is asked; its sentence is
    shown at once and the run goes on."""
    window = piano_run_window(qtbot, model_dir, settings, song_path, 100_000, delay=0.01)
    window.run_view.start()
    asked = _answer(window, True)
    for path, why in ((tmp_path / "Gone.wav", "does not exist"), (tmp_path, "is a folder")):
        assert window.open_song(path) is None
        (box,) = message_boxes()
        assert box.windowTitle() == "Cannot open the song" and why in box.text()
        box.close()
    assert asked == [] and not window.loader.busy
    count = window.live.loss.count
    qtbot.waitUntil(lambda: window.live.loss.count > count, timeout=3000)  # still running
    window.confirm_quit = lambda: True
    assert window.close()


def test_a_song_that_cannot_be_opened_over_unkept_stems_is_said_without_asking(
    separated: MainWindow, tmp_path: Path
) -> None:
    window = separated
    empty = tmp_path / "Empty.wav"
    empty.touch()
    asked = _answer(window, True)
    assert window.open_song(empty) is None
    (box,) = message_boxes()
    assert "is an empty file" in box.text()
    box.close()
    assert asked == [] and window.stems.unkept_stems() == STEMS


def test_the_question_is_a_yes_no_box_whose_default_is_no(
    separated: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)  # checks both
    assert ASK(separated, "Quit anyway?") is False
    assert asked == ["Quit anyway?"]


def test_quitting_while_export_all_writes_the_stems_asks_nothing(
    separated: MainWindow, tmp_path: Path
) -> None:
    window = separated
    out = tmp_path / "out"
    assert window.exports.export_to(out, ExportFormat.WAV16) is not None
    assert window.exports.busy  # written in the worker: quitting waits for it
    asked = _answer(window, False)
    assert window.close() and asked == []
    assert sorted(p.stem for p in out.iterdir()) == sorted(STEMS)


def test_opening_a_song_while_export_all_writes_the_stems_asks_nothing(
    separated: MainWindow, tmp_path: Path
) -> None:
    window = separated
    assert window.exports.export_to(tmp_path / "out", ExportFormat.WAV16) is not None
    asked = _answer(window, False)
    assert window.open_song(write_song(tmp_path / "Other.wav", seconds=5.0)) is not None
    assert asked == []


def test_a_cancelled_drag_takes_no_stem_out(separated: MainWindow) -> None:
    window = separated
    drag_out(
        window.stems, 0, Qt.DropAction.IgnoreAction
    )  # Escape, or dropped where nothing takes it
    assert window.stems.unkept_stems() == STEMS


def test_showing_the_exported_step_again_keeps_it_exported(
    qtbot, separated: MainWindow, tmp_path: Path
) -> None:
    window = separated
    assert export_and_wait(qtbot, window, tmp_path / "out", ExportFormat.WAV16) is not None
    shown = window.run_view.shown
    window.audition.best.click()  # the best step: the one shown at the end, exported
    window.audition.follow.setChecked(False)
    window.audition.follow.setChecked(True)  # back to the latest step: the same one
    assert window.run_view.shown.step == shown.step and window.stems.unkept_stems() == []


def test_a_song_dropped_on_the_window_asks_once_the_drop_has_ended(
    qtbot, separated: MainWindow, tmp_path: Path
) -> None:
    """The program the file came from waits for the drop to end: a question inside it would
    hold that program (a file manager, a DAW) until answered."""
    window = separated
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(write_song(tmp_path / "Other.wav", seconds=5.0)))])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    asked = _answer(window, False)
    window.dropEvent(event)
    assert event.isAccepted() and asked == []
    qtbot.waitUntil(lambda: len(asked) == 1, timeout=2000)
    assert "opening Other.wav replaces them" in asked[0] and window.song.name == "My Song"
