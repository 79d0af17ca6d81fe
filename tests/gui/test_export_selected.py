"""Export the selected stems…: only the stems selected in the Stems list are written, the way
Export all stems… writes every one (dialog, questions, worker, message)."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.audio.naming import DEFAULT_TEMPLATE
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.stem_export import CHANGED
from tagbox_gui.gui.widgets.export_dialog import ExportDialog
from tagbox_gui.gui.widgets.shortcuts import EXPORT_SELECTED, shown
from tests.gui.window_helpers import answer_questions, export_and_wait, message_boxes

PIANO, REST = "My Song - piano", "My Song - no piano"  # the rows of the separated fixture


def _select(window: MainWindow, *rows: int) -> None:
    stems = window.stems
    stems.clearSelection()
    for row in rows:
        stems.selectionModel().select(
            stems.model().index(row, 0), QItemSelectionModel.SelectionFlag.Select
        )


def test_only_the_selected_stem_is_written_as_export_all_writes_it(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+Shift+E with the piano selected: the dialog names only its file, only it is written
    (the format chosen, the metadata of Export all's), the status bar says so, and only it
    counts as kept."""
    window = separated
    window.confirm_quit = lambda: True
    _select(window, 0)
    out = tmp_path / "one"
    shown: list[tuple[str, list[str]]] = []

    def accept(dialog: ExportDialog) -> int:
        dialog.folder.setText(str(out))
        dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.FLAC24.value))
        shown.append((dialog.windowTitle(), list(dialog._file_names)))
        return ExportDialog.DialogCode.Accepted

    monkeypatch.setattr(ExportDialog, "exec", accept)
    with qtbot.waitSignal(window.exports.finished, timeout=10_000) as done:
        qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier
                       | Qt.KeyboardModifier.ShiftModifier)  # fmt: skip
    assert shown == [("Export the selected stem", [f"{PIANO}.flac"])]
    assert [p.name for p in done.args[0]] == [f"{PIANO}.flac"]
    assert [p.name for p in out.iterdir()] == [f"{PIANO}.flac"]
    info = sf.info(out / f"{PIANO}.flac")
    assert (info.subtype, info.frames) == ("PCM_24", window.song.frames)
    assert window.statusBar().currentMessage() == f"Exported 1 stem to {out}"
    assert window.stems.unkept_stems() == [REST]
    every = export_and_wait(qtbot, window, tmp_path / "all", ExportFormat.FLAC24)
    assert every is not None and every[0].name == f"{PIANO}.flac"
    with sf.SoundFile(out / f"{PIANO}.flac") as one, sf.SoundFile(every[0]) as full:
        assert one.comment == full.comment and "stem: separated" in one.comment
        assert one.read().tolist() == full.read().tolist()


def test_replacing_asks_only_about_the_selected_stems_files(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = separated
    out = tmp_path / "out"
    out.mkdir()
    for name in (PIANO, REST):
        sf.write(out / f"{name}.wav", [[0.25]] * 10, 48_000)
    piano = (out / f"{PIANO}.wav").read_bytes()
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    paths = export_and_wait(qtbot, window, out, ExportFormat.WAV32, DEFAULT_TEMPLATE, [1])
    assert len(asked) == 1 and f"{REST}.wav" in asked[0] and f"{PIANO}.wav" not in asked[0]
    assert paths == [out / f"{REST}.wav"] and sf.info(paths[0]).frames == window.song.frames
    assert (out / f"{PIANO}.wav").read_bytes() == piano  # not selected: untouched


def test_export_selected_is_offered_only_while_some_but_not_all_stems_are_selected(
    qtbot, window: MainWindow, song_path: Path, tmp_path: Path
) -> None:
    """In the File menu and on the Stems list's right click (with Export all stems…), named
    for what is selected; off without stems, with none or every one selected, and while an
    export is under way."""
    from tests.gui.window_helpers import open_song, run_to_end

    window.confirm_quit = lambda: True
    action = window.export_selected_action
    stems = window.stems
    assert stems.contextMenuPolicy() == Qt.ContextMenuPolicy.ActionsContextMenu
    assert stems.actions() == [action, window.export_action]
    assert not action.isEnabled()  # no stems yet
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    _select(window)
    assert not action.isEnabled() and "Select" in action.statusTip()
    _select(window, 1)
    assert action.isEnabled() and action.text() == "Export the &selected stem…"
    key = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    assert f"({key})" in action.statusTip() and key == shown(EXPORT_SELECTED)
    assert action.statusTip().startswith("Write only the stem selected to a folder")
    _select(window, 0, 1)
    assert not action.isEnabled() and window.export_action.isEnabled()
    _select(window, 0)
    pending = window.exports.export_to(tmp_path / "out", ExportFormat.WAV16)
    assert pending is not None and not action.isEnabled()
    qtbot.waitUntil(lambda: not window.exports.busy, timeout=10_000)
    assert action.isEnabled()
    stems.clear_stems()
    assert not action.isEnabled()


def test_the_action_counts_several_selected_stems(qtbot, window: MainWindow) -> None:
    from tagbox_gui.gui.stem_export import selected_text

    assert selected_text(1) == "Export the &selected stem…"
    assert selected_text(3) == "Export the 3 &selected stems…"
    assert window.export_selected_action.text() == "Export &selected stems…"


def test_stems_replaced_while_the_dialog_is_open_are_not_exported_by_their_old_rows(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows selected name the stems listed when the dialog opened: when others are listed
    by the time Save is pressed (here none: a new run started meanwhile), nothing is written,
    and that is said."""
    window = separated
    window.confirm_quit = lambda: True
    _select(window, 0)
    out = tmp_path / "out"

    def accept(dialog: ExportDialog) -> int:
        dialog.folder.setText(str(out))
        window.stems.clear_stems()
        return ExportDialog.DialogCode.Accepted

    monkeypatch.setattr(ExportDialog, "exec", accept)
    window.export_selected_action.trigger()
    assert not window.exports.busy and not out.exists()
    said = [box.text() for box in message_boxes()]
    assert said == [CHANGED]
    for box in message_boxes():
        box.close()


def test_another_step_listed_while_the_dialog_is_open_exports_the_same_stems_of_it(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A steered run following its latest step lists its stems anew at each preview: the
    same stems, of a newer step. Their rows still name the stems chosen, which are written as
    the step shown at Save has them (as Export all writes the stems shown)."""
    window = separated
    window.confirm_quit = lambda: True
    view = window.run_view
    _select(window, 1)
    chosen = window.stems.item(1).text()
    out = tmp_path / "out"
    other = next(s for s in view.session.snapshots.steps() if s != view.shown.step)

    def accept(dialog: ExportDialog) -> int:
        dialog.folder.setText(str(out))
        view.show_step(other)  # listed anew: the selection is gone, the names are the same
        return ExportDialog.DialogCode.Accepted

    monkeypatch.setattr(ExportDialog, "exec", accept)
    window.export_selected_action.trigger()
    qtbot.waitUntil(lambda: not window.exports.busy, timeout=10_000)
    assert [path.stem for path in out.iterdir()] == [chosen]
    assert message_boxes() == []
    with sf.SoundFile(next(out.iterdir())) as written:  # the stem of the step shown at Save
        assert any(line.startswith(f"step: {other} of") for line in written.comment.splitlines())
