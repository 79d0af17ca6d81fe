"""Songs open in a background worker: the window stays responsive, newer opens win."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from tagbox_gui.core.audio import song as song_module
from tagbox_gui.core.types import ANALYSIS_RATE
from tagbox_gui.gui import background
from tests.gui.fake_engine import write_song
from tests.gui.window_helpers import fake_clock, message_boxes, open_song

CTRL = Qt.KeyboardModifier.ControlModifier


def slow_loads(monkeypatch, gates: dict[str, threading.Event]) -> list[str]:
    """Make the song loader wait on ``gates[file name]`` (when given) before it loads."""
    import tagbox_gui.gui.song_loader as song_loader

    real = song_loader.prepare_song
    finished: list[str] = []

    def prepare(path, *args):
        gate = gates.get(Path(path).name)
        if gate is not None:
            assert gate.wait(10)
        try:
            return real(path, *args)
        finally:
            finished.append(Path(path).name)

    monkeypatch.setattr(song_loader, "prepare_song", prepare)
    return finished


def test_songs_load_in_the_background(qtbot, window, song_path, monkeypatch) -> None:
    gate = threading.Event()
    slow_loads(monkeypatch, {song_path.name: gate})
    resampled_in: list[threading.Thread] = []
    real_resample = song_module._mono_resampled

    def resample(song, *args):
        resampled_in.append(threading.current_thread())
        return real_resample(song, *args)

    monkeypatch.setattr(song_module, "_mono_resampled", resample)
    window.open_song(song_path)
    # It returned while the worker still waits at the gate (a blocking open would have waited
    # for the gate and come back with the song): no stopwatch needed, whatever the load.
    assert window.song is None and window.loader.busy
    assert window.loading_bar.isVisible() and window.cursor().shape() == Qt.CursorShape.BusyCursor
    assert "Opening My Song.wav" in window.statusBar().currentMessage()
    assert not window.run_panel.run.isEnabled()
    assert "Wait until the song has opened" in window.run_panel.run.toolTip()
    ticks: list[int] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    # The event loop keeps running while the song loads: the timer ticks with the worker held.
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=10_000)
    timer.stop()
    assert window.song is None and window.loader.busy
    with qtbot.waitSignal(window.song_loaded, timeout=5000) as blocker:
        gate.set()
    assert blocker.args[0].name == "My Song" and window.song is blocker.args[0]
    assert not window.loader.busy and not window.loading_bar.isVisible()
    assert window.cursor().shape() == Qt.CursorShape.ArrowCursor
    assert len(song_module.analysis_signal(window.song)) == 30 * ANALYSIS_RATE
    # The analysis signal was made once, by the worker: a run will find it made.
    assert len(resampled_in) == 1 and resampled_in[0] is not threading.main_thread()
    window.tag_panel.apply_preset("Piano")
    assert window.run_panel.run.isEnabled()


def test_a_second_open_supersedes_one_still_loading(qtbot, window, tmp_path, monkeypatch):
    first = write_song(tmp_path / "First.wav", seconds=4.0, rate=44_100)
    second = write_song(tmp_path / "Second.wav", seconds=5.0, rate=44_100)
    gate = threading.Event()
    finished = slow_loads(monkeypatch, {first.name: gate})
    loaded: list = []
    window.song_loaded.connect(loaded.append)
    window.open_song(first)
    with qtbot.waitSignal(window.song_loaded, timeout=5000):
        window.open_song(second)
    assert window.loader.busy is False and window.song.name == "Second"
    gate.set()  # the first load ends now; its result must be dropped
    qtbot.waitUntil(lambda: first.name in finished, timeout=5000)
    qtbot.wait(100)  # let its queued result arrive
    assert [song.name for song in loaded] == ["Second"] and window.song.name == "Second"
    assert window.song_panel.title.text() == "Second"


def test_a_stale_failure_is_dropped_too(qtbot, window, song_path, tmp_path, monkeypatch):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    gate = threading.Event()
    finished = slow_loads(monkeypatch, {bad.name: gate})
    window.open_song(bad)
    open_song(qtbot, window, song_path)
    gate.set()
    qtbot.waitUntil(lambda: bad.name in finished, timeout=5000)
    qtbot.wait(100)
    assert not message_boxes() and window.song.name == "My Song"


def test_a_superseded_or_cancelled_load_stops_before_its_slow_steps(
    qtbot, window, tmp_path, monkeypatch
):
    """A load that nobody waits for any more (another song opened, the window closed) is not
    carried on to its end: a 2-hour song's analysis signal and loudest stretch take a minute
    and gigabytes more, and the app could not quit before they were done."""
    import tagbox_gui.gui.song_loader as song_loader

    first = write_song(tmp_path / "First.wav", seconds=4.0, rate=44_100)
    second = write_song(tmp_path / "Second.wav", seconds=5.0, rate=44_100)
    third = write_song(tmp_path / "Third.wav", seconds=3.0, rate=44_100)
    gates = {first.name: threading.Event(), third.name: threading.Event()}
    decoded: list[str] = []
    analysed: list[str] = []
    real_load, real_analysis = song_loader.load_song, song_loader.analysis_signal

    def load(path, *args):
        gate = gates.get(Path(path).name)
        if gate is not None:
            assert gate.wait(10)
        try:
            return real_load(path, *args)
        finally:
            decoded.append(Path(path).name)

    def analyse(song, *args):
        analysed.append(song.path.name)
        return real_analysis(song, *args)

    monkeypatch.setattr(song_loader, "load_song", load)
    monkeypatch.setattr(song_loader, "analysis_signal", analyse)
    window.open_song(first)
    open_song(qtbot, window, second)
    gates[first.name].set()
    window.open_song(third)
    window.loader.cancel()  # as closing the window does
    gates[third.name].set()
    qtbot.waitUntil(lambda: {first.name, third.name} <= set(decoded), timeout=5000)
    qtbot.wait(100)
    assert analysed == [second.name] and window.song.name == "Second"


def test_open_starts_in_the_last_songs_folder_or_the_nearest_one_still_there(
    qtbot, window, tmp_path, monkeypatch
):
    """File ▸ Open… starts in the folder of the last song opened; where that folder is gone
    (renamed, a drive unplugged), in the nearest folder above it that is still there, not
    wherever the file dialog falls back to (the folder the app was started from); the home
    folder where only the root is left, or not even that."""
    from PySide6.QtWidgets import QFileDialog

    starts: list[str] = []
    monkeypatch.setattr(
        QFileDialog,
        "getOpenFileName",
        lambda parent, title, start, kinds: (starts.append(start), ("", ""))[1],
    )
    album = tmp_path / "Artist" / "Album"
    album.mkdir(parents=True)
    open_song(qtbot, window, write_song(album / "Song.wav", seconds=2.0, rate=44_100))
    window.choose_song()
    (album / "Song.wav").unlink()
    album.rmdir()
    window.choose_song()
    window.settings.set_text("paths/open", "/no/such/folder/anywhere")
    window.choose_song()
    is_folder = os.path.isdir  # as on Windows, where a drive unplugged takes its root with it
    monkeypatch.setattr(os.path, "isdir", lambda p: Path(p).anchor != "/" and is_folder(p))
    window.choose_song()
    assert starts == [str(album), str(tmp_path / "Artist"), str(Path.home()), str(Path.home())]


def test_a_song_still_opening_can_be_cancelled_and_the_song_shown_stays(
    qtbot, window, song_path, tmp_path, monkeypatch
):
    """A long song takes a minute to open: the status bar's Cancel stops it, and the song
    shown before stays, as it was."""
    long = write_song(tmp_path / "Long.wav", seconds=4.0, rate=44_100)
    gate = threading.Event()
    finished = slow_loads(monkeypatch, {long.name: gate})
    open_song(qtbot, window, song_path)
    shown = window.song
    assert not window.cancel_loading.isVisible()
    window.open_song(long)
    assert window.cancel_loading.isVisible() and window.cancel_loading.isEnabled()
    qtbot.mouseClick(window.cancel_loading, Qt.MouseButton.LeftButton)
    assert not window.loader.busy and not window.loading_bar.isVisible()
    assert not window.cancel_loading.isVisible()
    assert window.cursor().shape() == Qt.CursorShape.ArrowCursor
    assert window.statusBar().currentMessage() == "Stopped opening Long.wav."
    gate.set()
    qtbot.waitUntil(lambda: long.name in finished, timeout=5000)
    qtbot.wait(100)  # its result, had it come, would have arrived
    assert window.song is shown and window.song_panel.title.text() == "My Song"
    assert not message_boxes()


def test_a_song_arriving_leaves_the_focus_where_the_musician_moved_it(
    qtbot, window, song_path, monkeypatch
):
    """While a song opens the musician goes on working: the tag search (Ctrl+F) or the
    example's name typed in keep the focus and their text when the song arrives, and Space
    types a space there rather than playing."""
    gate = threading.Event()
    slow_loads(monkeypatch, {song_path.name: gate})
    search, name = window.tag_panel.search, window.picker.example_name
    player = window.audition.transport.player
    find = lambda: qtbot.keyClick(window, Qt.Key.Key_F, CTRL)  # noqa: E731
    click = lambda: name.setFocus(Qt.FocusReason.MouseFocusReason)  # noqa: E731
    for field, focus in ((search, find), (name, click)):
        gate.clear()
        window.centralWidget().setFocus(Qt.FocusReason.MouseFocusReason)
        window.open_song(song_path)
        assert window.loader.busy
        focus()
        assert QApplication.focusWidget() is field
        qtbot.keyClicks(field, "pia")
        with qtbot.waitSignal(window.song_loaded, timeout=5000):
            gate.set()
        assert QApplication.focusWidget() is field and field.text() == "pia"
        qtbot.keyClick(field, Qt.Key.Key_Space)
        assert field.text() == "pia " and not player.playing
    player.close()


def test_a_song_opened_from_a_text_box_takes_the_focus_so_space_plays(
    qtbot, window, song_path, monkeypatch
):
    """Opened with File ▸ Open… while the focus was in a text box and left there (the dialog
    had it meanwhile), the song view takes the focus once the song is shown: Space plays."""
    from PySide6.QtWidgets import QDialog, QFileDialog, QLineEdit, QVBoxLayout

    def choose(parent, *args):  # a modal dialog, as the file dialog, with the focus in it
        dialog = QDialog(parent)
        QVBoxLayout(dialog).addWidget(QLineEdit())
        QTimer.singleShot(100, dialog.accept)
        dialog.exec()
        return str(song_path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    name = window.picker.example_name
    name.setFocus(Qt.FocusReason.MouseFocusReason)
    qtbot.keyClicks(name, "pia")
    with qtbot.waitSignal(window.song_loaded, timeout=5000):
        window.choose_song()
    window.activateWindow()  # as the desktop does once the dialog has gone
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    assert QApplication.focusWidget() is window.centralWidget()
    player = window.audition.transport.player
    qtbot.keyClick(window.centralWidget(), Qt.Key.Key_Space)
    assert player.playing and name.text() == "pia"
    player.close()


def test_enter_in_the_example_name_says_in_the_status_bar_why_no_example_is_added(
    qtbot, window
) -> None:
    """No song open: Enter in the example's name field adds none, and the status bar says why."""
    qtbot.keyClicks(window.picker.example_name, "organ")
    qtbot.keyClick(window.picker.example_name, Qt.Key.Key_Return)
    assert window.picker.picks() == []
    assert window.statusBar().currentMessage() == (
        "Open a song and choose the learned separator first."
    )


def test_the_bar_shows_how_much_of_a_long_song_is_opened(qtbot, window, tmp_path, monkeypatch):
    """A long song takes up to a minute to open: the status bar's bar shows the percent done,
    rising block by block, told at most ten times a second; each song opened starts busy until
    its first block says how far it is."""
    long = write_song(tmp_path / "Long.wav", seconds=4.0, rate=44_100)
    monkeypatch.setattr(song_module, "_READ_FRAMES", 11_025)  # 16 blocks to decode, 16 to analyse
    real_stop = song_module.stop_if_cancelled
    clock = fake_clock(monkeypatch, background)  # the throttle's: each block takes 0.03 s

    def slow_block(cancel):  # looked at before each block
        clock[0] += 0.03
        real_stop(cancel)

    monkeypatch.setattr(song_module, "stop_if_cancelled", slow_block)
    bar = window.loading_bar
    shown: list[tuple[int, int]] = []
    bar.valueChanged.connect(lambda value: shown.append((bar.maximum(), value)))
    started = clock[0]
    with qtbot.waitSignal(window.song_loaded, timeout=10_000):
        window.open_song(long)
        assert bar.isVisible() and bar.maximum() == 0  # busy until the first block is decoded
    took = clock[0] - started
    told = [value for maximum, value in shown if value >= 0]
    assert {maximum for maximum, value in shown if value >= 0} == {100}
    assert len(told) >= 4 and told == sorted(told) and len(set(told)) == len(told)
    assert 0 < told[0] < 30 and told[-1] > 50, told  # the analysis signal counts too
    assert len(told) <= took / 0.1 + 1 < 32  # throttled: fewer than the 32 blocks
    window.open_song(long)
    assert bar.isVisible() and bar.maximum() == 0  # the last song's percent is not shown
    qtbot.waitUntil(lambda: not window.loader.busy, timeout=10_000)


def test_escape_stops_opening_a_song_and_the_song_shown_stays(
    qtbot, window, song_path, tmp_path, monkeypatch
):
    """Escape, as the status bar's Cancel, stops opening a song while no run goes on (during
    one it asks to stop the run); the song shown before stays."""
    long = write_song(tmp_path / "Long.wav", seconds=4.0, rate=44_100)
    gate = threading.Event()
    finished = slow_loads(monkeypatch, {long.name: gate})
    open_song(qtbot, window, song_path)
    shown = window.song
    window.open_song(long)
    assert window.loader.busy
    view = window.song_panel
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not window.loader.busy and not window.loading_bar.isVisible()
    assert window.statusBar().currentMessage() == "Stopped opening Long.wav."
    gate.set()
    qtbot.waitUntil(lambda: long.name in finished, timeout=5000)
    qtbot.wait(100)  # its result, had it come, would have arrived
    assert window.song is shown and window.song_panel.title.text() == "My Song"
    assert not message_boxes()


def test_escape_during_a_run_asks_to_stop_it_while_a_song_opens(
    qtbot, monkeypatch, model_dir, settings, song_path, tmp_path
):
    """A song opened during a run replaces the run once shown; until then Escape still asks
    to stop the run (Run ▸ Stop's key) and does not stop the opening: the status bar's Cancel
    takes Escape only while no run goes on, or Qt would find the key ambiguous and do
    neither."""
    from PySide6.QtWidgets import QMessageBox

    from tagbox_gui.gui.controller import RunState
    from tests.gui.window_helpers import answer_questions, piano_run_window

    window = piano_run_window(qtbot, model_dir, settings, song_path, 500, delay=0.05)
    window.run_view.start()
    nxt = write_song(tmp_path / "Next.wav", seconds=2.0, rate=44_100)
    gate = threading.Event()
    slow_loads(monkeypatch, {nxt.name: gate})
    monkeypatch.setattr(window, "confirm_discard", lambda question: True)
    window.open_song(nxt)
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.No)
    qtbot.keyClick(window.run_panel, Qt.Key.Key_Escape)
    assert len(asked) == 1 and "Stop the run?" in asked[0]
    assert window.loader.busy and window.controller.state is RunState.RUNNING
    gate.set()
    with qtbot.waitSignal(window.song_loaded, timeout=5000):
        pass
    assert window.song.name == "Next"
    window.controller.shutdown(5000)
