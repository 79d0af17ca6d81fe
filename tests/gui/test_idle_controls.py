"""Controls that would do nothing are disabled, and their tooltip says why."""

from __future__ import annotations

from pathlib import Path

from tagbox_gui.core.types import Region
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.fake_engine import write_song
from tests.gui.window_helpers import open_song, run_to_end


def test_follow_latest_is_offered_once_a_run_has_previews(
    qtbot, window: MainWindow, song_path: Path
) -> None:
    follow = window.audition.follow
    assert not follow.isEnabled() and "No run yet" in follow.toolTip()
    open_song(qtbot, window, song_path)
    assert not follow.isEnabled() and "No run yet" in follow.toolTip()
    window.tag_panel.apply_preset("Piano")
    run_to_end(qtbot, window, steps=3, preview_every=1)
    assert follow.isEnabled() and "newest preview" in follow.toolTip()
    open_song(qtbot, window, song_path)  # the run is gone with its song
    assert not follow.isEnabled() and "No run yet" in follow.toolTip()


def test_zoom_to_region_needs_a_region_short_of_the_song(
    qtbot, window: MainWindow, song_path: Path, tmp_path: Path
) -> None:
    panel = window.song_panel
    open_song(qtbot, window, song_path)  # 30 s: the region is the loudest 20 s
    assert panel.zoom.isEnabled() and "region only" in panel.zoom.toolTip()
    panel.whole_song.setChecked(True)
    assert not panel.zoom.isEnabled() and "whole song is run" in panel.zoom.toolTip()
    panel.as_example.setChecked(True)  # the region is the example: zoom to it
    assert panel.zoom.isEnabled()
    panel.as_example.setChecked(False)
    panel.whole_song.setChecked(False)
    panel.set_region(Region(0.0, 30.0))
    assert not panel.zoom.isEnabled() and "region is the whole song" in panel.zoom.toolTip()
    panel.set_region(Region(2.0, 5.0))
    assert panel.zoom.isEnabled()
    open_song(qtbot, window, write_song(tmp_path / "Short.wav", seconds=8.0))
    assert not panel.zoom.isEnabled()  # 8 s: the loudest 20 s are all of it
