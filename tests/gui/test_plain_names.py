"""Names of the user's (songs, files, stems) are shown as typed wherever they appear: in
tooltips, questions and messages, never read as HTML."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtGui import Qt, QTextDocument
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.widgets import ModelsDialog, plain_text
from tagbox_gui.gui.widgets.elided_label import ElidedLabel
from tests.gui.fake_engine import write_song
from tests.gui.window_helpers import export_and_wait, open_song, run_to_end

NAME = "<b>Demo &lt;mix&gt;"  # a song's name that looks like HTML
ASK = MainWindow.confirm_discard  # the real questions, before conftest's answers replace them
ASK_RUN = MainWindow.confirm_new_run


def seen(text: str, fmt: Qt.TextFormat = Qt.TextFormat.AutoText) -> str:
    """What Qt draws for ``text`` in ``fmt`` (a tooltip's is AutoText): HTML's text, if it
    takes it for HTML."""
    rich = fmt == Qt.TextFormat.RichText or (
        fmt == Qt.TextFormat.AutoText and Qt.mightBeRichText(text)
    )
    if not rich:
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the questions asked showed; each is answered No."""
    shown: list[str] = []

    def exec_(box: QMessageBox) -> int:
        shown.append(seen(box.text(), box.textFormat()))
        box.button(QMessageBox.StandardButton.No).click()
        return 0

    def question(parent, title, text, *args) -> QMessageBox.StandardButton:
        shown.append(seen(text))  # Qt's own question draws its text as AutoText
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    monkeypatch.setattr(QMessageBox, "question", question)
    return shown


@pytest.fixture
def html_song(qtbot, window: MainWindow, tmp_path: Path) -> MainWindow:
    """The window with the piano separated out of a song whose name looks like HTML."""
    folder = tmp_path / "<i>songs"
    folder.mkdir()
    open_song(qtbot, window, write_song(folder / f"{NAME}.wav", seconds=8.0))
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=3)
    return window


def test_stem_tooltips_show_the_songs_name_as_it_is(html_song: MainWindow) -> None:
    stems = html_song.stems  # named after their files ("<" cannot be in a portable one)
    names = [stems.item(row).text() for row in range(stems.count())]
    assert len(names) == 2 and all("&lt;mix&gt; - " in name for name in names)
    for row, name in enumerate(names):
        assert seen(stems.item(row).toolTip()).startswith(f"{name}\n")  # its lines kept


def test_replace_stems_shows_the_files_names_as_they_are(
    qtbot, html_song: MainWindow, tmp_path: Path, asked: list[str]
) -> None:
    out = tmp_path / "<u>out"
    assert export_and_wait(qtbot, html_song, out, ExportFormat.WAV16) is not None
    assert export_and_wait(qtbot, html_song, out, ExportFormat.WAV16) is None  # No
    assert len(asked) == 1 and str(out) in asked[0]
    assert f"\n{html_song.stems.item(0).text()}.wav\n" in asked[0]


def test_the_run_question_shows_names_as_they_are_and_its_box_is_read(
    html_song: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[tuple[str, str]] = []

    def exec_(box: QMessageBox) -> int:  # the box ticked, then Yes
        shown.append((seen(box.text(), box.textFormat()), box.checkBox().text()))
        box.checkBox().setChecked(True)
        box.button(QMessageBox.StandardButton.Yes).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    question = f"These stems were never exported or dragged out: {NAME} - piano"
    assert ASK_RUN(html_song, question) is True
    assert shown == [(f"{question}\n\nRun anyway?", "&Do not ask again before a run")]
    assert not html_song.ask_before_run.isChecked()


def test_questions_and_messages_of_the_window_show_names_as_they_are(
    html_song: MainWindow, asked: list[str]
) -> None:
    question = f"The stems of {NAME} were not exported.\n\nOpen <i>other</i>.wav anyway?"
    assert ASK(html_song, question) is False
    assert asked == [question]
    box = html_song.show_message(f"{NAME} cannot run")
    assert seen(box.text(), box.textFormat()) == f"{NAME} cannot run"
    box.close()


def test_a_long_names_tooltip_shows_it_as_it_is(qtbot, html_song: MainWindow) -> None:
    label = ElidedLabel(NAME * 5)
    qtbot.addWidget(label)
    label.resize(60, 20)
    label.show()
    qtbot.waitExposed(label)
    assert label.is_elided() and seen(label.toolTip()) == NAME * 5
    details = html_song.song_panel.details  # the song's path
    assert seen(details.toolTip()) == str(html_song.song.path)


def test_the_models_dialog_shows_the_path_installed_from_as_it_is(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path / "store")
    dialog = ModelsDialog(store)
    qtbot.addWidget(dialog)
    monkeypatch.setattr(store, "install_file", lambda *args: None)
    path = str(tmp_path / "<b>downloads" / "best_model.pth")
    with qtbot.waitSignal(dialog.job_finished, timeout=10_000):
        dialog.install("fcn/mtat", path)
        assert path in seen(dialog.message.text(), dialog.message.textFormat())


def test_each_question_leaves_no_box_behind(qtbot, window: MainWindow, asked) -> None:
    boxes = len(window.findChildren(QMessageBox))
    for _ in range(3):  # as Qt's own question: each box goes once answered
        assert (
            plain_text.question(window, "TagBox", "Quit anyway?") == QMessageBox.StandardButton.No
        )
    qtbot.waitUntil(lambda: len(window.findChildren(QMessageBox)) == boxes, timeout=1000)
