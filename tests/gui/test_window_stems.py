"""The main window's stems: dragged out as real files, exported, the Jukebox licence before the
first export, and a short run of the real engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDrag, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.errors import AudioError
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import Region
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.fake_engine import fake_player, write_song
from tests.gui.window_helpers import (
    drag_data,
    export_and_wait,
    files_written,
    held_drag_files,
    message_boxes,
    open_song,
    piano_stems_as_jukebox,
    run_to_end,
)


# ----- 6. stems ------------------------------------------------------------------------
def test_drag_carries_a_real_file_of_the_songs_length(qtbot, window, song_path) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    items = [window.stems.item(0), window.stems.item(1)]
    mime = drag_data(window.stems, items)
    urls = mime.urls()
    assert [u.scheme() for u in urls] == ["file", "file"]
    paths = [Path(u.toLocalFile()) for u in urls]
    assert [p.stem for p in paths] == ["My Song - piano", "My Song - no piano"]
    song = window.song
    separated, residual = (sf.read(p, always_2d=True) for p in paths)
    for data, rate in (separated, residual):
        assert rate == song.rate and data.shape == (song.frames, song.channels)
    np.testing.assert_allclose(separated[0] + residual[0], song.data, atol=1e-6)


def test_export_writes_both_stems(qtbot, window, song_path, tmp_path, monkeypatch) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    out = tmp_path / "exported"
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    def accept(dialog: ExportDialog) -> int:
        dialog.folder.setText(str(out))
        dialog.format.setCurrentIndex(dialog.format.findData("flac24"))
        return ExportDialog.DialogCode.Accepted

    monkeypatch.setattr(ExportDialog, "exec", accept)
    with qtbot.waitSignal(window.exports.finished, timeout=10_000):  # written in a worker
        qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["My Song - no piano.flac", "My Song - piano.flac"]
    info = sf.info(out / "My Song - piano.flac")
    assert (info.samplerate, info.channels, info.frames) == (48_000, 2, window.song.frames)
    assert info.subtype == "PCM_24"
    assert window.settings.text("export/format") == "flac24"


def test_jukebox_licence_is_shown_before_the_first_export(
    qtbot, window, song_path, tmp_path, monkeypatch
) -> None:
    piano_stems_as_jukebox(qtbot, window, song_path)
    asked: list[str] = []

    def question(parent, title, text, *args):
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    assert export_and_wait(qtbot, window, tmp_path / "a", ExportFormat.WAV16) is not None
    assert export_and_wait(qtbot, window, tmp_path / "b", ExportFormat.WAV16) is not None
    assert len(asked) == 1 and "Noncommercial" in asked[0]


# ----- 4 + 6 with the real engine ------------------------------------------------------
@pytest.mark.slow
def test_real_engine_short_region(qtbot, model_dir, settings, tmp_path) -> None:
    path = write_song(tmp_path / "Real.wav", seconds=8.0, rate=44_100, channels=2)
    window = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(window)
    window.show()
    open_song(qtbot, window, path)
    panel = window.settings_panel
    assert panel.settings().backend == "learned"  # the default, on the whole song
    assert window.song_panel.whole_song.isChecked() and window.song_panel.region() is None
    panel.backend.setCurrentIndex(panel.backend.findData("light"))
    assert panel.settings().backend == "light"
    assert not window.song_panel.whole_song.isChecked()  # a slow backend: the region
    window.song_panel.set_region(Region(1.0, 4.0))
    panel.steps.setValue(2)
    panel.preview_every.setValue(1)
    window.tag_panel.apply_preset("Piano")
    with qtbot.waitSignal(window.controller.run_finished, timeout=240_000) as blocker:
        window.run_view.start()
    qtbot.wait(100)
    result = blocker.args[0]
    assert result.steps_done == 2 and result.estimate is not None
    assert window.live.loss.count == 2 and "total" in window.live.loss.keys
    assert set(window.live.meters.values()) == {"piano"}
    assert window.run_view.session.snapshots.steps() == (1, 2)
    paths = window.stems.stem_files()
    data, rate = sf.read(paths[1], always_2d=True)
    assert rate == 44_100 and data.shape == window.song.data.shape
    window.controller.shutdown(5000)


def test_stems_dragged_onto_the_window_itself_are_not_opened_as_the_song(
    qtbot, separated: MainWindow, monkeypatch
) -> None:
    """A drag of stems released over the app's own window (over the Stems list, where it
    began, or the song) is refused: it would open a stem as the song, replacing the result,
    and count the stems as taken out of the app."""
    window = separated
    stems = window.stems
    stems.item(0).setSelected(True)
    stems.item(1).setSelected(True)
    mime = drag_data(stems, stems.selectedItems())
    point = QPointF(200, 200)
    events: list[QDropEvent] = []

    def drop_on_window(drag: QDrag, *actions: Qt.DropAction) -> Qt.DropAction:
        monkeypatch.setattr(QDropEvent, "source", lambda event: stems)  # the app's own drag
        buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        enter = QDragEnterEvent(point, Qt.DropAction.CopyAction, drag.mimeData(), buttons, keys)
        enter.ignore()
        window.dragEnterEvent(enter)
        drop = QDropEvent(point, Qt.DropAction.CopyAction, drag.mimeData(), buttons, keys)
        drop.ignore()
        window.dropEvent(drop)
        events.extend([enter, drop])
        taken = enter.isAccepted() and drop.isAccepted()
        return drop.dropAction() if taken else Qt.DropAction.IgnoreAction

    monkeypatch.setattr(QDrag, "exec", drop_on_window)
    assert mime is not None and len(mime.urls()) == 2
    stems.startDrag(Qt.DropAction.CopyAction)
    qtbot.wait(200)  # a drop opens its file once the drop has ended
    assert window.song.name == "My Song" and not window.loader.busy
    assert len(events) == 2 and not any(event.isAccepted() for event in events)
    assert [stems.item(row).text() for row in range(stems.count())] == [
        "My Song - piano",
        "My Song - no piano",
    ]
    assert stems.unkept_stems() == ["My Song - piano", "My Song - no piano"]


def test_tools_opens_the_dragged_stems_folder(window: MainWindow, tmp_path, monkeypatch) -> None:
    from PySide6.QtGui import QDesktopServices

    from tagbox_gui.gui.widgets import stem_list

    monkeypatch.setattr(stem_list, "user_data_dir", lambda app: str(tmp_path / "data" / app))
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    entry = next(a for a in tools.actions() if a.text() == "Open the dragged &stems folder")
    entry.trigger()
    folder = tmp_path / "data" / "tagbox-gui" / "Dragged stems"
    assert [Path(url.toLocalFile()) for url in opened] == [folder]
    assert folder.is_dir()  # there is a folder to open before the first drag, too


def test_a_dragged_stems_folder_that_cannot_be_shown_is_named(
    window: MainWindow, tmp_path, monkeypatch
) -> None:
    from PySide6.QtGui import QDesktopServices

    from tagbox_gui.gui.widgets import stem_list

    monkeypatch.setattr(stem_list, "user_data_dir", lambda app: str(tmp_path / "data" / app))
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)  # no file manager
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    next(a for a in tools.actions() if a.text() == "Open the dragged &stems folder").trigger()
    (box,) = message_boxes()
    assert str(tmp_path / "data" / "tagbox-gui" / "Dragged stems") in box.text()
    box.close()


def test_a_drag_while_the_stems_are_written_says_so_in_the_status_bar(
    qtbot, window, song_path, monkeypatch
) -> None:
    gate = held_drag_files(monkeypatch)
    dragged: list[QDrag] = []
    monkeypatch.setattr(
        QDrag, "exec", lambda drag, *_: dragged.append(drag) or Qt.DropAction.CopyAction
    )
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)  # its stems are being written ahead
    window.stems.setCurrentRow(0)
    window.stems.startDrag(Qt.DropAction.CopyAction)
    assert dragged == [] and "Preparing the stems" in window.statusBar().currentMessage()
    gate.set()
    files_written(window.stems)
    window.stems.startDrag(Qt.DropAction.CopyAction)
    assert len(dragged) == 1 and window.stems.unkept_stems() == ["My Song - no piano"]


def test_a_step_chosen_after_the_run_is_written_ahead_for_dragging(
    qtbot, window, song_path
) -> None:
    from tagbox_gui.gui.widgets import stem_list

    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=12, preview_every=3)
    said: list[str] = []
    window.stems.preparing.connect(said.append)
    window.audition.slider.setValue(0)  # step 3: other stems
    assert window.run_view.shown.step == 3
    stem_list._EXPORTER.submit(lambda: None).result(timeout=30)  # what was started has ended
    assert window.stems.mimeData([window.stems.item(0)]) is not None and said == []


DISK_FULL = "cannot write 'x.wav' (the disk is full), so none of the stems was written"


@pytest.mark.parametrize(
    ("error", "said", "logged"),
    [
        (AudioError(DISK_FULL), "Cannot write 'x.wav' (the disk is full)", DISK_FULL),
        (MemoryError(), "Writing the stems ran out of memory", "MemoryError"),
    ],
)
def test_stems_that_cannot_be_written_for_dragging_are_warned_about_and_logged(
    qtbot, window, song_path, monkeypatch, caplog, error: Exception, said: str, logged: str
) -> None:
    """The stems written ahead for dragging (a run ended) fail: a warning says why as soon as
    they do, in a sentence, and the log has it; the next drag writes them again."""
    from tagbox_gui.gui.widgets import stem_list

    def failing(*args: object, **kwargs: object) -> None:
        raise error

    real = stem_list.export_stems
    monkeypatch.setattr(stem_list, "export_stems", failing)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    with caplog.at_level("WARNING"):
        run_to_end(qtbot, window)  # its stems are being written ahead, and fail
        qtbot.waitUntil(lambda: bool(message_boxes()), timeout=10_000)
    box = message_boxes()[-1]
    assert box.icon() == QMessageBox.Icon.Warning and box.text().startswith(said)
    assert logged in caplog.text
    box.close()
    monkeypatch.setattr(stem_list, "export_stems", real)
    assert drag_data(window.stems, [window.stems.item(0)]) is not None  # written again
