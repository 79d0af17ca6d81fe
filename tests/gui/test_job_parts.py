"""What a Run asks for, before it runs: the picked instruments, the examples and the tags make
one part of the job each, and names or regions that the job would refuse are said at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tagbox_gui.core.types import Region
from tagbox_gui.gui.main_window import MainWindow
from tests.gui.window_helpers import add_example, make_window, open_song


@pytest.fixture
def picking(qtbot, model_dir: Path, settings, song_path: Path) -> MainWindow:
    """A window on the learned separator's settings with a song open, its runs the fake
    engine's: for what is picked before a run."""
    window = make_window(qtbot, model_dir, settings, backend="learned")
    open_song(qtbot, window, song_path)
    yield window
    window.controller.shutdown(5000)


def test_picks_examples_and_tags_make_one_part_each(picking: MainWindow) -> None:
    window = picking
    picker = window.picker
    assert {"drums", "bass", "organ", "trumpet"} <= set(picker.instruments())
    window.song_panel.set_region(Region(2.0, 6.0))
    add_example(window, "lead")  # the region becomes an example named "lead"
    picker.set_picked("bass", True)
    parts = window.run_view.parts()
    assert [p.name for p in parts] == ["lead", "bass"]
    example = parts[0].config.example
    assert (example.path, example.start, example.end) == (None, 2.0, 6.0)
    assert parts[0].config.region is None and parts[1].config.tags == ("bass",)
    add_example(window, "bass")  # a second stem of the same name replaces the first
    assert [p.name for p in window.run_view.parts()] == ["lead", "bass"]
    assert window.run_view.parts()[1].config.example is not None
    # an example needs the learned separator
    combo = window.settings_panel.backend
    combo.setCurrentIndex(combo.findData("light"))
    assert "learned" in window.run_view.problem()
    assert not picker.add_example_button.isEnabled()
    picker.clear()
    assert "Pick an instrument" in window.run_view.problem()
    window.tag_panel.apply_preset("Piano")
    assert [p.name for p in window.run_view.parts()] == ["piano"]  # one run, as before
    window.controller.shutdown(5000)


def test_stem_names_that_differ_only_by_case_are_one_stem(picking: MainWindow) -> None:
    window = picking
    picker = window.picker
    picker.set_picked("bass", True)
    add_example(window, "Bass")  # replaces the instrument, as "bass" does
    add_example(window, "lead")
    add_example(window, "Lead")
    assert [p.name for p in window.run_view.parts()] == ["Bass", "Lead"]
    add_example(window, "Example")
    window.song_panel.as_example.setChecked(True)  # the region as the example: "example"
    assert [p.name for p in window.run_view.parts()] == ["Bass", "Lead", "Example", "example"]
    assert window.run_view.problem() == (  # the job would refuse it
        "Two stems would be called Example; give the example another name."
    )
    window.controller.shutdown(5000)


def test_an_example_with_instruments_in_a_region_asks_for_the_whole_song(
    picking: MainWindow,
) -> None:
    window = picking
    panel, picker = window.song_panel, window.picker
    panel.whole_song.setChecked(False)
    panel.set_region(Region(2.0, 6.0))
    add_example(window, "lead")  # "lead" is separated in the whole song
    picker.set_picked("bass", True)  # in the region: the stems could not share the song
    assert "Run on the whole song" in window.run_view.problem()
    assert not window.run_panel.run.isEnabled()
    panel.whole_song.setChecked(True)
    assert window.run_view.problem() == ""
    window.controller.shutdown(5000)


def test_an_example_can_be_steered(picking: MainWindow) -> None:
    # steering moves an example's query towards what the taggers hear in the example, so Run
    # stays on with steps (it was refused: an example names no tag to steer towards)
    window = picking
    add_example(window, "lead")
    window.settings_panel.steps.setValue(5)
    assert window.run_view.problem() == "" and window.run_panel.run.isEnabled()
    window.controller.shutdown(5000)


def test_stem_names_that_make_one_file_name_are_refused_before_the_run(picking: MainWindow) -> None:
    window = picking
    window.song_panel.set_region(Region(2.0, 6.0))
    for name in ("a/b", "a:b"):  # both would be written as "My Song - a_b"
        add_example(window, name)
    assert [p.name for p in window.run_view.parts()] == ["a/b", "a:b"]
    assert "a_b" in window.run_view.problem()
    assert not window.run_panel.run.isEnabled()
    window.controller.shutdown(5000)


def test_the_region_an_example_is_added_from_can_be_typed_while_the_whole_song_is_run(
    picking: MainWindow,
) -> None:
    # the learned separator runs the whole song by default, but "Add the region as an example"
    # takes the region: its start, end and Loudest stayed disabled, so it could only be dragged
    window = picking
    panel = window.song_panel
    region_controls = (panel.start, panel.end, panel.loudest)
    assert panel.whole_song.isChecked() and window.picker.add_example_button.isEnabled()
    assert all(w.isEnabled() for w in region_controls) and panel.zoom.isEnabled()
    panel.start.setValue(2.0)
    panel.end.setValue(6.0)
    panel.end.editingFinished.emit()
    add_example(window, "lead")
    example = window.run_view.parts()[0].config.example
    assert (example.start, example.end) == (2.0, 6.0)
    assert panel.region() is None  # the run is still of the whole song
    combo = window.settings_panel.backend
    combo.setCurrentIndex(combo.findData("light"))  # no examples: the whole song has no region
    panel.whole_song.setChecked(True)
    assert not any(w.isEnabled() for w in region_controls)
    window.controller.shutdown(5000)


def test_a_stem_asked_for_twice_is_named_with_where_to_remove_it(picking: MainWindow) -> None:
    # "piano" ticked in the picker and the Tags panel's Piano are two stems called "piano";
    # Run's tooltip names it and says where to untick it
    window = picking
    window.picker.set_picked("piano", True)
    window.tag_panel.apply_preset("Piano")
    assert [p.name for p in window.run_view.parts()] == ["piano", "piano"]
    assert window.run_view.problem() == (
        "piano is both picked and wanted in the Tags panel; untick it in one of them."
    )
    window.picker.set_picked("piano", False)
    add_example(window, "Piano")  # an example of that name: it is the one to rename
    assert window.run_view.problem() == (
        "Two stems would be called Piano; give the example another name."
    )
    window.controller.shutdown(5000)
