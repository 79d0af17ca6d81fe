"""The main window end to end with a fake engine: a song, a run, the live views and audition."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from tagbox_gui.core.audio.song import analysis_span
from tagbox_gui.core.separation.snapshots import Snapshot
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import ANALYSIS_RATE
from tagbox_gui.gui.app import build_window, parse_args
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.playback import SWITCH_FADE_S
from tagbox_gui.gui.widgets.live_panel import FRAME_MS
from tests.gui.fake_engine import (
    fake_player,
    fake_preview,
    fake_run,
    held_runs,
    held_step,
    write_song,
)
from tests.gui.window_helpers import (
    answer_questions,
    make_window,
    message_boxes,
    next_frame,
    open_song,
    piano_run_window,
    run_to_end,
)


# ----- 1. song -------------------------------------------------------------------------
def test_open_shows_the_song_and_the_loudest_region(qtbot, window: MainWindow, song_path) -> None:
    open_song(qtbot, window, song_path)
    assert window.song_panel.title.text() == "My Song"
    assert window.song_panel.details.text() == "0:30 · 48 kHz · stereo · WAV PCM_24"
    region = window.song_panel.region()
    assert region.start == pytest.approx(8.0, abs=0.1) and region.duration == pytest.approx(20.0)
    assert window.song_panel.waveform.region() == region
    assert "My Song" in window.windowTitle()
    assert window.settings.recent_files()[0] == str(song_path.resolve())


def test_region_can_be_typed_and_whole_song_chosen(qtbot, window: MainWindow, song_path) -> None:
    open_song(qtbot, window, song_path)
    window.song_panel.start.setValue(3.0)
    window.song_panel.end.setValue(7.5)
    window.song_panel.end.editingFinished.emit()
    assert (window.song_panel.region().start, window.song_panel.region().end) == (3.0, 7.5)
    assert window.song_panel.waveform.region().end == pytest.approx(7.5)
    window.song_panel.whole_song.setChecked(True)
    assert window.song_panel.region() is None


def test_a_song_too_short_to_separate_says_so_before_the_run(
    qtbot, window: MainWindow, tmp_path
) -> None:
    # a 0.3 s song opens, but no run can separate it: Run was on, and the run then failed
    # saying "the region is shorter than half a second; choose a longer one", which it cannot be
    open_song(qtbot, window, write_song(tmp_path / "Blip.wav", seconds=0.3))
    window.tag_panel.apply_preset("Piano")
    assert not window.run_panel.run.isEnabled()
    assert "shorter than half a second" in window.run_panel.run.toolTip()
    assert window.run_view.start() is None and window.controller.state is RunState.IDLE
    assert "longer song" in message_boxes()[-1].text()


def test_unreadable_file_is_a_dialog_not_a_crash(qtbot, window: MainWindow, tmp_path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    window.open_song(bad)  # returns at once; the dialog comes when the worker has failed
    qtbot.waitUntil(lambda: bool(message_boxes()), timeout=5000)
    assert not window.loader.busy and not window.loading_bar.isVisible()
    text = message_boxes()[-1].text()
    assert "broken.wav" in text and text.count(".") >= 1 and "\n" not in text
    assert window.song is None
    for box in message_boxes():
        box.close()


def test_drop_a_file_on_the_window(qtbot, window: MainWindow, song_path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(song_path))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.song_loaded, timeout=5000):
        window.dropEvent(event)
    assert window.song is not None and window.song.name == "My Song"
    assert window.statusBar().currentMessage() == "Opened My Song.wav"


def test_several_files_dropped_open_the_first_and_say_so(
    qtbot, window: MainWindow, song_path, tmp_path
) -> None:
    mime = QMimeData()
    others = [write_song(tmp_path / f"Other {k}.wav", seconds=2.0) for k in range(2)]
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in (song_path, *others)])
    event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    with qtbot.waitSignal(window.song_loaded, timeout=5000):
        window.dropEvent(event)
    assert window.song.name == "My Song"
    message = window.statusBar().currentMessage()
    assert message.startswith("Opened My Song.wav") and "2 more dropped files" in message


def test_recent_files_and_command_line(qtbot, window, song_path, settings, model_dir) -> None:
    open_song(qtbot, window, song_path)
    window._fill_recent_menu()
    action = window.recent_menu.actions()[0]
    assert action.text() == "&1 My Song.wav"
    other = make_window(qtbot, model_dir, settings)
    other.recent_menu.aboutToShow.emit()
    with qtbot.waitSignal(other.song_loaded, timeout=5000):
        other.recent_menu.actions()[0].trigger()
    assert other.song is not None and other.song.path == song_path.resolve()
    args, _ = parse_args([str(song_path), "--model-dir", str(model_dir)])
    third = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(third)
    qtbot.waitUntil(lambda: third.song is not None, timeout=3000)
    assert third.song.name == "My Song"


def test_a_recent_song_deleted_since_goes_off_the_list_one_on_a_drive_away_stays(
    qtbot, window, tmp_path, settings
) -> None:
    """A recent song no longer in its folder (moved, renamed, deleted) is taken off Open recent
    when chosen, where every click said again that it does not exist. One whose folder is gone
    too (a drive unplugged, a share away) stays: it may come back, and choosing it says so."""
    gone = write_song(tmp_path / "Gone.wav", seconds=1.0)
    away = tmp_path / "Drive" / "Away.wav"
    settings.add_recent(away)
    settings.add_recent(gone)
    gone.unlink()

    def choose(entry: int) -> str:
        window.recent_menu.aboutToShow.emit()
        window.recent_menu.actions()[entry].trigger()
        qtbot.waitUntil(lambda: bool(message_boxes()), timeout=5000)
        box = message_boxes()[-1]
        text = box.text()
        box.close()
        return text

    text = choose(0)
    assert "Gone.wav" in text and "taken off Open recent" in text and "File ▸ Open" in text
    assert settings.recent_files() == [str(away.resolve())]
    window.recent_menu.aboutToShow.emit()
    assert window.recent_menu.actions()[0].text() == "&1 Away.wav"
    text = choose(0)  # says why it cannot be opened, and that it stays
    assert "Away.wav" in text and f"{away.resolve().parent} is not there either" in text
    assert "plugged in" in text and "stays on Open recent" in text
    assert "does not exist" not in text and "choose" not in text
    assert settings.recent_files() == [str(away.resolve())] and window.song is None


# ----- 4. run --------------------------------------------------------------------------
def test_run_fills_the_live_views_and_the_stems(qtbot, window: MainWindow, song_path) -> None:
    assert not window.export_button.isEnabled() and not window.export_action.isEnabled()
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    result = run_to_end(qtbot, window, steps=12, preview_every=3)
    assert result.steps_done == 12 and not result.stopped
    assert window.live.loss.count == 12
    steps, totals = window.live.loss.curve_data("total")
    np.testing.assert_array_equal(steps, np.arange(1, 13))
    np.testing.assert_allclose(totals, 1.0 / np.arange(1, 13))
    assert window.live.meters.values() == {"piano": (1.0, 0.0)}
    assert window.live.mask.image is not None
    assert window.run_panel.labels["step"].text() == "12 / 12"
    assert "best step 12" in window.run_panel.status.text()
    assert window.run_view.session.snapshots.steps() == (3, 6, 9, 12)
    assert [window.stems.item(i).text() for i in range(2)] == [
        "My Song - piano",
        "My Song - no piano",
    ]
    assert window.export_button.isEnabled() and window.export_action.isEnabled()


def test_loss_plot_is_throttled(qtbot, window: MainWindow, song_path) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    frames = window.live.frames
    began = time.monotonic()
    run_to_end(qtbot, window, steps=400, preview_every=50)
    elapsed_ms = (time.monotonic() - began) * 1000
    # Redraws are paced by the ~30 Hz timer, not by the steps: at most one per FRAME_MS of the
    # run (plus the frames at its edges), and far fewer than the 400 steps on any machine that
    # delivers them faster than 30 per second.
    assert window.live.loss.count == 400
    drew = window.live.frames - frames
    assert drew <= elapsed_ms / FRAME_MS + 3
    assert drew < 400


def test_pause_and_stop_with_buttons_and_keys(
    qtbot, monkeypatch, model_dir, settings, song_path
) -> None:
    asked = answer_questions(monkeypatch, QMessageBox.StandardButton.Yes)  # Escape asks first
    reached, gate, loss = held_step(3)
    window = piano_run_window(qtbot, model_dir, settings, song_path, 5000, delay=0.01, loss=loss)
    qtbot.keyClick(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert window.controller.state is RunState.RUNNING
    qtbot.waitUntil(reached.is_set, timeout=3000)
    qtbot.mouseClick(window.run_panel.pause, Qt.MouseButton.LeftButton)  # step 3 in flight
    assert window.controller.state is RunState.PAUSED
    assert window.run_panel.pause.text() == "Resume"
    gate.set()
    held = 3
    qtbot.waitUntil(lambda: window.live.loss.count == held, timeout=3000)  # the step in flight
    qtbot.wait(300)
    assert window.live.loss.count == held  # and no later one while paused
    qtbot.mouseClick(window.run_panel.pause, Qt.MouseButton.LeftButton)
    assert window.controller.state is RunState.RUNNING
    qtbot.waitUntil(lambda: window.live.loss.count > held, timeout=3000)
    with qtbot.waitSignal(window.controller.run_finished, timeout=5000) as blocker:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert len(asked) == 1
    assert blocker.args[0].stopped and blocker.args[0].steps_done < 5000
    assert window.run_panel.run.isEnabled()
    qtbot.wait(600)  # the panel's clock ticks every 500 ms while a run goes on
    assert window.run_panel.labels["eta"].text() == "–"  # stopped: no time left to go
    window.controller.shutdown(5000)


def test_run_needs_a_song_and_a_tag(qtbot, window: MainWindow, song_path) -> None:
    assert not window.run_panel.run.isEnabled()
    assert "Open a song" in window.run_panel.run.toolTip()
    open_song(qtbot, window, song_path)
    assert "tag" in window.run_panel.run.toolTip()
    window.tag_panel.apply_preset("Piano")
    assert window.run_panel.run.isEnabled()


def test_failed_run_is_one_sentence_in_a_dialog(qtbot, model_dir, settings, song_path) -> None:
    window = make_window(qtbot, model_dir, settings, fail_at=3)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    with qtbot.waitSignal(window.controller.run_failed, timeout=5000):
        window.run_view.start()
    qtbot.waitUntil(lambda: bool(message_boxes()), timeout=2000)
    text = message_boxes()[-1].text()
    assert "out of memory" in text and "shorter region" in text and "CPU" in text
    assert window.controller.state is RunState.IDLE and window.run_panel.run.isEnabled()
    for box in message_boxes():
        box.close()


# ----- 5. audition ---------------------------------------------------------------------
def test_a_new_song_plays_from_its_start(qtbot, window: MainWindow, song_path, tmp_path) -> None:
    """Not from where the last song was: its position means nothing in the new one."""
    open_song(qtbot, window, song_path)
    transport = window.audition.transport
    transport.seek(12.0)
    assert window.song_panel.waveform.playhead() == pytest.approx(12.0)
    open_song(qtbot, window, write_song(tmp_path / "Other.wav", seconds=20.0, rate=44_100))
    assert transport.player.position == 0.0 and transport.slider.value() == 0
    assert window.song_panel.waveform.playhead() == 0.0
    assert window.song_panel.spectrogram._playhead.value() == 0.0
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert transport.player.playing
    np.testing.assert_allclose(
        transport.player.streams[-1].pull(4),
        sf.read(tmp_path / "Other.wav", frames=4)[0],
        atol=1e-6,
    )
    transport.player.close()


def test_ab_switch_keeps_the_position(qtbot, window: MainWindow, song_path) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window)
    transport = window.audition.transport
    player = transport.player
    assert player.sources == ("mix", "separated", "residual")
    qtbot.keyClick(window, Qt.Key.Key_Space)  # plays at once, on the key press
    assert player.playing
    stream = player.streams[-1]
    stream.pull(ANALYSIS_RATE)  # one second
    assert player.position == pytest.approx(1.0)
    qtbot.mouseClick(transport.source_buttons["separated"], Qt.MouseButton.LeftButton)
    assert player.source == "separated" and player.position == pytest.approx(1.0)
    fade = round(SWITCH_FADE_S * ANALYSIS_RATE)  # the frames a switch blends both over
    block = stream.pull(fade + 256)[fade:, 0]
    snapshot = window.run_view.shown
    sources = window.run_view.session.sources(snapshot)
    start = ANALYSIS_RATE + fade
    np.testing.assert_allclose(block, sources["separated"][start : start + 256])
    qtbot.mouseClick(transport.source_buttons["residual"], Qt.MouseButton.LeftButton)
    block = stream.pull(fade + 256)[fade:, 0]
    start += 256 + fade
    np.testing.assert_allclose(block, sources["residual"][start : start + 256], atol=1e-7)
    np.testing.assert_allclose(
        sources["separated"] + sources["residual"], sources["mix"], atol=1e-6
    )
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not player.playing


def test_quitting_during_a_run_stops_the_sound_before_waiting_for_the_run(
    qtbot, window: MainWindow, song_path
) -> None:
    """The window goes at once while a run ends (seconds, for a job's part): the song must not
    play on meanwhile with no window to pause it."""
    open_song(qtbot, window, song_path)
    gate = held_runs(window)  # the run waits in its thread until the gate opens
    window.tag_panel.apply_preset("Piano")
    assert window.run_view.start() is not None
    player = window.audition.transport.player
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert player.playing
    playing_while_the_run_ends: list[bool] = []
    shutdown = window.controller.shutdown

    def record_then_shutdown(*args: object) -> bool:
        playing_while_the_run_ends.append(player.playing)
        gate.set()
        return shutdown(*args)

    window.controller.shutdown = record_then_shutdown  # type: ignore[method-assign]
    window.confirm_quit = lambda: True
    window.close()
    assert playing_while_the_run_ends[:1] == [False]
    assert player.streams[-1].closed


def test_step_slider_goes_back_to_a_kept_step(qtbot, window: MainWindow, song_path) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=12, preview_every=3)
    audition = window.audition
    assert window.run_view.shown.step == 12  # follows the best step at the end
    audition.slider.setValue(0)
    assert not audition.following
    shown = window.run_view.shown
    assert shown.step == 3 and audition.label.text().startswith("step 3")
    played = audition.transport.player._buffers["separated"][:, 0]
    np.testing.assert_allclose(played, window.run_view.session.sources(shown)["separated"])
    with sf.SoundFile(window.stems.stem_files()[0]) as dragged:  # what a drag writes
        assert "step: 3 of 12" in dragged.comment.splitlines()
    audition.best.click()
    assert window.run_view.shown.step == 12
    # the budget of 256 MiB, said in the decimal units of every size the app shows
    assert re.match(r"History: 4 previews kept, \d+\.\d MB of 268 MB \(", audition.memory.text())


def test_the_step_slider_stays_on_the_step_shown_while_older_previews_are_thinned(
    qtbot, model_dir, settings, song_path
) -> None:
    """Gone back to a step during the run, the slider stays on it (or, once it is thinned out,
    on the kept step nearest to it) as later previews come and thin the history, so that it and
    its arrows go on from the step the musician hears, not from one that took its place."""
    window = make_window(qtbot, model_dir, settings, delay=0.02)
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(200)
    window.settings_panel.preview_every.setValue(3)
    config = window.run_view.parts()[0].config
    length = analysis_span(window.song, config.region)[1]
    one = Snapshot.of(3, fake_preview(3, length, config.fft_sizes)).nbytes
    window.run_view.budget = int(5.5 * one)  # five previews kept
    window.run_view.start()
    audition = window.audition
    qtbot.waitUntil(lambda: len(audition._steps) >= 5, timeout=5000)
    audition.slider.setValue(3)
    chosen = window.run_view.shown.step
    store = window.run_view.session.snapshots
    for newer in (chosen + 3, chosen + 30):
        qtbot.waitUntil(lambda n=newer: store.steps()[-1] >= n, timeout=5000)
        # the slider catches up at its next refresh (later on a loaded machine)
        qtbot.waitUntil(lambda: audition._steps[audition.slider.value()]
                        == store.get(chosen).step, timeout=5000)  # fmt: skip
        assert window.run_view.shown.step == chosen
    assert chosen not in store.steps()
    window.run_view.stop()
    window.controller.shutdown(5000)


def test_the_best_step_between_previews_has_its_place_on_the_step_slider(
    qtbot, model_dir, settings, song_path
) -> None:
    """A best step that made no preview (step 7 of a run previewing every 3rd) is shown at the
    end with the slider on a place of its own, between steps 6 and 9, not on the last step's;
    the slider goes away from it and back to it like any other step."""
    window = make_window(qtbot, model_dir, settings, loss=lambda step: 1.0 + abs(step - 7))
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    result = run_to_end(qtbot, window, steps=12, preview_every=3)
    audition = window.audition
    assert result.best_step == 7 and window.run_view.shown.step == 7
    assert window.run_view.session.snapshots.steps() == (3, 6, 9, 12)
    assert audition.slider.maximum() == 4 and audition.slider.value() == 2  # 3 6 [7] 9 12
    assert audition.label.text() == "step 7 (best) of 12"
    assert audition.memory.text().startswith("History: 4 previews kept")
    assert audition.best.toolTip() == "Go to step 7, the step with the lowest total loss"
    audition.slider.setValue(4)
    assert window.run_view.shown.step == 12
    audition.slider.setValue(2)
    assert window.run_view.shown.step == 7 and audition.label.text() == "step 7 (best) of 12"


def test_a_step_chosen_during_the_run_is_said_to_be_the_best_once_it_ends(
    qtbot, model_dir, settings, song_path
) -> None:
    """With "Follow latest" off, the step chosen stays shown at the end of the run; where it
    turns out to be the best step, its label says so then, as a best step gone to does."""
    window = make_window(qtbot, model_dir, settings, delay=0.02,
                         loss=lambda step: 1.0 + abs(step - 6))  # fmt: skip
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(24)
    window.settings_panel.preview_every.setValue(3)
    audition = window.audition
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000) as blocker:
        window.run_view.start()
        qtbot.waitUntil(lambda: 9 in audition._steps, timeout=5000)  # 6 is not the newest
        audition.slider.setValue(audition._steps.index(6))
        assert window.run_view.shown.step == 6 and audition.label.text() == "step 6 of 24"
    qtbot.wait(100)
    assert blocker.args[0].best_step == 6 and not audition.following
    assert window.run_view.shown.step == 6
    assert audition.label.text() == "step 6 (best) of 24"


def test_the_loss_plot_marks_the_step_heard_unless_it_follows_the_newest(
    qtbot, model_dir, settings, song_path
) -> None:
    """While the run's newest step is followed nothing is marked; a step gone back to on the
    slider is marked on the loss plot by a line at that step, which goes with the slider, to
    the best step with Best step, and to the best step heard at the end of a run followed."""
    window = make_window(qtbot, model_dir, settings, delay=0.02,
                         loss=lambda step: 1.0 + abs(step - 7))  # fmt: skip
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    audition, loss = window.audition, window.live.loss
    assert loss.marked_step is None
    window.settings_panel.steps.setValue(24)
    window.settings_panel.preview_every.setValue(3)
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        window.run_view.start()
        qtbot.waitUntil(lambda: 6 in audition._steps, timeout=5000)
        assert window.run_view.shown is not None and loss.marked_step is None  # following
        audition.slider.setValue(0)
        assert loss.marked_step == 3 and loss.mark.value() == 3 and loss.mark.isVisible()
        audition.slider.setValue(1)
        assert loss.marked_step == 6 and loss.mark.value() == 6
        audition.follow.setChecked(True)
        assert loss.marked_step is None and not loss.mark.isVisible()
        audition.follow.setChecked(False)  # the step heard stays, no longer the newest
        shown = window.run_view.shown.step
        assert loss.marked_step == shown and loss.mark.value() == shown
        audition.follow.setChecked(True)
    qtbot.wait(100)
    assert loss.marked_step == 7  # the best step, heard once the run has ended
    audition.slider.setValue(audition._steps.index(18))
    assert loss.marked_step == 18 and loss.mark.value() == 18
    audition.best.click()
    assert loss.marked_step == 7 and loss.mark.value() == 7
    window.run_view.start()  # a new run: the old one's step is marked no more
    assert loss.marked_step is None and not loss.mark.isVisible()
    window.run_view.stop()
    window.controller.shutdown(5000)


def test_a_run_stopped_early_says_after_which_step_beside_the_slider_and_in_its_stems(
    qtbot, model_dir, settings, song_path
) -> None:
    """A run of 24 steps stopped after a few: "step 5 of 24" would read as if it had run to
    24; the label beside the slider and the stems' metadata say after which step it stopped."""
    window = make_window(qtbot, model_dir, settings, delay=0.02)
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(24)
    window.settings_panel.preview_every.setValue(1)  # the stems of the last step are listed
    audition = window.audition
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000) as blocker:
        window.run_view.start()
        qtbot.waitUntil(lambda: window.run_view.session.latest >= 7, timeout=5000)
        window.run_view.stop()
    qtbot.wait(100)
    made = blocker.args[0].steps_done
    assert blocker.args[0].stopped and 7 <= made < 24 and window.run_view.shown.step == made
    assert audition.label.text() == f"step {made} (best) of 24, stopped after step {made}"
    with sf.SoundFile(window.stems.stem_files()[0]) as dragged:  # what a drag writes
        assert f"step: {made} of 24, stopped after step {made}" in dragged.comment.splitlines()
    audition.slider.setValue(0)
    assert audition.label.text() == f"step 1 of 24, stopped after step {made}"


def test_going_through_the_steps_after_a_run_makes_the_best_steps_mask_image_once(
    qtbot, window: MainWindow, song_path, monkeypatch
) -> None:
    """After the run, a step chosen on the slider is shown from its kept preview: the best
    step's mask image (a whole song's mask pooled, tens of ms for a long one) is made only
    for the best step itself, not at every step the slider passes, and once: shown at the
    run's end, it is not made again at each Best step."""
    from tagbox_gui.gui import session

    made: list[int] = []
    real = session.mask_image
    monkeypatch.setattr(session, "mask_image", lambda e: made.append(e.length) or real(e))
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=12, preview_every=3)  # the best: step 12, shown
    assert window.run_view.shown.step == 12 and len(made) == 1
    for place in (2, 1, 0, 1, 2):  # steps 9, 6, 3, 6, 9
        window.audition.slider.setValue(place)
    assert window.run_view.shown.step == 9 and len(made) == 1
    for _ in range(2):
        window.audition.best.click()
        assert window.run_view.shown.step == 12
        window.audition.slider.setValue(0)
    assert len(made) == 1


def test_the_tag_meters_are_of_the_step_shown(qtbot, window: MainWindow, song_path) -> None:
    """The meters say how sure the taggers are of the stems of the step shown (the mask, the
    audio and the Stems), not of the newest step, once the musician goes back to another."""
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=12, preview_every=3)  # the fake's tags: step / 12
    meters, audition = window.live.meters, window.audition
    (tag,) = meters.tags
    assert meters.meter_text(tag) == ("1.00", "0.00")  # step 12, the best
    audition.slider.setValue(0)  # back to step 3
    next_frame(qtbot, window)
    assert window.run_view.shown.step == 3
    assert meters.meter_text(tag) == ("0.25", "0.75")
    audition.best.click()
    next_frame(qtbot, window)
    assert meters.meter_text(tag) == ("1.00", "0.00")


def test_the_tag_meters_stay_on_a_step_gone_back_to_during_the_run(
    qtbot, model_dir, settings, song_path
) -> None:
    window = make_window(qtbot, model_dir, settings, delay=0.05)
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(40)  # the fake's tags: step / 40
    window.settings_panel.preview_every.setValue(3)
    window.run_view.start()
    qtbot.waitUntil(lambda: len(window.audition._steps) >= 2, timeout=5000)
    window.audition.slider.setValue(0)  # back to step 3, while the run goes on
    count = window.live.loss.count
    qtbot.waitUntil(lambda: window.live.loss.count >= count + 3, timeout=5000)
    next_frame(qtbot, window)
    (tag,) = window.live.meters.tags
    assert window.live.meters.values()[tag] == pytest.approx((3 / 40, 37 / 40))
    window.run_view.stop()
    window.controller.shutdown(5000)


def test_following_again_while_paused_puts_the_meters_on_the_newest_step(
    qtbot, model_dir, settings, song_path
) -> None:
    """While paused no step comes to move the meters on: ticking "Follow latest" again shows the
    newest step's tags at once, as the mask and the audio follow at once."""
    window = make_window(qtbot, model_dir, settings, delay=0.05)
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(40)  # the fake's tags: step / 40
    window.settings_panel.preview_every.setValue(3)
    window.run_view.start()
    session = window.run_view.session
    qtbot.waitUntil(lambda: len(window.audition._steps) >= 2, timeout=5000)
    window.audition.slider.setValue(0)  # back to step 3
    assert not window.audition.following
    while True:  # paused on a step with no preview: the newest preview is older
        window.run_view.toggle_pause()
        qtbot.wait(300)  # a step under way when paused still comes
        if session.latest % 3:
            break
        window.run_view.toggle_pause()
        qtbot.wait(60)
    window.audition.follow.setChecked(True)
    next_frame(qtbot, window)
    assert window.run_view.shown.step == session.latest // 3 * 3  # the newest preview
    (tag,) = window.live.meters.tags
    newest = session.latest / 40
    assert window.live.meters.values()[tag] == pytest.approx((newest, 1 - newest))
    window.run_view.stop()
    window.controller.shutdown(5000)


# ----- 8. no audio device --------------------------------------------------------------
def test_without_portaudio_playback_is_off_and_the_rest_works(
    qtbot, model_dir, settings, song_path, monkeypatch
) -> None:
    from tagbox_gui.gui import output_device

    monkeypatch.setattr(output_device, "_sd", None)
    window = MainWindow(ModelStore(model_dir), settings)
    qtbot.addWidget(window)
    window.run_view.engine_run = lambda c, s, st, ca: fake_run(
        c, length=analysis_span(s, c.region)[1]
    )
    window.show()
    transport = window.audition.transport
    assert not transport.play_button.isEnabled()
    assert transport.message_label.isVisible()
    assert "PortAudio" in transport.message_label.text()
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    result = run_to_end(qtbot, window)
    assert result.steps_done == 12 and window.stems.count() == 2
    window.controller.shutdown(5000)


def test_run_clock_excludes_pauses_and_estimates_the_rest(monkeypatch) -> None:
    import tagbox_gui.gui.widgets.run_panel as run_panel

    now = [100.0]
    monkeypatch.setattr(run_panel.time, "monotonic", lambda: now[0])
    clock = run_panel.RunClock()
    clock.reset(10)
    now[0] += 12.0  # loading the models, then the first step
    clock.tick(1, seconds=2.0)
    clock.tick(1)  # the panel refreshes between steps: no effect
    now[0] += 2.0
    clock.tick(2)
    clock.pause(True)
    now[0] += 60.0  # paused a minute
    clock.pause(False)
    now[0] += 2.0
    clock.tick(3)
    assert clock.elapsed == pytest.approx(16.0)
    assert clock.per_step == pytest.approx(2.0)
    assert clock.eta == pytest.approx(14.0)
    assert run_panel.clock(3725) == "1:02:05" and run_panel.clock(65) == "1:05"


def test_zoom_to_region_and_back(qtbot, window: MainWindow, song_path) -> None:
    open_song(qtbot, window, song_path)
    panel = window.song_panel
    panel.zoom.click()
    waveform_range = panel.waveform.plot_item.getViewBox().viewRange()[0]
    region = panel.region()
    assert waveform_range[0] == pytest.approx(region.start, abs=0.5)
    assert waveform_range[1] == pytest.approx(region.end, abs=0.5)
    spectrogram_range = panel.spectrogram.plot_item.getViewBox().viewRange()[0]
    assert spectrogram_range == pytest.approx(waveform_range)  # linked in time
    panel.show_all.click()
    assert panel.waveform.plot_item.getViewBox().viewRange()[0][1] == pytest.approx(30.0, abs=0.5)


def test_ctrl_o_opens_the_chosen_file(qtbot, window: MainWindow, song_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    offered = []

    def choose(parent, caption, folder, filters):
        offered.append(filters)
        return str(song_path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", choose)
    with qtbot.waitSignal(window.song_loaded, timeout=5000):
        qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert window.song is not None and window.song.name == "My Song"
    audio = offered[0].split(";;")[0]  # every format the app reads, Opus and Ogg among them
    assert all(f"*{ending}" in audio.split("(")[1] for ending in (".opus", ".oga", ".wave"))


def test_the_model_folder_chosen_in_models_is_the_next_sessions(
    qtbot, tmp_path, settings, monkeypatch
) -> None:
    """A folder chosen in the Models dialog is remembered and used at the next start, unless
    --model-dir or $TAGBOX_MODEL_DIR names one for that session (the dialog then keeps it)."""
    monkeypatch.delenv("TAGBOX_MODEL_DIR", raising=False)
    args, _ = parse_args([])
    first = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(first)
    dialog = first.models.show_dialog()
    assert dialog.folder_button.isEnabled()
    assert dialog.change_folder(str(tmp_path / "big disk"))
    second = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(second)
    assert second.store.root == tmp_path / "big disk" and not second.store.root_gone()
    assert second.models.show_dialog().folder_button.isEnabled()
    given, _ = parse_args(["--model-dir", str(tmp_path / "given")])
    third = build_window(given, settings=settings, player=fake_player())
    qtbot.addWidget(third)
    assert third.store.root == tmp_path / "given"
    assert not third.models.show_dialog().folder_button.isEnabled()
    monkeypatch.setenv("TAGBOX_MODEL_DIR", str(tmp_path / "from the environment"))
    fourth = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(fourth)
    assert fourth.store.root == tmp_path / "from the environment"
    assert "$TAGBOX_MODEL_DIR" in fourth.models.show_dialog().folder_button.toolTip()
    for window in (first, second, third, fourth):
        window.models.shutdown()


def test_going_back_to_the_default_model_folder_forgets_the_remembered_one(
    qtbot, tmp_path, settings, monkeypatch
) -> None:
    """Models ▸ Use the default folder, with the remembered folder gone: the settings forget
    it, so the next start uses the default folder too (and may make it)."""
    from tagbox_gui.gui.models_prompt import FOLDER_KEY

    monkeypatch.delenv("TAGBOX_MODEL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    settings.set_text(FOLDER_KEY, str(tmp_path / "Disk" / "models"))
    args, _ = parse_args([])
    window = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(window)
    assert window.models.show_dialog().use_default_folder()
    assert settings.store.value(FOLDER_KEY) is None
    again = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(again)
    assert again.store.root == tmp_path / "cache" / "tagbox-gui" / "models"
    assert not again.store.root_gone()
    for each in (window, again):
        each.models.shutdown()


def test_a_remembered_model_folder_that_is_gone_is_said_not_made_again(
    qtbot, tmp_path, settings, monkeypatch
) -> None:
    """The model folder remembered from Models ▸ Change folder… on a drive not plugged in now:
    the first-launch message and the Models window say it is not there and what to do, not that
    every model is missing, and a download does not make it again where the drive was mounted.
    A folder that --model-dir names is still made (it was chosen for this session)."""
    from tagbox_gui.gui.models_prompt import FOLDER_KEY

    monkeypatch.delenv("TAGBOX_MODEL_DIR", raising=False)
    gone = tmp_path / "Disk" / "models"
    settings.set_text(FOLDER_KEY, str(gone))
    args, _ = parse_args([])
    window = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(window)
    assert window.store.root == gone and window.store.root_gone()
    box = window.models.first_launch_check(needs_tagger=True)
    assert box is not None and f"The model folder {gone} is not there" in box.text()
    assert "plug it in" in box.text() and "none is installed" not in box.text()
    window.models.first_launch_check()
    assert f"{gone} is not there" in window.statusBar().currentMessage()
    dialog = window.models.show_dialog()
    assert f"{gone} is not there" in dialog.message.text()
    assert "Change folder…" in dialog.message.text()
    given, _ = parse_args(["--model-dir", str(gone)])
    chosen = build_window(given, settings=settings, player=fake_player())
    qtbot.addWidget(chosen)
    assert not chosen.store.root_gone()
    for each in (window, chosen):
        each.models.shutdown()


@pytest.mark.skipif(os.name != "posix", reason="symbolic links as POSIX has them")
@pytest.mark.parametrize("given_by", ["--model-dir", "$TAGBOX_MODEL_DIR"])
@pytest.mark.parametrize("where", ["itself", "above"])
def test_a_model_folder_given_as_a_link_to_a_drive_not_plugged_in_is_said_to_be_gone(
    qtbot, tmp_path, settings, monkeypatch, given_by: str, where: str
) -> None:
    """--model-dir or $TAGBOX_MODEL_DIR a link (or under a link) to a drive not plugged in: the
    first-launch message and the Models window say the folder is not there, the link and where
    it leads, and to plug it in or start again with another folder, as for a remembered folder
    that is gone, not that no tagger is installed and a download would fetch one; a run is
    told the same, and nothing is made where the link leads."""
    from tagbox_gui.core.store.failures import FolderUnusable

    monkeypatch.delenv("TAGBOX_MODEL_DIR", raising=False)
    link, usb = tmp_path / "models", tmp_path / "usb" / "models"
    link.symlink_to(usb)
    folder = link if where == "itself" else link / "tagbox"
    if given_by == "--model-dir":
        args, _ = parse_args(["--model-dir", str(folder)])
        instead = "start TagBox again with another --model-dir"
    else:
        monkeypatch.setenv("TAGBOX_MODEL_DIR", str(folder))
        args, _ = parse_args([])
        instead = "set $TAGBOX_MODEL_DIR to another folder and start TagBox again"
    window = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(window)
    assert window.store.root == folder and window.store.root_gone()
    said = (
        f"The model folder {folder} is not there: '{link}' is a link to '{usb}', which is not "
        f"there (a drive not plugged in?); plug it in and open Models again, or {instead}."
    )
    box = window.models.first_launch_check(needs_tagger=True)
    assert box is not None and box.text() == said
    window.models.first_launch_check()
    assert window.statusBar().currentMessage() == said
    assert window.models.show_dialog().message.text() == said
    with pytest.raises(FolderUnusable):
        window.store.path("fcn/mtat")
    assert not (tmp_path / "usb").exists()
    window.models.shutdown()


@pytest.mark.parametrize("given_by", ["--model-dir", "$TAGBOX_MODEL_DIR"])
@pytest.mark.parametrize("where", ["itself", "above"])
def test_a_model_folder_given_where_a_file_is_is_said_to_be_a_file(
    qtbot, tmp_path, settings, monkeypatch, given_by: str, where: str
) -> None:
    """--model-dir or $TAGBOX_MODEL_DIR a plain file (or under one): the first-launch message,
    the status bar and the Models window say at the start that it is a file, not a folder, and
    to move it away or start again with another folder, not that no tagger is installed and a
    download would fetch one (only the download's failure named the file); a run is told the
    same, and the file is left as it was."""
    from tagbox_gui.core.store.failures import FolderUnusable

    monkeypatch.delenv("TAGBOX_MODEL_DIR", raising=False)
    file = tmp_path / "models"
    file.write_text("notes")
    folder = file if where == "itself" else file / "tagbox"
    if given_by == "--model-dir":
        args, _ = parse_args(["--model-dir", str(folder)])
        instead = "start TagBox again with another --model-dir"
    else:
        monkeypatch.setenv("TAGBOX_MODEL_DIR", str(folder))
        args, _ = parse_args([])
        instead = "set $TAGBOX_MODEL_DIR to another folder and start TagBox again"
    window = build_window(args, settings=settings, player=fake_player())
    qtbot.addWidget(window)
    assert window.store.root == folder
    said = (
        f"The model folder {folder} is not there: '{file}' is a file, not a folder; move it "
        f"away and open Models again, or {instead}."
    )
    box = window.models.first_launch_check(needs_tagger=True)
    assert box is not None and box.text() == said
    window.models.first_launch_check()
    assert window.statusBar().currentMessage() == said
    assert window.models.show_dialog().message.text() == said
    with pytest.raises(FolderUnusable, match="a file, not a folder"):
        window.store.path("fcn/mtat")
    assert file.read_text() == "notes"
    window.models.shutdown()
