"""The song panel on its own: the region it selects, typed or dragged, against the song's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tagbox_gui.core.audio.song import Song, example_clip
from tagbox_gui.core.types import Region
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
