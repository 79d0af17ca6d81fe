"""What the window shows when one run follows another (a single run, a job) or a new song."""

from __future__ import annotations

import pytest

from tagbox_gui.core.audio.song import analysis_span
from tagbox_gui.core.types import Region
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.fake_engine import fake_run
from tests.gui.window_helpers import make_window, open_song, run_to_end


@pytest.fixture
def window(qtbot, model_dir, settings) -> MainWindow:
    """A window on the light backend whose fake runs' estimates cover the region, as the
    engine's do."""
    w = make_window(qtbot, model_dir, settings, backend="light")

    def engine_run(config, song, store, cache):
        start, length = analysis_span(song, config.region)
        return fake_run(config, length=length, start=start)

    w.run_view.engine_run = engine_run
    yield w
    w.controller.shutdown(5000)


def _job(qtbot, window: MainWindow, *words: str) -> None:
    for word in words:
        window.picker.set_picked(word, True)
    with qtbot.waitSignal(window.controller.run_finished, timeout=20_000):
        assert window.run_view.start() is not None
    assert window.run_view.job_active


def test_the_playhead_of_a_job_after_a_run_of_a_region_is_in_the_song(qtbot, window, song_path):
    open_song(qtbot, window, song_path)
    window.song_panel.set_region(Region(5.0, 10.0))
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=3, preview_every=1)
    transport = window.audition.transport
    transport.seek(1.0)  # the run's material is the region: 1 s into it is 6 s into the song
    assert window.song_panel.waveform.playhead() == pytest.approx(6.0)
    with qtbot.waitSignal(window.run_view.jobs.stem_loaded, timeout=10_000):
        _job(qtbot, window, "drums")  # drums and piano: a job, which plays the whole song
    transport.seek(1.0)
    assert window.song_panel.waveform.playhead() == pytest.approx(1.0)
    window.run_view.seek_song(3.0)  # a click on the waveform at 3 s plays from there
    assert transport.player.position == pytest.approx(3.0)
