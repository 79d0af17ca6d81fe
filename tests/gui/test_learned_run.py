"""The learned separator in the window: the default backend, one pass, and asking by example."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from tagbox_gui.core.audio.estimates import level_db
from tagbox_gui.core.audio.stems import render_stems
from tagbox_gui.core.separation.backends import learned
from tagbox_gui.core.separation.cache import ModelCache
from tagbox_gui.core.store.models import ModelStore
from tagbox_gui.core.types import Example
from tagbox_gui.gui.main_window import MainWindow
from tagbox_gui.gui.settings import AppSettings
from tests.gui.fake_engine import fake_player, held_runs
from tests.gui.window_helpers import make_window, open_song


def _real_window(qtbot, tmp_path: Path, model_dir: Path) -> MainWindow:
    """A window on the real engine with the default settings (the learned separator)."""
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(ModelStore(model_dir), settings, player=fake_player())
    qtbot.addWidget(window)
    window.settings_view.reset()
    return window


def test_learned_is_the_default_backend_and_runs_in_one_pass(qtbot, model_dir, settings,
                                                             song_path) -> None:  # fmt: skip
    window = make_window(qtbot, model_dir, settings, backend="missing")  # no choice made
    window.settings_view.reset()
    assert window.settings_panel.settings().backend == "learned"
    assert window.settings_panel.settings().steps == 0
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000) as blocker:
        assert window.run_view.start() is not None
    assert blocker.args[0].steps_done == 0 and blocker.args[0].estimate is not None
    qtbot.waitUntil(lambda: window.export_button.isEnabled(), timeout=3000)
    assert "one pass" in window.run_panel.status.text()
    assert window.audition.label.text() == "One pass (no steps)"
    assert not window.audition.slider.isEnabled() and not window.audition.best.isEnabled()
    window.controller.shutdown(5000)


def test_a_run_computes_on_the_chosen_cpu_threads(qtbot, model_dir, settings, song_path) -> None:
    import torch

    window = make_window(qtbot, model_dir, settings, backend="learned")
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    seen: list[int] = []  # torch's threads where each part's run computes
    engine_run = window.run_view.engine_run

    def recording_run(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return engine_run(*args, **kwargs)

    window.run_view.engine_run = recording_run
    window.settings_panel.threads.setValue(1)
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        assert window.run_view.start() is not None
    assert seen == [1]
    for word in ("drums", "bass"):  # a job: piano (the tags), drums and bass
        window.picker.set_picked(word, True)
    window.settings_panel.threads.setValue(2)
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        assert window.run_view.start() is not None
    assert window.run_view.job_active and seen[1:] == [2, 2, 2]
    window.controller.shutdown(5000)


def test_the_region_as_the_example_needs_the_learned_backend(qtbot, model_dir, settings,
                                                             song_path) -> None:  # fmt: skip
    window = make_window(qtbot, model_dir, settings, backend="light")
    open_song(qtbot, window, song_path)
    window.song_panel.as_example.setChecked(True)
    assert window.song_panel.region() is None  # the whole song is separated
    example = window.song_panel.example()
    assert example is not None and example.path is None and example.end > example.start
    assert "learned" in window.run_view.problem()
    combo = window.settings_panel.backend
    combo.setCurrentIndex(combo.findData("learned"))
    assert window.run_view.problem() == ""  # no tag needed: the example says what
    window.controller.shutdown(5000)


@pytest.mark.slow
def test_a_real_one_pass_run_gives_stems_that_add_up(qtbot, tmp_path: Path, model_dir: Path,
                                                     song_path: Path) -> None:  # fmt: skip
    """The real engine and the shipped separator (the tag panel lists the taggers' tags)."""
    window = _real_window(qtbot, tmp_path, model_dir)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Drums")
    assert window.run_view.problem() == ""
    looks = _watch_the_look(window)
    with qtbot.waitSignal(window.controller.run_finished, timeout=60_000) as blocker:
        assert window.run_view.start() is not None
    result = blocker.args[0]
    # Looked at again beside the bass (the drums are what was asked for), and said so.
    assert looks == ["Looking again at drums without the bass…"]  # while it looks
    assert result.helpers == ("bass",)
    assert "Looked at again without the bass." in window.run_panel.status.text()
    session = window.run_view.session
    assert session.provenance(0)["second look"] == "asked again in the song without bass"
    assert session.provenance(0)["query"] == "prototype: drums, fitted to the song"
    song = window.song
    separated, residual = render_stems(song, result.estimate)
    assert separated.shape == song.data.shape
    np.testing.assert_allclose(separated + residual, song.data, atol=1e-6)
    rendered = level_db(separated.mean(axis=1), song.data.mean(axis=1))
    assert session.level() == pytest.approx(rendered, abs=1.0)  # the stem the files hold
    note = window.run_view._quiet_note
    assert note(session) == "" if session.level() > -25 else "Drums is very quiet" in note(session)
    session.level = lambda: -40.0  # as a stem the separator did not recognise
    assert note(session) == (" Drums is very quiet (40 dB under the song): if it plays louder "
                             "than that, it was not recognised. Select a few seconds where it "
                             "plays and use the region as the example.")  # fmt: skip
    session.config = dataclasses.replace(session.config, example=Example(None, 0.0, 2.0))
    assert note(session).endswith("Choose an example where it plays more clearly, ideally alone.")
    window.controller.shutdown(5000)


@pytest.mark.slow
def test_one_stem_keeps_its_first_look_and_bare_prototype_when_told(
    qtbot, tmp_path: Path, model_dir: Path, song_path: Path
) -> None:
    window = _real_window(qtbot, tmp_path, model_dir)
    window.settings_panel.second_look.setChecked(False)
    window.settings_panel.fit_to_song.setChecked(False)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    looks = _watch_the_look(window)
    with qtbot.waitSignal(window.controller.run_finished, timeout=60_000) as blocker:
        assert window.run_view.start() is not None
    assert blocker.args[0].helpers == () and looks == []
    assert "Looked at again" not in window.run_panel.status.text()
    assert "second look" not in window.run_view.session.provenance(0)
    assert window.run_view.session.provenance(0)["query"] == "prototype: piano"
    assert blocker.args[0].estimate.query == pytest.approx(
        learned.load_shipped(ModelCache())[1]["piano"].numpy(), rel=1e-5, abs=1e-6
    )
    window.controller.shutdown(5000)


def _watch_the_look(window: MainWindow) -> list[str]:
    """What the run panel says each time a single run's second look begins."""
    panel, said = window.run_panel, []
    show = panel.show_looking_again
    panel.show_looking_again = lambda stem, helpers: (show(stem, helpers),
                                                      said.append(panel.status.text()))  # fmt: skip
    return said


@pytest.mark.slow
def test_a_second_look_that_fails_leaves_the_first_and_says_so(
    qtbot, tmp_path: Path, model_dir: Path, song_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tagbox_gui.core.separation.refine import LookBeside

    def out_of_memory(*args: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr(LookBeside, "stem", out_of_memory)
    window = _real_window(qtbot, tmp_path, model_dir)
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    with qtbot.waitSignal(window.controller.run_finished, timeout=60_000) as blocker:
        assert window.run_view.start() is not None
    assert blocker.args[0].second_look_failed == "out of memory"
    assert window.run_panel.status.text().startswith(
        "Separated in one pass of the learned separator. The second look failed (out of "
        "memory), so the stem is the first look."
    )
    assert window.stems.count() == 2 and "second look" not in window.run_view.session.provenance(0)
    window.controller.shutdown(5000)


def test_the_progress_bar_is_busy_only_while_a_one_pass_run_goes_on(qtbot, model_dir, settings,
                                                                   song_path) -> None:  # fmt: skip
    """A one-pass run has no steps to count: its bar is busy meanwhile, then shows it done,
    and it is empty again for a new song, never busy with no run going on."""
    window = make_window(qtbot, model_dir, settings, backend="learned")
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(0)
    bar = window.run_panel.progress
    busy: list[bool] = []
    window.controller.state_changed.connect(lambda _: busy.append(bar.maximum() == 0))
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        assert window.run_view.start() is not None
    qtbot.waitUntil(lambda: window.export_button.isEnabled(), timeout=3000)
    assert busy[0]  # running: no steps to count
    assert bar.maximum() > 0 and bar.value() == bar.maximum()  # done, not busy
    open_song(qtbot, window, song_path)  # a new song: no run
    assert bar.maximum() > 0 and bar.value() < bar.maximum()
    window.controller.shutdown(5000)


def test_stop_during_a_one_pass_run_ends_it_after_the_segment_under_way(
    qtbot, tmp_path, model_dir, song_path, monkeypatch
) -> None:
    """The song (30 s) is separated in two segments: Stop during the first ends the run before
    the second, with nothing separated, and the panel says so."""
    entered, release, passes = threading.Event(), threading.Event(), []
    masks = learned.LearnedBackend.masks

    def held(self, *args):  # the first segment's pass goes on until the test lets it end
        passes.append(1)
        entered.set()
        release.wait(10)
        return masks(self, *args)

    monkeypatch.setattr(learned.LearnedBackend, "masks", held)
    window = _real_window(qtbot, tmp_path, model_dir)  # one pass of the learned separator
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    with qtbot.waitSignal(window.controller.run_finished, timeout=30_000) as blocker:
        assert window.run_view.start() is not None
        qtbot.waitUntil(entered.is_set, timeout=10_000)
        window.run_panel.stop.click()
        release.set()
    result = blocker.args[0]
    assert result.stopped and result.estimate is None and passes == [1]
    assert window.run_panel.status.text() == (
        "Stopped before the pass was done: nothing was separated."
    )
    assert window.stems.count() == 0 and not window.export_button.isEnabled()
    window.controller.shutdown(5000)


def _gated_one_pass(qtbot, model_dir, settings, song_path) -> tuple[MainWindow, threading.Event]:
    """A window with the song open and Piano picked for a one-pass run of the learned backend,
    whose pass ends only once the test sets the event it returns."""
    window = make_window(qtbot, model_dir, settings, backend="learned")
    window.confirm_quit = lambda: True  # closed mid-run when an assertion fails
    gate = held_runs(window)  # the pass ends when the test lets it
    open_song(qtbot, window, song_path)
    window.tag_panel.apply_preset("Piano")
    window.settings_panel.steps.setValue(0)
    return window, gate


def test_a_one_pass_run_unfollowed_still_shows_its_stems(qtbot, model_dir, settings,
                                                         song_path) -> None:  # fmt: skip
    """ "Follow latest" turned off during a one-pass run (it has no steps to go back to) does
    not lose its result: the stems are listed and heard once it ends."""
    window, gate = _gated_one_pass(qtbot, model_dir, settings, song_path)
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        assert window.run_view.start() is not None
        window.audition.follow.setChecked(False)
        gate.set()
    assert window.stems.count() == 2 and window.export_button.isEnabled()
    assert window.audition.label.text() == "One pass (no steps)"
    assert "separated" in window.audition.transport.player.sources
    window.controller.shutdown(5000)


def test_a_one_pass_run_offers_nothing_to_follow(qtbot, model_dir, settings, song_path) -> None:
    """A one-pass run has no newer preview to follow, during it or after it: "Follow latest" is
    disabled and says why; a run with steps offers it again."""
    window, gate = _gated_one_pass(qtbot, model_dir, settings, song_path)
    follow = window.audition.follow
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        assert window.run_view.start() is not None
        assert not follow.isEnabled() and "one pass" in follow.toolTip()
        gate.set()
    qtbot.wait(50)
    assert not follow.isEnabled() and "one pass" in follow.toolTip()
    window.settings_panel.steps.setValue(3)
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        assert window.run_view.start() is not None
    assert follow.isEnabled() and "newest preview" in follow.toolTip()
    window.controller.shutdown(5000)


def test_the_empty_loss_plot_of_a_one_pass_run_says_it_has_no_steps(
    qtbot, model_dir, settings, song_path
) -> None:
    """During a one-pass run and after it the loss plot stays empty: it says so ("One pass"),
    not "No steps yet"; a new song puts the line before any run back."""
    from tagbox_gui.gui.widgets.loss_plot import EMPTY_TEXTS

    window, gate = _gated_one_pass(qtbot, model_dir, settings, song_path)
    line = window.live.loss.empty
    with qtbot.waitSignal(window.controller.run_finished, timeout=10_000):
        assert window.run_view.start() is not None
        assert line.isVisible() and line.text().startswith("One pass"), line.text()
        gate.set()
    qtbot.wait(50)
    assert line.isVisible() and line.text().startswith("One pass"), line.text()
    assert "One pass" in window.live.loss.plot_widget.accessibleDescription()
    open_song(qtbot, window, song_path)
    assert line.text() in EMPTY_TEXTS
    window.controller.shutdown(5000)
