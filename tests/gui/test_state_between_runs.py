"""What the window shows when one run follows another (a single run, a job) or a new song."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractSlider

from tagbox_gui.core.audio.song import analysis_span
from tagbox_gui.core.types import Region
from tagbox_gui.gui.controller import RunState
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.fake_engine import fake_run, write_song
from tests.gui.window_helpers import (
    make_window,
    next_frame,
    open_song,
    piano_run_window,
    run_to_end,
)


@pytest.fixture
def window(qtbot, model_dir, settings) -> MainWindow:
    """A window on the light backend whose fake runs' estimates cover the region, as the
    engine's do."""
    w = make_window(qtbot, model_dir, settings, backend="light")

    def engine_run(config, song, store, cache):
        start, length = analysis_span(song, config.region)
        return fake_run(config, length=length, start=start)

    w.run_view.engine_run = engine_run
    w.confirm_quit = lambda: True  # a test that fails during a run closes it without asking
    yield w
    w.controller.shutdown(5000)


def _job(qtbot, window: MainWindow, *words: str) -> None:
    for word in words:
        window.picker.set_picked(word, True)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        assert window.run_view.start() is not None
    assert window.run_view.job_active


def _run_on_the_region(qtbot, window, song_path) -> None:
    """A Piano run of 3 steps on 10-20 s of the song, a preview at each step."""
    open_song(qtbot, window, song_path)
    window.song_panel.set_region(Region(10.0, 20.0))
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=3, preview_every=1)


def test_the_playhead_of_a_job_after_a_run_of_a_region_is_in_the_song(qtbot, window, song_path):
    open_song(qtbot, window, song_path)
    window.song_panel.set_region(Region(5.0, 10.0))
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=3, preview_every=1)
    transport = window.audition.transport
    transport.seek(6.0)  # the run's material is the region: 6 s into the song is 1 s into it
    assert transport.player.position == pytest.approx(1.0)
    assert window.song_panel.waveform.playhead() == pytest.approx(6.0)
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000):
        _job(qtbot, window, "drums")  # drums and piano: a job, which plays the whole song
    transport.seek(1.0)
    assert window.song_panel.waveform.playhead() == pytest.approx(1.0)
    window.run_view.audio.seek_song(3.0)  # a click on the waveform at 3 s plays from there
    assert transport.player.position == pytest.approx(3.0)


def test_the_song_and_a_regions_audio_keep_the_same_moment_between_them(
    qtbot, window, song_path
) -> None:
    """3 s into a region from 10 s is 13 s into the song, going either way between the
    whole song (the song alone, a job) and a run's region, clamped to the region."""
    open_song(qtbot, window, song_path)
    transport, waveform = window.audition.transport, window.song_panel.waveform
    window.song_panel.set_region(Region(10.0, 20.0))
    window.tag_panel.apply_preset("Piano")
    transport.seek(13.0)  # listening to the whole song
    run_to_end(qtbot, window, steps=3, preview_every=1)  # now playing the region's audio
    assert transport.player.position == pytest.approx(3.0)
    assert waveform.playhead() == pytest.approx(13.0)
    transport.loop_button.setChecked(True)  # looping the region does not move it either
    transport.seek(14.0)  # 4 s into the region
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000):
        _job(qtbot, window, "drums")  # plays the whole song
    assert transport.player.position == pytest.approx(14.0)
    assert waveform.playhead() == pytest.approx(14.0)
    window.picker.set_picked("drums", False)
    window.song_panel.set_region(Region(12.0, 17.0))
    run_to_end(qtbot, window, steps=3, preview_every=1)  # the region from 12 s
    assert transport.player.position == pytest.approx(2.0)
    window.song_panel.set_region(Region(20.0, 25.0))
    run_to_end(qtbot, window, steps=3, preview_every=1)  # 14 s lies before it: its start
    assert transport.player.position == pytest.approx(0.0)
    assert waveform.playhead() == pytest.approx(20.0)


def test_the_transport_reads_a_regions_moment_as_the_playhead_does(
    qtbot, window, song_path
) -> None:
    """Playing a run of the region 10-20 s, the slider and the time are in seconds of the
    song, as the playhead on the waveform and the spectrogram: 13 s reads 0:13.0 in both."""
    _run_on_the_region(qtbot, window, song_path)
    transport, waveform = window.audition.transport, window.song_panel.waveform
    assert (transport.slider.minimum(), transport.slider.maximum()) == (10_000, 20_000)
    transport.seek(13.0)
    assert transport.player.position == pytest.approx(3.0)
    assert transport.slider.value() == 13_000 and waveform.playhead() == pytest.approx(13.0)
    assert transport.position_label.text() == "0:13.0 / 0:20.0"
    assert "0:10.0–0:20.0" in transport.position_label.toolTip()
    transport.toggle()
    transport.player.streams[-1].pull(44_100)  # a second of the region's audio goes out
    qtbot.waitUntil(lambda: transport.slider.value() == 14_000, timeout=1000)
    assert transport.position_label.text() == "0:14.0 / 0:20.0"
    assert waveform.playhead() == pytest.approx(14.0)
    transport.slider.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)  # 5 s back
    assert transport.player.position == pytest.approx(0.0)  # 9 s: clamped to the region
    assert transport.position_label.text() == "0:10.0 / 0:20.0"
    transport.player.close()


def test_a_click_outside_a_runs_region_plays_the_song_there(qtbot, window, song_path) -> None:
    """The run's audio covers only its region: a click outside it plays the song's mix from
    there, and says so; new previews leave it playing; a click inside brings the run back."""
    _run_on_the_region(qtbot, window, song_path)
    transport, song_panel = window.audition.transport, window.song_panel
    transport.loop_button.setChecked(True)
    transport.seek(13.0)
    transport.toggle()
    song_panel.seek_requested.emit(25.0)  # a click on the waveform at 25 s
    player = transport.player
    assert player.sources == ("mix",) and transport.start == 0.0 and player.playing
    assert transport.position == pytest.approx(25.0)
    assert song_panel.waveform.playhead() == pytest.approx(25.0)
    assert "10.0–20.0 s" in window.statusBar().currentMessage()
    song = window.song
    at = round(25.0 * song.rate)
    np.testing.assert_allclose(player.streams[-1].pull(4), song.data[at : at + 4], atol=1e-6)
    assert transport.position == pytest.approx(25.0, abs=1e-3)  # not thrown into the loop
    window.run_view.show_step(window.run_view.shown.step, followed=True)  # the next preview
    assert player.sources == ("mix",) and transport.position == pytest.approx(25.0, abs=1e-3)
    song_panel.seek_requested.emit(15.0)  # inside the region: the run's audio again
    assert player.sources == ("mix", "separated", "residual") and transport.start == 10.0
    assert player.playing and transport.position == pytest.approx(15.0)
    assert "song's mix" not in window.statusBar().currentMessage()  # no longer so
    assert player.loop == Region(0.0, 10.0)  # still looping the region
    player.close()


def test_back_inside_a_runs_region_the_chosen_source_plays_again(qtbot, window, song_path):
    """Listening to the separated, a click outside the region plays the song's mix (the
    separated and the residual say why they are off); back inside, the separated again."""
    _run_on_the_region(qtbot, window, song_path)
    transport, song_panel = window.audition.transport, window.song_panel
    buttons = transport.source_buttons
    buttons["separated"].click()
    song_panel.seek_requested.emit(25.0)  # outside the region: the song's mix
    assert transport.player.source == "mix" and buttons["mix"].isChecked()
    for name in ("separated", "residual"):
        assert not buttons[name].isEnabled()
        assert "region (10.0–20.0 s)" in buttons[name].toolTip()
    song_panel.seek_requested.emit(15.0)  # inside again
    assert transport.player.source == "separated" and buttons["separated"].isChecked()
    assert buttons["residual"].isEnabled() and "Listen" in buttons["residual"].toolTip()
    song_panel.seek_requested.emit(25.0)
    buttons["mix"].click()  # chosen outside: the mix it stays
    song_panel.seek_requested.emit(15.0)
    assert transport.player.source == "mix"


def test_the_slider_and_the_keys_into_a_runs_region_bring_the_run_back(
    qtbot, window, song_path
) -> None:
    """The song's mix playing outside the region (a click there), a move of the position
    into the region by the slider, Home (to the loop's start) or comma / period plays the
    run's audio there, as a click inside it does."""
    _run_on_the_region(qtbot, window, song_path)
    transport, song_panel = window.audition.transport, window.song_panel
    player, button = transport.player, transport.play_button
    run_audio = ("mix", "separated", "residual")
    song_panel.seek_requested.emit(25.0)  # outside the region: the song's mix
    assert player.sources == ("mix",)
    transport.slider.setValue(15_000)  # the slider's groove clicked, or its keys
    assert player.sources == run_audio and transport.start == 10.0
    assert transport.position == pytest.approx(15.0)
    song_panel.seek_requested.emit(8.0)
    qtbot.keyClick(button, Qt.Key.Key_Period)  # 13 s
    assert player.sources == run_audio and transport.position == pytest.approx(13.0)
    song_panel.seek_requested.emit(25.0)
    qtbot.keyClick(button, Qt.Key.Key_Comma)  # 20 s: the region's end
    assert player.sources == run_audio and transport.position == pytest.approx(20.0)
    transport.loop_button.setChecked(True)
    song_panel.seek_requested.emit(28.0)
    assert player.sources == ("mix",)
    qtbot.keyClick(button, Qt.Key.Key_Home)  # the loop's start
    assert player.sources == run_audio and transport.position == pytest.approx(10.0)
    song_panel.seek_requested.emit(21.0)
    qtbot.keyClick(button, Qt.Key.Key_Period)  # 26 s: the mix goes on outside
    assert player.sources == ("mix",) and transport.position == pytest.approx(26.0)
    player.close()


def test_loop_turned_on_outside_a_runs_region_loops_the_runs_audio(qtbot, window, song_path):
    """Loop on while the song's mix plays outside the region jumps into the region: there
    the run's audio plays, looping, not the song's mix of it with the separated off."""
    _run_on_the_region(qtbot, window, song_path)
    transport, song_panel = window.audition.transport, window.song_panel
    player = transport.player
    song_panel.seek_requested.emit(25.0)  # outside the region: the song's mix
    transport.loop_button.setChecked(True)
    assert player.sources == ("mix", "separated", "residual") and transport.start == 10.0
    assert transport.position == pytest.approx(10.0) and player.loop == Region(0.0, 10.0)
    assert transport.source_buttons["separated"].isEnabled()


def test_the_songs_mix_played_into_the_loop_gives_way_to_the_runs_audio(
    qtbot, window, song_path
) -> None:
    """Looping, a click before the region plays the song's mix there; played on into the
    loop, the run's audio takes over, rather than the song's mix of the region looping."""
    _run_on_the_region(qtbot, window, song_path)
    transport, song_panel = window.audition.transport, window.song_panel
    player = transport.player
    transport.loop_button.setChecked(True)
    song_panel.seek_requested.emit(8.0)  # before the region: the song's mix
    transport.toggle()
    assert player.sources == ("mix",) and player.playing
    player.streams[-1].pull(3 * window.song.rate)  # on to 11 s
    qtbot.waitUntil(lambda: player.sources == ("mix", "separated", "residual"), timeout=1000)
    assert transport.start == 10.0 and player.playing and player.loop == Region(0.0, 10.0)
    assert transport.position == pytest.approx(11.0, abs=0.05)
    player.close()


def test_a_new_song_shows_nothing_of_the_old_songs_run(qtbot, window, song_path, tmp_path):
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=6, preview_every=3)
    live, panel = window.live, window.run_panel
    assert live.loss.count == 6 and live.mask.image is not None and live.meters.tags
    open_song(qtbot, window, write_song(tmp_path / "Other.wav", seconds=8.0))
    next_frame(qtbot, window)
    assert live.loss.count == 0 and live.loss.curve_data("total")[0].size == 0
    assert live.mask.image is None  # not the old song's mask, on the old song's time axis
    assert live.meters.tags == () and live.meters.empty.isVisibleTo(live.meters)
    assert panel.status.text() == "" and panel.labels["step"].text() == "–"
    assert panel.progress.value() <= 0


def test_a_new_song_after_a_job_shows_the_captions_of_no_run(qtbot, window, song_path, tmp_path):
    open_song(qtbot, window, song_path)
    window.settings_panel.steps.setValue(2)
    window.tag_panel.apply_preset("Piano")
    _job(qtbot, window, "drums")  # drums and piano
    panel = window.run_panel
    assert panel._captions["step"].text() == "Steps" and panel.labels["step"].toolTip()
    open_song(qtbot, window, write_song(tmp_path / "Other.wav", seconds=8.0))
    captions = panel._captions  # not the job's "Steps", "of all 2 instruments" in the tooltip
    assert (captions["step"].text(), captions["per_step"].text()) == ("Step", "Time/step")
    assert captions["step"].toolTip() == panel.labels["step"].toolTip() == ""
    assert not panel.parts.isVisibleTo(panel) and panel.parts.text() == ""


def test_the_line_under_the_transport_speaks_of_no_previews_before_a_run(
    qtbot, window, song_path, tmp_path
) -> None:
    """A song with no run plays itself, at its rate and in its channels: the line under the
    transport does not speak of previews kept nor of listening in mono, as after a run."""
    memory = window.audition.memory
    open_song(qtbot, window, song_path)
    assert memory.text() == "", memory.text()
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=6, preview_every=3)
    assert memory.text().startswith("History: 2 previews kept")
    open_song(qtbot, window, write_song(tmp_path / "Other.wav", seconds=8.0))
    assert memory.text() == "", memory.text()


def test_a_new_song_during_a_run_does_not_leave_it_stopping(
    qtbot, model_dir, settings, song_path, tmp_path
) -> None:
    window = piano_run_window(
        qtbot, model_dir, settings, song_path, 5000, backend="light", delay=0.01
    )
    assert window.run_view.start() is not None
    qtbot.waitUntil(lambda: window.live.loss.count >= 2, timeout=3000)
    with qtbot.waitSignal(window.controller.run_finished, timeout=5000):
        open_song(qtbot, window, write_song(tmp_path / "Other.wav", seconds=8.0))
    qtbot.wait(100)
    assert window.controller.state is RunState.IDLE and window.run_panel.run.isEnabled()
    assert "Stopping" not in window.run_panel.status.text()
    assert window.live.loss.count == 0
    window.controller.shutdown(5000)


def test_a_new_run_offers_no_stems_until_it_has_some(qtbot, window, song_path) -> None:
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=3, preview_every=1)
    assert window.stems.count() == 2 and window.export_button.isEnabled()
    blocked = threading.Event()

    def engine_run(config, song, store, cache):
        blocked.wait(10)  # the job's first instrument has not made a step yet
        return fake_run(config, length=analysis_span(song, config.region)[1])

    window.run_view.engine_run = engine_run
    window.picker.set_picked("drums", True)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        assert window.run_view.start() is not None  # a job: drums and piano
        try:  # Export all stems… would say "There are no stems yet": it is off, and the list agrees
            assert window.exports.file_names() is None
            assert not window.export_button.isEnabled() and not window.export_action.isEnabled()
            assert window.stems.count() == 0 and window.stems.backend_name is None
        finally:
            blocked.set()
    assert window.stems.count() == 3 and window.export_button.isEnabled()


def test_a_replaced_run_that_fails_while_stopping_says_nothing(
    qtbot, window, song_path, tmp_path, monkeypatch
) -> None:
    from tagbox_gui.gui import run_view

    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    release = threading.Event()

    def engine_run(config, song, store, cache):
        release.wait(10)  # still working when the next song is opened
        raise MemoryError("ran out of memory while stopping")
        yield  # a generator, as the engine's run is

    window.run_view.engine_run = engine_run
    shown: list[tuple] = []
    monkeypatch.setattr(run_view, "show_error", lambda *args, **kw: shown.append(args))
    assert window.run_view.start() is not None
    open_song(qtbot, window, write_song(tmp_path / "Other.wav", seconds=8.0))
    with qtbot.waitSignal(window.controller.run_failed, timeout=5000):
        release.set()
    qtbot.wait(50)
    assert shown == []  # the run of a song no longer open: logged, not a dialog
    assert window.controller.state is RunState.IDLE and window.run_panel.status.text() == ""


def test_listening_goes_on_when_a_run_or_a_job_brings_new_audio(qtbot, window, song_path):
    """Play, then Run: the first preview (the region's audio) and a job's stems take over
    without stopping; a newly opened song waits for Play."""
    open_song(qtbot, window, song_path)
    transport = window.audition.transport
    window.song_panel.set_region(Region(10.0, 20.0))
    window.tag_panel.apply_preset("Piano")
    transport.seek(12.0)
    transport.toggle()
    assert transport.player.playing
    run_to_end(qtbot, window, steps=3, preview_every=1)
    assert transport.player.playing and transport.player.position == pytest.approx(2.0)
    assert transport.play_button.accessibleName() == "Pause"
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000):
        _job(qtbot, window, "drums")
    assert transport.player.playing and transport.player.position == pytest.approx(12.0)
    open_song(qtbot, window, song_path)
    assert not transport.player.playing and transport.play_button.accessibleName() == "Play"
    transport.player.close()
