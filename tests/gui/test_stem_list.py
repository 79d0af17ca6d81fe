"""Drag-out of stems: the mime data carries real, complete audio files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt, QUrl

from tagbox_gui.core.audio.song import Song, analysis_signal
from tagbox_gui.core.types import Estimate
from tagbox_gui.gui.widgets import StemListView
from tests.gui.window_helpers import drag_data, drag_out, held_drag_files

RATE = 22_050
FFT = 1024


def make_song(tmp_path: Path, seconds: float = 2.0, channels: int = 2) -> Song:
    rng = np.random.default_rng(1)
    data = (0.2 * rng.standard_normal((round(seconds * RATE), channels))).astype(np.float32)
    return Song(tmp_path / "My Song.wav", "My Song", data, RATE, "FLOAT", "WAV")


def half_mask_estimate(song: Song) -> Estimate:
    length = len(analysis_signal(song))
    mask = np.full((FFT // 2 + 1, 1 + length // (FFT // 2)), 0.5, dtype=np.float32)
    return Estimate(0, length, {FFT: mask})


@pytest.fixture
def view(qtbot, tmp_path: Path) -> StemListView:
    widget = StemListView(export_root=tmp_path)
    qtbot.addWidget(widget)
    return widget


def test_items_are_named_after_song_and_tags(view: StemListView, tmp_path: Path) -> None:
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {"steps": "10"}, "light")
    assert [view.item(i).text() for i in range(view.count())] == [
        "My Song - piano",
        "My Song - no piano",
    ]
    assert list(tmp_path.iterdir()) == []  # nothing written before a drag


def test_an_empty_list_says_what_it_will_list(view: StemListView, tmp_path: Path) -> None:
    """With no stems, the list was a blank white box; it now says, in a grey line, what
    comes there and what to do with it (as the empty loss and mask views do), and the line
    goes while stems are listed."""
    view.resize(300, 200)
    view.show()
    assert view.empty.isVisible() and "drag them into your DAW" in view.empty.text()
    assert view.accessibleDescription() == view.empty.text()  # said by a screen reader too
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    assert view.count() == 2 and not view.empty.isVisible()
    assert view.accessibleDescription() == ""
    view.clear_stems()  # e.g. another song opened
    assert view.count() == 0 and view.empty.isVisible()


def test_mime_data_holds_complete_audio_files(view: StemListView, tmp_path: Path) -> None:
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {"steps": "10"}, "light")
    mime = drag_data(view, [view.item(0), view.item(1)])
    urls = mime.urls()
    assert len(urls) == 2 and all(isinstance(u, QUrl) and u.isLocalFile() for u in urls)
    assert urls[0].toString().startswith("file://")
    paths = [Path(u.toLocalFile()) for u in urls]
    assert [p.name for p in paths] == ["My Song - piano.wav", "My Song - no piano.wav"]
    assert all(p.is_relative_to(tmp_path) for p in paths)
    stems = []
    for path in paths:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.frames) == (RATE, 2, song.frames)
        assert info.subtype == "FLOAT"
        stems.append(sf.read(str(path), dtype="float32")[0])
    np.testing.assert_allclose(stems[0] + stems[1], song.data, atol=1e-6)  # they add up
    assert np.abs(stems[0]).max() > 0.01  # the separated stem is not silence
    assert not list(paths[0].parent.glob("*.part"))  # no temporary left over
    # a second drag reuses the files; a new result writes new ones
    again = view.mimeData([view.item(1)])
    assert [Path(u.toLocalFile()) for u in again.urls()] == [paths[1]]
    view.set_stems(song, half_mask_estimate(song), ["drums"], {}, "light")
    newer = Path(drag_data(view, [view.item(0)]).urls()[0].toLocalFile())
    assert newer.name == "My Song - drums.wav" and newer.parent != paths[0].parent


def test_prepare_writes_in_the_background(view: StemListView, tmp_path: Path) -> None:
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    view.prepare()
    _, future = view._pending
    separated, residual = future.result(timeout=30)
    assert separated.is_file() and residual.is_file()
    paths = [Path(u.toLocalFile()) for u in view.mimeData([view.item(0)]).urls()]
    assert paths == [separated]
    # a result replaced before its prepared files are used is not dragged
    view.prepare()  # nothing pending or to do: the files exist
    assert view._pending is None
    view.set_stems(song, half_mask_estimate(song), ["bass"], {}, "light")
    view.prepare()
    view.set_stems(song, half_mask_estimate(song), ["drums"], {}, "light")
    path = Path(drag_data(view, [view.item(0)]).urls()[0].toLocalFile())
    assert path.name == "My Song - drums.wav"


def test_provenance_and_backend_go_into_the_file(view: StemListView, tmp_path: Path) -> None:
    song = make_song(tmp_path, channels=1)
    view.set_stems(song, half_mask_estimate(song), ["guitar"], {"steps": "42"}, "jukebox")
    path = Path(drag_data(view, [view.item(0)]).urls()[0].toLocalFile())
    with sf.SoundFile(str(path)) as handle:
        assert handle.channels == 1
        comment = handle.comment
    assert "steps: 42" in comment and "backend: jukebox" in comment


def test_export_failure_is_reported_not_raised(view: StemListView, tmp_path: Path, qtbot) -> None:
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    blocker_file = tmp_path / "occupied"
    blocker_file.write_text("a file where the export folder should go")
    view._session_dir = blocker_file  # the folder cannot be created
    with qtbot.waitSignal(view.export_failed) as blocker:
        assert drag_data(view, [view.item(0)]) is None  # its write failed in a worker
    assert "choose another folder" in str(blocker.args[0])
    assert blocker.args[1] == "Cannot drag the stems"


def test_a_full_disk_under_a_drag_says_what_a_drag_can_do(
    view: StemListView, tmp_path: Path, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drag's folder is the app's, not chosen: the advice is not to choose another one."""
    import errno

    from tagbox_gui.core.audio import files

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "open_sound", full)
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    with qtbot.waitSignal(view.export_failed, timeout=10_000) as failed:
        assert drag_data(view, [view.item(0)]) is None
    said = str(failed.args[0])
    assert said.endswith(
        "(the disk is full), so none of the stems was written; free some disk space, export "
        "the stems to another folder (Export all stems…) or delete old ones from the dragged "
        "stems folder (Tools ▸ Open the dragged stems folder)."
    )


def test_a_failed_write_ahead_is_said_when_it_fails_once_and_the_next_drag_tries_again(
    view: StemListView, tmp_path: Path, qtbot
) -> None:
    """The stems written ahead (a run ended) cannot be: that is said when it happens, not
    only at the next drag; that drag does not say it again but writes them again."""
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    blocker_file = tmp_path / "occupied"
    blocker_file.write_text("a file where the export folder should go")
    view._session_dir = blocker_file  # the folder cannot be created
    with qtbot.waitSignal(view.export_failed, timeout=10_000) as failed:
        view.prepare()
    assert "choose another folder" in str(failed.args[0])
    assert failed.args[1] == "Cannot write the stems"  # nobody dragged
    said: list[str] = []
    view.export_failed.connect(lambda exc, title: said.append(title))
    view._session_dir = tmp_path / "fine"  # e.g. the disk has room again
    with qtbot.waitSignal(view.preparing):
        assert view.mimeData([view.item(0)]) is None  # written again, in the background
    path = Path(drag_data(view, [view.item(0)]).urls()[0].toLocalFile())
    assert path.is_file() and path.is_relative_to(tmp_path / "fine") and said == []


def test_no_stems_no_mime_data(view: StemListView) -> None:
    assert view.mimeData([]) is None
    with pytest.raises(ValueError):
        view.stem_files()


def test_before_export_hook_can_refuse_a_drag(view: StemListView, tmp_path: Path) -> None:
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "jukebox")
    answers = [False, True]
    asked: list[bool] = []

    def hook() -> bool:
        asked.append(answers[len(asked)])
        return asked[-1]

    view.set_before_export(hook)
    view.item(0).setSelected(True)
    view.startDrag(Qt.DropAction.CopyAction)  # declined: returns without starting a drag
    assert asked == [False]
    assert not list(tmp_path.rglob("*.wav"))  # nothing left the app
    mime = drag_data(view, [view.item(0)])
    assert asked == [False, True] and mime is not None
    assert Path(mime.urls()[0].toLocalFile()).is_file()


def test_several_stems_drag_in_the_lists_order_whatever_the_clicks(
    view: StemListView, tmp_path: Path, qtbot
) -> None:
    from PySide6.QtTest import QTest

    song = make_song(tmp_path)
    estimate = half_mask_estimate(song)
    view.set_shared_stems(song, {"drums": estimate, "bass": estimate}, {}, "learned")
    view.show()

    def click(row: int, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        center = view.visualItemRect(view.item(row)).center()
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, modifier, center)

    click(2)  # the rest, then shift-click up to drums: every stem, as a DAW gets them
    click(0, Qt.KeyboardModifier.ShiftModifier)
    assert len(view.selectedItems()) == 3
    names = [Path(u.toLocalFile()).name for u in drag_data(view, view.selectedItems()).urls()]
    assert names == ["My Song - drums.wav", "My Song - bass.wav", "My Song - no drums + bass.wav"]


def test_files_no_drag_carried_out_go_with_their_result(
    view: StemListView, tmp_path: Path, qtbot
) -> None:
    song = make_song(tmp_path)
    estimate = half_mask_estimate(song)
    view.set_stems(song, estimate, ["piano"], {}, "light")
    dragged = view.stem_files()[0].parent
    drag_out(view, 1, Qt.DropAction.CopyAction)  # dropped into a DAW, which may refer to it
    view.set_stems(song, estimate, ["bass"], {}, "light")
    written = view.prepare().result(timeout=30)[0].parent  # written ahead, never dragged
    view.set_stems(song, estimate, ["drums"], {}, "light")
    view.prepare()  # still being written, or not yet, when the window closes
    shown = view._export_job()[1]
    qtbot.waitUntil(lambda: not written.exists(), timeout=5000)
    view.remove_files()  # the app quits
    qtbot.waitUntil(lambda: not shown.exists(), timeout=5000)
    assert [p.name for p in dragged.iterdir()] and list(tmp_path.iterdir()) == [dragged.parent]
    assert list(dragged.parent.iterdir()) == [dragged]
    view.clear_stems()
    view._session_dir = None
    view.set_stems(song, estimate, ["piano"], {}, "light")
    view.prepare()
    view.remove_files()  # nothing was dragged: the session's folder goes too
    qtbot.waitUntil(lambda: list(tmp_path.iterdir()) == [dragged.parent], timeout=5000)


def test_files_of_a_cancelled_drag_go_with_their_result(
    view: StemListView, tmp_path: Path, qtbot, monkeypatch
) -> None:
    """A drag cancelled with Escape hands nothing to a DAW: its files go when their result is
    replaced, as if never dragged; never those an earlier drag dropped somewhere."""
    from PySide6.QtGui import QDrag

    from tagbox_gui.gui.widgets import stem_list

    song = make_song(tmp_path)
    estimate = half_mask_estimate(song)
    view.set_stems(song, estimate, ["piano"], {}, "light")
    drag_out(view, 0, Qt.DropAction.IgnoreAction)
    cancelled = view.stem_files()[0].parent
    view.set_stems(song, estimate, ["bass"], {}, "light")
    qtbot.waitUntil(lambda: not cancelled.exists(), timeout=5000)
    drag_out(view, 0, Qt.DropAction.CopyAction)  # dropped into a DAW
    drag_out(view, 1, Qt.DropAction.IgnoreAction)  # then the other, cancelled
    dropped = view.stem_files()[0].parent
    view.set_stems(song, estimate, ["drums"], {}, "light")
    shown = view.stem_files()[0].parent

    def replaced_meanwhile(drag: QDrag, *actions: Qt.DropAction) -> Qt.DropAction:
        view.set_stems(song, estimate, ["guitar"], {}, "light")  # e.g. a job's stems
        return Qt.DropAction.IgnoreAction

    monkeypatch.setattr(QDrag, "exec", replaced_meanwhile)
    view.setCurrentRow(0)
    view.startDrag(Qt.DropAction.CopyAction)
    assert Path(view.item(0).text()).name == "My Song - guitar"
    qtbot.waitUntil(lambda: not shown.exists(), timeout=5000)  # once the drag has ended
    stem_list._EXPORTER.submit(lambda: None).result(timeout=30)
    assert sorted(p.name for p in dropped.iterdir()) == [
        "My Song - bass.wav",
        "My Song - no bass.wav",
    ]


def test_drags_write_under_the_lasting_user_data_folder(qtbot, tmp_path: Path, monkeypatch) -> None:
    """Not the temporary folder, which is emptied on reboot or after a few days: a DAW
    project referring to a dropped stem would lose it."""
    from tagbox_gui.gui.widgets import stem_list

    monkeypatch.setattr(stem_list, "user_data_dir", lambda app: str(tmp_path / "data" / app))
    root = tmp_path / "data" / "tagbox-gui" / "Dragged stems"
    assert stem_list.dragged_stems_root() == root
    view = StemListView()
    qtbot.addWidget(view)
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    assert not root.exists()  # made when first needed
    drag_out(view, 0, Qt.DropAction.CopyAction)  # dropped into a DAW
    dragged = view.stem_files()[0]
    assert dragged.is_file() and dragged.parent.parent.parent == root  # <session>/result-<n>
    view.remove_files()  # the app quits: what a drag carried out stays
    stem_list._EXPORTER.submit(lambda: None).result(timeout=30)
    assert dragged.is_file()


def test_drags_fall_back_to_the_temporary_folder_when_the_lasting_one_cannot_be_made(
    qtbot, tmp_path: Path, monkeypatch, caplog
) -> None:
    import tempfile

    from tagbox_gui.gui.widgets import stem_list

    blocker = tmp_path / "occupied"
    blocker.write_text("a file where the user data folder should go")
    monkeypatch.setattr(stem_list, "user_data_dir", lambda app: str(blocker / app))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    view = StemListView()
    qtbot.addWidget(view)
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    with caplog.at_level("WARNING"):
        dragged = Path(drag_data(view, [view.item(0)]).urls()[0].toLocalFile())
    assert dragged.is_file() and dragged.is_relative_to(temp)  # the drag still works
    assert "Dragged stems" in caplog.text and "temporary folder" in caplog.text


def test_a_drag_before_the_files_are_written_does_not_wait_for_them(
    view: StemListView, tmp_path: Path, qtbot, monkeypatch
) -> None:
    """A drag must start from the mouse press: one while the stems are still being written is
    ignored at once, with a word why, instead of writing them on the GUI thread."""
    import time

    from PySide6.QtGui import QDrag

    from tagbox_gui.gui.widgets import stem_list

    gate = held_drag_files(monkeypatch)
    dragged: list[list[Path]] = []
    monkeypatch.setattr(
        QDrag,
        "exec",
        lambda drag, *actions: (
            dragged.append([Path(url.toLocalFile()) for url in drag.mimeData().urls()])
            or Qt.DropAction.CopyAction
        ),
    )
    said: list[str] = []
    view.preparing.connect(said.append)
    song = make_song(tmp_path)
    view.set_stems(song, half_mask_estimate(song), ["piano"], {}, "light")
    view.item(0).setSelected(True)
    began = time.monotonic()  # the files are held until the gate is set (a long song's: seconds)
    view.startDrag(Qt.DropAction.CopyAction)  # nothing written ahead yet (a step of a run)
    assert time.monotonic() - began < 1.0 and dragged == []  # not the held write's 30 s
    assert said == ["Preparing the stems for dragging… drag again in a moment."]
    view.startDrag(Qt.DropAction.CopyAction)  # still being written: the same
    assert dragged == [] and len(said) == 2
    gate.set()
    qtbot.waitUntil(lambda: len(list(tmp_path.rglob("*.wav"))) == 2, timeout=30_000)
    stem_list._EXPORTER.submit(lambda: None).result(timeout=30)  # the write has ended
    view.startDrag(Qt.DropAction.CopyAction)
    assert [p.name for p in dragged[0]] == ["My Song - piano.wav"] and dragged[0][0].is_file()
    # a result replaced while its files are written: the drag never gets the old ones
    gate.clear()
    view.set_stems(song, half_mask_estimate(song), ["bass"], {}, "light")
    view.prepare()
    view.set_stems(song, half_mask_estimate(song), ["drums"], {}, "light")
    view.item(0).setSelected(True)
    view.startDrag(Qt.DropAction.CopyAction)
    gate.set()
    stem_list._EXPORTER.submit(lambda: None).result(timeout=30)
    view.startDrag(Qt.DropAction.CopyAction)
    assert len(dragged) == 2 and [p.name for p in dragged[1]] == ["My Song - drums.wav"]


@pytest.mark.parametrize(
    ("instruments", "listed"),
    [
        ([], "My Song - piano and My Song - no piano"),
        (["drums", "bass"], "My Song - drums, My Song - bass and My Song - no drums + bass"),
        (
            ["drums", "bass", "piano", "guitar"],
            "My Song - drums, My Song - bass, My Song - piano and 2 more",
        ),
    ],
)
def test_the_stems_to_be_lost_are_listed_as_a_sentence(
    view: StemListView, tmp_path: Path, instruments: list[str], listed: str
) -> None:
    song = make_song(tmp_path)
    estimate = half_mask_estimate(song)
    if instruments:
        view.set_shared_stems(song, dict.fromkeys(instruments, estimate), {}, "learned")
    else:
        view.set_stems(song, estimate, ["piano"], {}, "light")
    assert view.losing("quitting loses") == (
        f"These stems were never exported or dragged out: {listed}; quitting loses them."
    )
