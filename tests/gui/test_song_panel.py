"""The song panel on its own: the region it selects, typed or dragged, against the song's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from tagbox_gui.core.audio.song import Song, example_clip
from tagbox_gui.core.types import Region
from tagbox_gui.gui import background
from tagbox_gui.gui.widgets.song_panel import SongPanel


def noise_song(frames: int, rate: int = 8_000, channels: int = 1) -> Song:
    rng = np.random.default_rng(0)
    data = (0.3 * rng.standard_normal((frames, channels))).astype(np.float32)
    return Song(Path("noise.wav"), "noise", data, rate, "FLOAT", "WAV")


def test_a_region_to_the_end_of_the_song_ends_inside_it(qtbot) -> None:
    panel = SongPanel()
    qtbot.addWidget(panel)
    song = noise_song(25_016)  # 3.127 s: the boxes' two decimals would round it up to 3.13
    panel.set_song(song)  # shorter than 20 s: the whole song is the region
    assert panel.region().end <= song.duration
    panel.set_region(Region(1.0, 99.0))
    assert panel.region() == Region(1.0, pytest.approx(3.12))
    panel.as_example.setChecked(True)
    clip, rate = example_clip(panel.example(), song)  # the run's check: not past the song's end
    assert rate == song.rate and clip.size == pytest.approx(2.12 * rate, abs=2)


def test_a_new_song_hides_the_old_spectrogram_until_its_own_is_ready(qtbot) -> None:
    panel = SongPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 500)
    panel.show()
    qtbot.waitExposed(panel)
    with qtbot.waitSignal(panel.spectrogram.spectrogram_shown, timeout=10_000):
        panel.set_song(noise_song(3 * 8_000))
    with qtbot.waitSignal(panel.spectrogram.spectrogram_shown, timeout=10_000):
        panel.set_song(noise_song(10 * 8_000))
        assert panel.spectrogram.spectrogram is None  # not the old song's, while it computes
        assert panel.spectrogram._image.image is None
        wave = panel.waveform.plot_item.getViewBox().viewRange()[0]
        spec = panel.spectrogram.plot_item.getViewBox().viewRange()[0]
        assert wave == pytest.approx([0.0, 10.0]) and spec == pytest.approx(wave)
    assert panel.spectrogram.spectrogram.duration == pytest.approx(10.0, abs=0.1)
    qtbot.waitUntil(lambda: background.running() == 0, timeout=10_000)


def test_a_click_on_the_spectrogram_seeks_like_one_on_the_waveform(qtbot) -> None:
    panel = SongPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 500)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_song(noise_song(4 * 8_000))
    plot = panel.spectrogram.plot_widget
    box = plot.getPlotItem().getViewBox()
    low, high = box.viewRange()[1]
    point = plot.mapFromScene(box.mapViewToScene(QPointF(2.5, (low + high) / 2)))
    with qtbot.waitSignal(panel.seek_requested, timeout=2000) as blocker:
        qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert blocker.args[0] == pytest.approx(2.5, abs=4 * 4.0 / box.width())
    qtbot.waitUntil(lambda: background.running() == 0, timeout=10_000)


def test_the_example_region_can_be_typed_after_the_whole_song_was_chosen(qtbot) -> None:
    panel = SongPanel()
    qtbot.addWidget(panel)
    panel.set_song(noise_song(10 * 8_000))
    region_controls = (panel.start, panel.end, panel.loudest)
    panel.whole_song.setChecked(True)  # the learned separator's default
    assert not any(w.isEnabled() for w in region_controls)
    panel.as_example.setChecked(True)  # the region is the example now: it must be set
    assert all(w.isEnabled() for w in region_controls) and not panel.whole_song.isEnabled()
    panel.start.setValue(2.0)
    panel.start.editingFinished.emit()
    assert panel.example().start == 2.0
    panel.as_example.setChecked(False)  # the whole song again: no region to set
    assert not any(w.isEnabled() for w in region_controls) and panel.region() is None


@pytest.mark.parametrize("start", [0.235, 1.675, 15.845])
def test_a_half_second_region_stays_half_a_second_in_the_boxes(qtbot, start: float) -> None:
    """Rounded to the boxes' hundredths, a start on a tie went up and its end down: a dragged
    half second became 0.49 s, which a run refuses."""
    panel = SongPanel()
    qtbot.addWidget(panel)
    panel.set_song(noise_song(20 * 8_000))
    panel.set_region(Region(start, start + 0.5))
    region = panel.region()
    assert region.duration >= 0.5 - 1e-9 and abs(region.start - start) <= 0.01
    panel.set_region(Region(19.8, 25.0))  # past the end: half a second back from it
    assert panel.region() == Region(pytest.approx(19.5), pytest.approx(20.0))
