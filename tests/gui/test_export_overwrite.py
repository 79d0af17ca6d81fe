"""Export all stems… never replaces stems without asking, and writes both stems or neither."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import soundfile as sf
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.files import ExportFormat
from tagbox_gui.core.errors import AudioError
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.widgets import plain_text
from tests.gui.fake_engine import write_song
from tests.gui.window_helpers import (
    answer_questions,
    export_and_wait,
    message_boxes,
    open_song,
    run_to_end,
)

STEMS = ["My Song - no piano.wav", "My Song - piano.wav"]


def _old_stems(folder: Path) -> dict[str, bytes]:
    folder.mkdir()
    for name in STEMS:
        sf.write(folder / name, [[0.25]] * 10, 48_000)
    return {name: (folder / name).read_bytes() for name in STEMS}


def test_export_asks_before_replacing_and_no_keeps_the_old_stems(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = separated
    out = tmp_path / "out"
    old = _old_stems(out)
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    assert export_and_wait(qtbot, window, out, ExportFormat.WAV32) is None
    assert len(asked) == 1 and all(name in asked[0] for name in STEMS)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old  # untouched, nothing added

    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    paths = export_and_wait(qtbot, window, out, ExportFormat.WAV32)
    assert paths is not None and len(asked) == 1
    assert sorted(p.name for p in out.iterdir()) == STEMS
    assert all(sf.info(p).frames == window.song.frames for p in paths)  # the new stems


def test_export_to_a_new_folder_asks_nothing(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = separated
    monkeypatch.setattr(plain_text, "question", lambda *a, **k: pytest.fail("nothing to replace"))
    assert export_and_wait(qtbot, window, tmp_path / "new", ExportFormat.WAV16) is not None
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == STEMS


def test_export_writes_in_a_worker_while_the_window_stays_responsive(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = separated
    """Export all stems… renders and writes off the GUI thread; Export is disabled until the files
    are there, the status bar says what happens, and a failure is a dialog, not a crash."""
    from tagbox_gui.gui import stem_export
    from tagbox_gui.gui.widgets import stem_list

    release, threads = threading.Event(), []
    real = stem_list.export_stems

    def slow_export(*args, **kwargs):
        threads.append(threading.current_thread())
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(stem_list, "export_stems", slow_export)
    pending = window.exports.export_to(tmp_path / "out", ExportFormat.WAV16)
    assert pending is not None and not pending.done()
    assert not window.export_button.isEnabled() and not window.export_action.isEnabled()
    assert "Exporting" in window.statusBar().currentMessage()
    assert window.exports.export_to(tmp_path / "again", ExportFormat.WAV16) is None  # one at a time
    qtbot.wait(50)  # the event loop runs while the stems are written
    with qtbot.waitSignal(window.exports.finished, timeout=10_000) as done:
        release.set()
    assert threads and threads[0] is not threading.main_thread()
    assert sorted(p.name for p in done.args[0]) == STEMS
    assert (
        window.export_button.isEnabled()
        and "Exported 2 stems" in window.statusBar().currentMessage()
    )

    def failing_export(*args, **kwargs):
        raise AudioError("cannot write 'x' (the disk is full), so nothing was written")

    monkeypatch.setattr(stem_list, "export_stems", failing_export)
    shown: list[str] = []
    monkeypatch.setattr(
        stem_export, "show_error", lambda parent, exc, title, **kw: shown.append(str(exc))
    )
    with qtbot.waitSignal(window.exports.finished, timeout=10_000) as done:
        assert window.exports.export_to(tmp_path / "full", ExportFormat.WAV16) is not None
    assert done.args == [None] and "disk is full" in shown[0]
    assert window.export_button.isEnabled()


def test_the_exported_message_goes_when_its_stems_are_replaced(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Exported N stems to FOLDER" stays while those stems are listed, and goes when a new run
    replaces them; an export that ends after they were replaced says so only for a while."""
    from tagbox_gui.gui.widgets import stem_list

    window = separated
    window.confirm_quit = lambda: True
    status = window.statusBar()
    assert export_and_wait(qtbot, window, tmp_path / "one", ExportFormat.WAV16) is not None
    assert status.currentMessage() == f"Exported 2 stems to {tmp_path / 'one'}"
    run_to_end(qtbot, window)  # new stems: the exported ones are gone from the list
    assert "Exported" not in status.currentMessage()

    release, real = threading.Event(), stem_list.export_stems

    def slow_export(*args, **kwargs):
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(stem_list, "export_stems", slow_export)
    said: list[tuple[str, int]] = []
    show = status.showMessage
    status.showMessage = lambda text, ms=0: (said.append((text, ms)), show(text, ms))
    try:  # (not monkeypatch: it would undo this once the status bar is deleted)
        pending = window.exports.export_to(tmp_path / "two", ExportFormat.WAV16)
        assert pending is not None
        window.stems.clear_stems()  # replaced while they are written
        with qtbot.waitSignal(window.exports.finished, timeout=10_000):
            release.set()
    finally:
        del status.showMessage
    text, ms = said[-1]
    assert text == f"Exported 2 stems to {tmp_path / 'two'}" and ms > 0


def test_closing_the_window_waits_for_an_export_under_way(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = separated
    from tagbox_gui.gui.widgets import stem_list

    real = stem_list.export_stems

    def slow_export(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(stem_list, "export_stems", slow_export)
    pending = window.exports.export_to(tmp_path / "out", ExportFormat.WAV16)
    assert pending is not None and not pending.done()
    window.close()
    assert pending.done() and sorted(p.name for p in (tmp_path / "out").iterdir()) == STEMS


def test_the_export_dialog_saves_only_into_a_folder_it_names(qtbot, tmp_path: Path) -> None:
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    dialog = ExportDialog(lambda template: ["a"], str(tmp_path), ExportFormat.WAV32)
    qtbot.addWidget(dialog)
    assert dialog.save.isEnabled()
    for text in ("", "  ", "stems"):  # would be written where the app was started from
        dialog.folder.setText(text)
        assert not dialog.save.isEnabled(), text
        assert "folder" in dialog.files.text()
    dialog.folder.setText("~/stems")
    assert dialog.save.isEnabled() and dialog.chosen()[0] == Path.home() / "stems"


def test_the_export_dialog_warns_that_a_pcm_format_clips_a_song_past_full_scale(
    qtbot, tmp_path: Path
) -> None:
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    loud = ExportDialog(lambda template: ["a"], str(tmp_path), ExportFormat.WAV32, peak=2.0)
    qtbot.addWidget(loud)
    assert "clips" not in loud.files.text()  # 32-bit float keeps every sample
    for fmt in (ExportFormat.WAV16, ExportFormat.WAV24, ExportFormat.FLAC24):
        loud.format.setCurrentIndex(loud.format.findData(fmt.value))
        assert "peaks 6.0 dB over full scale" in loud.files.text() and loud.save.isEnabled()
    within = ExportDialog(lambda template: ["a"], str(tmp_path), ExportFormat.WAV16, peak=1.0)
    qtbot.addWidget(within)
    assert "clips" not in within.files.text()


def test_the_export_dialog_says_when_wav_stems_will_not_fit_on_the_folders_disk(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the folder, while folder and format are chosen, as Save would refuse them
    (``check_space``'s figures): Save is not disabled for it, and FLAC is not guessed at."""
    import shutil

    from tagbox_gui.core.audio import files
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    usage = shutil.disk_usage(tmp_path)
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    big.mkdir()
    free = {small: 300_000_000, big: 10**12}
    monkeypatch.setattr(
        files.shutil, "disk_usage", lambda place: usage._replace(free=free[Path(place)])
    )
    names = lambda template: ["a", "b", "c"]  # noqa: E731
    dialog = ExportDialog(names, str(small), ExportFormat.WAV32, frames=50_000_000, channels=2)
    qtbot.addWidget(dialog)

    def told() -> str:  # once the check put off until typing pauses is done
        qtbot.waitUntil(lambda: not dialog._space_check.isActive(), timeout=2000)
        return dialog.space.text()

    assert dialog.space.text() == "These stems take 1.2 GB; the disk has 300 MB free."
    assert dialog.save.isEnabled()
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.WAV16.value))
    assert told() == "These stems take 600 MB; the disk has 300 MB free."
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.FLAC16.value))
    assert told() == "" and dialog.save.isEnabled()
    dialog.format.setCurrentIndex(dialog.format.findData(ExportFormat.WAV32.value))
    dialog.folder.setText(str(big))
    assert told() == ""
    dialog.folder.setText(str(small / "new"))  # not there yet: the disk it will be on
    assert "300 MB free" in told()


def test_export_all_gives_the_dialog_the_songs_length(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from tagbox_gui.core.audio import files
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda place: usage._replace(free=5_000_000))
    said: list[str] = []

    def exec_(dialog: ExportDialog) -> int:
        said.append(dialog.space.text())
        return ExportDialog.DialogCode.Rejected

    monkeypatch.setattr(ExportDialog, "exec", exec_)
    separated.exports.ask()  # 2 stems of 30 s stereo at 48 kHz in WAV 32-bit float
    assert said == ["These stems take 23.0 MB; the disk has 5.0 MB free."]


def test_export_all_gives_the_dialog_the_songs_peak(qtbot, model_dir, settings, tmp_path) -> None:
    import numpy as np
    import soundfile as sf

    from tagbox_gui.gui.widgets.export_dialog import ExportDialog
    from tests.gui.window_helpers import make_window

    song = tmp_path / "loud.wav"
    t = np.arange(48_000 * 3) / 48_000
    sf.write(song, 1.5 * np.sin(2 * np.pi * 220 * t), 48_000, subtype="FLOAT")  # past 0 dBFS
    window = make_window(qtbot, model_dir, settings)
    open_song(qtbot, window, song)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    settings.set_text("export/format", ExportFormat.FLAC24.value)
    shown: list[str] = []

    def exec_(dialog: ExportDialog) -> int:
        shown.append(dialog.files.text())
        return ExportDialog.DialogCode.Rejected

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExportDialog, "exec", exec_)
        window.exports.ask()
    assert shown and "peaks 3.5 dB over full scale" in shown[0]
    window.controller.shutdown(5000)


def test_opening_export_all_leaves_the_songs_samples_alone(
    qtbot, separated: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The song's peak was found when it opened, in the loader's worker: the dialog opens at
    once, not after a pass over every sample of the song on the window's thread."""
    import threading

    import numpy as np

    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    window = separated
    read: list[tuple[int, ...]] = []
    real_abs = np.abs

    def watched_abs(x, *args, **kwargs):
        if threading.current_thread() is threading.main_thread():
            read.append(np.shape(x))
        return real_abs(x, *args, **kwargs)

    monkeypatch.setattr(np, "abs", watched_abs)
    monkeypatch.setattr(ExportDialog, "exec", lambda dialog: ExportDialog.DialogCode.Rejected)
    window.exports.ask()
    window.exports.ask()
    assert window.song.data.shape not in read


def test_the_jukebox_licence_question_defaults_to_no(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer to the Jukebox licence question is remembered: a stray Enter must not
    accept its non-commercial terms for good (No is the default, as for replacing stems)."""
    from types import SimpleNamespace

    from PySide6.QtWidgets import QMainWindow

    from tagbox_gui.gui.stem_export import LICENCE_KEY, StemExport

    flags: dict[str, bool] = {}
    window = QMainWindow()
    qtbot.addWidget(window)
    window.stems = SimpleNamespace(backend_name="jukebox")
    window.settings = SimpleNamespace(flag=lambda key: flags.get(key, False),
                                      set_flag=flags.__setitem__)  # fmt: skip
    exports = StemExport(window, run_view=None)
    asked: list[tuple] = []

    def question(parent, title, text, buttons=None, default=None):
        asked.append((buttons, default))
        return default  # what Enter answers

    monkeypatch.setattr(QMessageBox, "question", question)
    assert not exports.licence_accepted()
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    assert asked == [(yes | no, no)] and flags == {LICENCE_KEY: False}


def test_each_export_dialog_goes_once_answered(qtbot, separated: MainWindow, monkeypatch) -> None:
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    answers = iter([ExportDialog.DialogCode.Rejected, ExportDialog.DialogCode.Rejected])
    monkeypatch.setattr(ExportDialog, "exec", lambda dialog: next(answers))
    separated.exports.ask()
    separated.exports.ask()
    qtbot.waitUntil(lambda: not separated.findChildren(ExportDialog), timeout=2000)


def test_export_all_opens_with_a_saved_format_it_does_not_know(
    separated: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a format saved by another version (or a hand-edited settings file) raised ValueError in
    # Export all stems…, which then never opened its dialog
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    window = separated
    window.settings.set_text("export/format", "mp3")
    shown: list[ExportFormat] = []

    def exec_(dialog: ExportDialog) -> int:
        shown.append(dialog.chosen()[1])
        return ExportDialog.DialogCode.Rejected

    monkeypatch.setattr(ExportDialog, "exec", exec_)
    window.exports.ask()
    assert shown == [ExportFormat.WAV32]  # the default, as for any other unreadable setting


def test_export_never_replaces_the_song_itself(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stems named "{stem}" exported beside a song named "piano.wav" would replace the song:
    the question lists it among old stems, so a Yes would lose the original."""
    song_path = write_song(tmp_path / "piano.wav", seconds=5.0, rate=48_000, channels=2)
    original = song_path.read_bytes()
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)
    assert export_and_wait(qtbot, window, tmp_path, ExportFormat.WAV32, "{stem}") is None
    assert song_path.read_bytes() == original and not (tmp_path / "no piano.wav").exists()
    assert asked == []  # not asked whether to replace it: refused, saying why
    said = [box.text() for box in message_boxes()]
    assert len(said) == 1 and "piano.wav" in said[0] and "the song" in said[0]
    assert not window.exports.busy and window.export_button.isEnabled()


def test_export_all_refuses_flac_for_a_song_of_more_channels_than_flac_holds(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    """A song of 10 channels: FLAC holds 8, so the dialog says so and Save waits for a WAV
    format, rather than closing on a Save that can only fail."""
    from tagbox_gui.gui.widgets.export_dialog import ExportDialog

    open_song(qtbot, window, write_song(tmp_path / "My Song.wav", seconds=5.0, channels=10))
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    window.settings.set_text("export/format", ExportFormat.FLAC24.value)
    shown: list[tuple[str, bool]] = []

    def exec_(dialog: ExportDialog) -> int:
        dialog.folder.setText(str(tmp_path / "out"))
        for fmt in (ExportFormat.FLAC24, ExportFormat.FLAC16, ExportFormat.WAV24):
            dialog.format.setCurrentIndex(dialog.format.findData(fmt.value))
            shown.append((dialog.files.text(), dialog.save.isEnabled()))
        return ExportDialog.DialogCode.Rejected

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ExportDialog, "exec", exec_)
        window.exports.ask()
    (said, save), (said16, save16), (listed, wav_save) = shown
    assert "FLAC holds at most 8 channels and the song has 10" in said and not save
    assert "FLAC holds at most 8" in said16 and not save16
    assert "My Song - piano.wav" in listed and wav_save


def test_export_refuses_up_front_when_the_stems_will_not_fit_on_the_disk(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the CLI does (``core.audio.files.check_space``): said before anything is written or
    asked, not found out by a write that fails part of the way."""
    import shutil

    from tagbox_gui.core.audio import files
    from tagbox_gui.gui import stem_export

    window = separated  # 30 s of stereo at 48 kHz: 11.5 MB a WAV 32-bit stem
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda place: usage._replace(free=5_000_000))
    monkeypatch.setattr(plain_text, "question", lambda *a, **k: pytest.fail("nothing to ask"))
    shown: list[str] = []
    monkeypatch.setattr(
        stem_export, "show_error", lambda parent, exc, title, **kw: shown.append(str(exc))
    )
    out = tmp_path / "out"
    _old_stems(out)  # even before asking to replace them
    assert window.exports.export_to(out, ExportFormat.WAV32) is None
    assert len(shown) == 1 and "the stems take 23.0 MB" in shown[0]
    assert "5.0 MB free; free some disk space or choose another folder" in shown[0]
    assert not window.exports.busy and window.export_button.isEnabled()
    assert export_and_wait(qtbot, window, tmp_path / "new", ExportFormat.WAV32) is None
    assert len(shown) == 2 and not (tmp_path / "new").exists()


def test_export_refuses_a_stem_name_that_is_a_folder_without_asking_to_replace_it(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder where a stem goes is no old stem: asking to replace it led, after Yes, to a
    failed write; it is refused at once, naming the folder and what to do."""
    from tagbox_gui.gui import stem_export

    window = separated
    out = tmp_path / "out"
    (out / STEMS[1]).mkdir(parents=True)
    monkeypatch.setattr(plain_text, "question", lambda *a, **k: pytest.fail("nothing to ask"))
    shown: list[str] = []
    monkeypatch.setattr(
        stem_export, "show_error", lambda parent, exc, title, **kw: shown.append(str(exc))
    )
    assert window.exports.export_to(out, ExportFormat.WAV32) is None
    assert shown == [
        f"'{out / STEMS[1]}' is a folder, so no stem can be written in its place; choose "
        "another folder or name template."
    ]
    assert [p.name for p in out.iterdir()] == [STEMS[1]] and not any((out / STEMS[1]).iterdir())
    assert not window.exports.busy and window.export_button.isEnabled()


def test_a_full_disk_while_exporting_says_to_free_space_or_choose_another_folder(
    qtbot, separated: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Export all stems… chooses its folder: another one is a way on (not so for a drag's)."""
    import errno

    from tagbox_gui.core.audio import files
    from tagbox_gui.gui import stem_export

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "open_sound", full)
    shown: list[str] = []
    monkeypatch.setattr(
        stem_export, "show_error", lambda parent, exc, title, **kw: shown.append(str(exc))
    )
    with qtbot.waitSignal(separated.exports.finished, timeout=10_000) as done:
        assert separated.exports.export_to(tmp_path / "out", ExportFormat.WAV32) is not None
    assert done.args == [None] and len(shown) == 1
    assert shown[0].endswith(
        "(the disk is full), so none of the stems was written; free some disk space or "
        "choose another folder."
    )
